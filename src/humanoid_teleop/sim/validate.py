"""Closed-loop validation: episodes of a controller in the twin under seeded random commands.

Each episode: reset to the ``home`` keyframe with small random joint offsets and a random
heading -> Safety arms and ramps (not counted in the episode time) -> ``seconds`` of active
control under a piecewise-constant command schedule (segments of 3-6 s; 20% stand, else each
axis non-zero with probability 0.7, uniform in the range) -> optional random pushes; the
IMU is exact unless ``imu_errors`` is set (then each episode draws its own biases).

Metrics (over all episodes, samples after a fall excluded):
- a fall: pelvis below 0.45 m or tilt beyond 1 rad; the episode ends there;
- a Safety stop: Safety cut the motors to damping and the robot came to rest without
  falling; ``failure_rate`` (what the fall threshold is checked on) counts both;
- ``vel_rms_mps``: RMS of |commanded - achieved| planar velocity, achieved = base
  displacement over a trailing 1 s window rotated into the heading frame, sampled only once
  the window starts >= 1 s after the last command change (steady state);
- ``yaw_rate_rms_radps``: the same for yaw rate;
- ``max_torque_ratio``: peak |requested motor torque| / limit before the motor's clamp, so a
  value above 1 means a motor saturated;
- ``joint_limit_hits``: control ticks in which some joint was within 0.01 rad of a limit.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import CommandRanges, VelocityCommand
from humanoid_teleop.control.controller import Controller
from humanoid_teleop.control.executor import ChunkExecutor, ExecutorConfig
from humanoid_teleop.control.loop import ControlLoop
from humanoid_teleop.control.safety import Safety
from humanoid_teleop.sim.imu_errors import ImuErrors
from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

LIMIT_MARGIN_RAD = 0.01


@dataclass(frozen=True)
class PushConfig:
    impulse_ns: tuple[float, float] = (15.0, 20.0)  # horizontal, at the pelvis
    duration_s: float = 0.1
    interval_s: tuple[float, float] = (4.0, 6.0)
    first_after_s: float = 2.0

    def __post_init__(self):
        for name in ("impulse_ns", "interval_s"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 < lo <= hi):
                raise ValueError(f"{name}: expected 0 < low <= high, got {getattr(self, name)}")
        if not (self.duration_s > 0.0 and self.first_after_s >= 0.0):
            raise ValueError("duration_s must be > 0 and first_after_s >= 0")


@dataclass(frozen=True)
class ScheduleConfig:
    segment_s: tuple[float, float] = (3.0, 6.0)
    stand_probability: float = 0.2
    axis_probability: float = 0.7

    def __post_init__(self):
        lo, hi = self.segment_s
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 < lo <= hi):
            raise ValueError(f"segment_s: expected 0 < low <= high seconds, got {self.segment_s}")
        for name in ("stand_probability", "axis_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: expected 0..1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Thresholds:
    max_fall_rate: float = 0.02  # episodes that fell or that Safety stopped
    max_pushed_fall_rate: float = 0.05  # the same, with pushes (the walking expert's bars)
    max_vel_rms_mps: float = 0.08
    max_yaw_rate_rms_radps: float = 0.12
    max_torque_ratio: float = 1.0


@dataclass(frozen=True)
class ValidationConfig:
    episodes: int = 10
    seconds: float = 20.0
    seed: int = 0
    command_ranges: CommandRanges = field(default_factory=CommandRanges)
    pushes: bool = False
    push: PushConfig = field(default_factory=PushConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    thresholds: Thresholds = field(default_factory=Thresholds)
    settle_s: float = 1.0
    window_s: float = 1.0
    init_joint_noise_rad: float = 0.02
    max_ramp_s: float = 4.0
    imu_errors: ImuErrors | None = None  # None: an exact IMU
    command_delay_s: float = 0.0  # state read -> command in the motors (sim/robot.py)
    lookahead_s: float = 0.0  # the executor sends each chunk's target for this much later

    def __post_init__(self):
        if self.episodes < 1 or self.seconds <= 0:
            raise ValueError(
                f"need episodes >= 1 and seconds > 0, got {self.episodes}, {self.seconds}"
            )


def command_schedule(
    rng: np.random.Generator, seconds: float, ranges: CommandRanges, cfg: ScheduleConfig
) -> list[tuple[float, VelocityCommand]]:
    """Piecewise-constant commands as (start time s, command), starting at 0 with a stand."""
    segments = [(0.0, VelocityCommand())]
    t = float(rng.uniform(*cfg.segment_s)) / 2  # a short stand first: a clean start
    while t < seconds:
        if rng.random() < cfg.stand_probability:
            cmd = VelocityCommand()
        else:
            axes = [
                float(rng.uniform(*r)) if rng.random() < cfg.axis_probability else 0.0
                for r in (ranges.vx_mps, ranges.vy_mps, ranges.yaw_rate_radps)
            ]
            cmd = VelocityCommand(*axes)
        segments.append((t, cmd))
        t += float(rng.uniform(*cfg.segment_s))
    return segments


def perturbed_reset(
    robot: MujocoRobot,
    rng: np.random.Generator,
    joint_noise_rad: float,
    random_yaw: bool = True,
    imu_seed: int = 0,
) -> None:
    """Home keyframe with random upper-body joint offsets and (optionally) a random heading;
    the IMU's errors, if the twin has them, drawn from ``imu_seed`` (not from ``rng``, so
    the commands and pushes of a seed do not depend on them)."""
    # Offsets on the upper body only: the ramp holds no balance, and leg offsets of a
    # hundredth of a radian can tip the robot before the controller is in charge.
    offsets = rng.normal(0.0, joint_noise_rad, g1.NUM_JOINTS)
    offsets[g1.LEG_JOINTS] = 0.0
    yaw = float(rng.uniform(-math.pi, math.pi))
    robot.reset("home", joint_offsets_rad=offsets, base_yaw_rad=yaw if random_yaw else 0.0,
                imu_seed=imu_seed)  # fmt: skip


def push_times(rng: np.random.Generator, seconds: float, cfg: PushConfig) -> list[float]:
    """When pushes land in an episode of ``seconds`` (none in its last second)."""
    times, t = [], cfg.first_after_s
    while t < seconds - 1.0:
        times.append(t)
        t += float(rng.uniform(*cfg.interval_s))
    return times


def random_push(robot: MujocoRobot, rng: np.random.Generator, cfg: PushConfig) -> None:
    """A horizontal impulse in a random direction at the pelvis."""
    angle = rng.uniform(-math.pi, math.pi)
    force = float(rng.uniform(*cfg.impulse_ns)) / cfg.duration_s
    robot.push(np.array([force * math.cos(angle), force * math.sin(angle), 0.0]), cfg.duration_s)


@dataclass
class EpisodeResult:
    seed: int
    fell: bool
    fall_time_s: float | None
    max_torque_ratio: float
    joint_limit_hits: int
    safety_fault: str
    vel_errors_mps: list[float] = field(repr=False)
    yaw_rate_errors_radps: list[float] = field(repr=False)
    sampled: dict[str, list[float]] = field(default_factory=dict)


def run_episode(
    controller: Controller,
    robot: MujocoRobot,
    config: ValidationConfig,
    episode_seed: int,
    *,
    on_tick: Callable[[MujocoRobot, float], None] | None = None,
) -> EpisodeResult:
    rng = np.random.default_rng(episode_seed)
    schedule = command_schedule(rng, config.seconds, config.command_ranges, config.schedule)
    perturbed_reset(robot, rng, config.init_joint_noise_rad, imu_seed=episode_seed)
    robot.connect()
    safety = Safety()
    executor = ChunkExecutor(ExecutorConfig(control_dt_s=controller.control_dt_s,
                                            lookahead_s=config.lookahead_s))  # fmt: skip
    loop = ControlLoop(robot, controller, safety, executor=executor)
    dt = controller.control_dt_s
    if not loop.ramp_up(config.max_ramp_s):
        raise RuntimeError(f"safety did not reach ACTIVE after the ramp: {safety.last_fault}")

    pushes = push_times(rng, config.seconds, config.push) if config.pushes else []
    n_ticks = int(round(config.seconds / dt))
    window = int(round(config.window_s / dt))
    pos_xy = np.zeros((n_ticks + 1, 2))
    yaw = np.zeros(n_ticks + 1)
    fell, fall_time, limit_hits = False, None, 0
    vel_err, yaw_err = [], []
    sampled = {k: [0.0, 0.0] for k in ("vx_mps", "vy_mps", "yaw_rate_radps")}
    seg = 0
    lo, hi = g1.POSITION_LIMITS_RAD.T
    for k in range(n_ticks + 1):
        t = k * dt
        while seg + 1 < len(schedule) and schedule[seg + 1][0] <= t:
            seg += 1
        change_t, cmd = schedule[seg]
        for name, v in zip(sampled, cmd.as_array()):
            sampled[name] = [min(sampled[name][0], v), max(sampled[name][1], v)]
        if pushes and t >= pushes[0]:
            pushes.pop(0)
            random_push(robot, rng, config.push)
        record = loop.tick(cmd)
        if on_tick is not None:
            on_tick(robot, t)
        s = record.state
        pos_xy[k] = s.base.pos_w_m[:2]
        yaw[k] = s.base.yaw_rad
        if k > 0:
            yaw[k] = yaw[k - 1] + (yaw[k] - yaw[k - 1] + math.pi) % (2 * math.pi) - math.pi
        limit_hits += bool(
            np.any((s.q_rad < lo + LIMIT_MARGIN_RAD) | (s.q_rad > hi - LIMIT_MARGIN_RAD))
        )
        if s.base.fallen:
            fell, fall_time = True, t
            break
        if k >= window and (k - window) * dt >= change_t + config.settle_s:
            span = window * dt
            v_w = (pos_xy[k] - pos_xy[k - window]) / span
            heading = 0.5 * (yaw[k] + yaw[k - window])
            c, s_ = math.cos(heading), math.sin(heading)
            v_b = np.array([c * v_w[0] + s_ * v_w[1], -s_ * v_w[0] + c * v_w[1]])
            vel_err.append(float(np.linalg.norm(v_b - [cmd.vx_mps, cmd.vy_mps])))
            yaw_err.append(float((yaw[k] - yaw[k - window]) / span - cmd.yaw_rate_radps))
    return EpisodeResult(
        seed=episode_seed,
        fell=fell,
        fall_time_s=fall_time,
        max_torque_ratio=robot.motor_stats.max_ratio,
        joint_limit_hits=limit_hits,
        safety_fault=safety.last_fault,
        vel_errors_mps=vel_err,
        yaw_rate_errors_radps=yaw_err,
        sampled=sampled,
    )


def _rms(values: list[float]) -> float:
    return float(np.sqrt(np.mean(np.square(values)))) if values else 0.0


def summarize(
    controller_name: str, config: ValidationConfig, results: list[EpisodeResult], wall_s: float
) -> dict:
    """The JSON report."""
    falls = sum(r.fell for r in results)
    sampled = {
        k: [min(r.sampled[k][0] for r in results), max(r.sampled[k][1] for r in results)]
        for k in ("vx_mps", "vy_mps", "yaw_rate_radps")
    }
    vel_rms = _rms([e for r in results for e in r.vel_errors_mps])
    yaw_rms = _rms([e for r in results for e in r.yaw_rate_errors_radps])
    torque = max(r.max_torque_ratio for r in results)
    # A fall thrashes the motors before it is detected: this one measures the controller.
    torque_upright = max((r.max_torque_ratio for r in results if not r.fell), default=None)
    # Safety stopped the motors (damping) and the robot came to rest without falling: the
    # controller failed that episode as surely as in a fall (a real G1 would sit down).
    safety_stops = sum(1 for r in results if r.safety_fault and not r.fell)
    th = config.thresholds
    max_failure_rate = th.max_pushed_fall_rate if config.pushes else th.max_fall_rate
    fall_rate = falls / len(results)
    failure_rate = (falls + safety_stops) / len(results)
    checks = {
        "failure_rate": failure_rate <= max_failure_rate,
        "vel_rms_mps": vel_rms <= th.max_vel_rms_mps,
        "yaw_rate_rms_radps": yaw_rms <= th.max_yaw_rate_rms_radps,
        "max_torque_ratio": torque <= th.max_torque_ratio,
    }
    return {
        "controller": controller_name,
        "episodes": len(results),
        "seconds_per_episode": config.seconds,
        "seed": config.seed,
        "pushes": asdict(config.push) if config.pushes else None,
        "imu_errors": asdict(config.imu_errors) if config.imu_errors else None,
        "command_delay_s": config.command_delay_s,
        "lookahead_s": config.lookahead_s,
        "command_ranges": sampled,
        "command_ranges_requested": config.command_ranges.as_dict(),
        "falls": falls,
        "fall_rate": fall_rate,
        "safety_stops": safety_stops,
        "failure_rate": failure_rate,
        "vel_rms_mps": vel_rms,
        "yaw_rate_rms_radps": yaw_rms,
        "max_torque_ratio": torque,
        "max_torque_ratio_upright_episodes": torque_upright,
        "joint_limit_hits": sum(r.joint_limit_hits for r in results),
        "thresholds": asdict(th),
        "checks": checks,
        "passed": all(checks.values()),
        "per_episode": [
            {
                "seed": r.seed,
                "fell": r.fell,
                "fall_time_s": r.fall_time_s,
                "max_torque_ratio": r.max_torque_ratio,
                "joint_limit_hits": r.joint_limit_hits,
                "safety_fault": r.safety_fault,
            }
            for r in results
        ],
        "wall_time_s": wall_s,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}",
    }


def validate(
    make_controller: Callable[[], Controller],
    config: ValidationConfig,
    *,
    progress: Callable[[int, EpisodeResult], None] | None = None,
    workers: int = 1,
) -> dict:
    """Run ``config.episodes`` episodes (episode i uses seed ``config.seed * 100003 + i``).

    ``workers`` > 1 runs them in that many processes, each with its own controller from
    ``make_controller`` (which must then pickle: a module-level function or a
    ``functools.partial`` of one). Every episode depends only on its seed, so the report is
    the same for any number of workers; ``progress`` still sees the episodes in order.
    """
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, got {workers}")
    start = time.perf_counter()
    if workers == 1:
        controller = make_controller()
        name = controller.name
        robot = _twin(controller, config)
        episodes = (run_episode(controller, robot, config, _episode_seed(config, i))
                    for i in range(config.episodes))  # fmt: skip
        results = _collect(episodes, progress)
    else:
        # spawn, not fork: the parent may already run torch's or OpenMP's thread pools.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                                 initargs=(make_controller,)) as pool:  # fmt: skip
            name = pool.submit(_worker_controller_name).result()
            seeds = [_episode_seed(config, i) for i in range(config.episodes)]
            results = _collect(pool.map(_worker_episode, [config] * len(seeds), seeds), progress)
    return summarize(name, config, results, time.perf_counter() - start)


def _twin(controller: Controller, config: ValidationConfig) -> MujocoRobot:
    return MujocoRobot(MujocoRobotConfig(control_dt_s=controller.control_dt_s,
                                         imu_errors=config.imu_errors,
                                         command_delay_s=config.command_delay_s))  # fmt: skip


def _episode_seed(config: ValidationConfig, index: int) -> int:
    return config.seed * 100003 + index


def _collect(episodes, progress) -> list[EpisodeResult]:
    results = []
    for i, result in enumerate(episodes):
        results.append(result)
        if progress is not None:
            progress(i, result)
    return results


# One controller per worker process, built by the pool's initializer, and one twin, built
# at its first episode (the twin's IMU errors come with the episode's config).
_worker: dict = {}


def _worker_init(make_controller: Callable[[], Controller]) -> None:
    # Thread pools are left as a serial run sizes them: a policy's arithmetic, and with it
    # the episode, could otherwise differ in the last bits from the serial report.
    _worker["controller"] = make_controller()


def _worker_controller_name() -> str:
    return _worker["controller"].name


def _worker_episode(config: ValidationConfig, seed: int) -> EpisodeResult:
    twin_settings = (config.imu_errors, config.command_delay_s)
    if "robot" not in _worker or _worker["robot_for"] != twin_settings:
        _worker["robot"] = _twin(_worker["controller"], config)
        _worker["robot_for"] = twin_settings
    return run_episode(_worker["controller"], _worker["robot"], config, seed)
