"""Expert demonstrations in the twin, written as a dataset (format: see sim/dataset.py).

Each episode (seed ``episode_seed(config.seed, i)``, the same as validation's) follows
``sim.validate.run_episode``: reset to ``home`` with small upper-body joint offsets and a
random heading -> Safety arms and ramps to the default pose (not recorded) -> ``seconds``
of active control under a piecewise-constant command schedule, with random pushes in a
``push_probability`` share of the episodes.

Per active tick (the ControlLoop's order, with exploration noise between the expert and
Safety, so the label and what was executed are both known)::

    state = robot.read_state()                              # stop here if it fell
    obs   = ObservationBuilder.build(state, command, last executed q, previous gait phase)
    label = executor(controller.act(state, command))        # clean expert target: the label
    sent  = Safety.step(now, state, label + noise on q)     # every command passes Safety
    robot.send(sent)                                        # sent.q_rad = executed_q_rad

The noise (Gaussian, optionally low-passed) makes the robot visit states just off the
expert's path while the label stays the expert's answer there, which teaches recovery.

DAgger: with a ``driver`` (a trained policy), what is executed is
``label + driver_weight * (driver target - label)`` (plus the noise), so the robot visits
the states the policy leads it to while the label stays the expert's answer there. The
driver's own gains must equal the expert's (a checkpoint stores the gains it was trained on).

An episode that falls (pelvis below 0.45 m, tilt over 1 rad) or faults Safety is kept up to
the tick before and flagged ``fell``. ``collect`` resumes: episodes already listed in the
directory's meta.json are skipped, and the same seed gives the same bytes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import (
    FALL_HEIGHT_M,
    FALL_TILT_RAD,
    WALK_COMMAND_RANGES,
    CommandRanges,
    JointTargets,
    Mode,
    RobotState,
    VelocityCommand,
)
from humanoid_teleop.control.controller import Controller
from humanoid_teleop.control.executor import ChunkExecutor, ExecutorConfig
from humanoid_teleop.control.safety import Safety
from humanoid_teleop.odometry import BaseVelocityEstimator
from humanoid_teleop.policy.observation import ObservationBuilder, ObservationSpec
from humanoid_teleop.sim.dataset import (
    DatasetError,
    DatasetHeader,
    DatasetReader,
    DatasetWriter,
    jsonable,
)
from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig
from humanoid_teleop.sim.validate import (
    PushConfig,
    ScheduleConfig,
    command_schedule,
    perturbed_reset,
    push_times,
    random_push,
)


class CollectError(RuntimeError):
    """An episode could not be collected (e.g. Safety never reached ACTIVE)."""


def episode_seed(seed: int, index: int) -> int:
    """Episode ``index``'s seed; the same mapping as ``sim.validate.validate``."""
    return seed * 100003 + index


@dataclass(frozen=True)
class CollectConfig:
    episodes: int = 10
    seconds: float = 20.0  # active control per episode (the ramp before it is not recorded)
    seed: int = 0
    command_ranges: CommandRanges | None = None  # None: the controller's, else the default
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    action_noise_std_rad: float = 0.02  # on the executed q target, every joint
    action_noise_tau_s: float = 0.0  # correlation time; 0: independent per tick
    push_probability: float = 0.3  # share of episodes with random pushes
    push: PushConfig = field(default_factory=PushConfig)
    init_joint_noise_rad: float = 0.02  # std of start offsets, upper body only
    random_yaw: bool = True  # random start heading in [-pi, pi)
    max_ramp_s: float = 4.0
    observation_spec: ObservationSpec = field(default_factory=ObservationSpec)
    driver: str = ""  # DAgger: controller spec of the policy that drives (e.g. "policy:DIR")
    driver_weight: float = 1.0  # share of the driver's target in what is executed

    def __post_init__(self):
        if not 0.0 <= self.driver_weight <= 1.0:
            raise ValueError(f"driver_weight: expected 0..1, got {self.driver_weight}")
        if not isinstance(self.episodes, int) or self.episodes < 1:
            raise ValueError(f"episodes: expected an int >= 1, got {self.episodes!r}")
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"seconds: expected > 0, got {self.seconds}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed: expected an int >= 0, got {self.seed!r}")
        if self.command_ranges is not None and not isinstance(self.command_ranges, CommandRanges):
            raise ValueError(
                f"command_ranges: expected CommandRanges or None, got {self.command_ranges!r}"
            )
        for name in ("action_noise_std_rad", "action_noise_tau_s", "init_joint_noise_rad"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: expected a finite value >= 0, got {v}")
        if not 0.0 <= self.push_probability <= 1.0:
            raise ValueError(f"push_probability: expected 0..1, got {self.push_probability}")
        if not (math.isfinite(self.max_ramp_s) and self.max_ramp_s > 0):
            raise ValueError(f"max_ramp_s: expected > 0, got {self.max_ramp_s}")

    def resolved_ranges(self, controller: object) -> CommandRanges:
        """The config's ranges, else the controller's ``command_ranges``, else the default."""
        if self.command_ranges is not None:
            return self.command_ranges
        ranges = getattr(controller, "command_ranges", None)
        return ranges if isinstance(ranges, CommandRanges) else WALK_COMMAND_RANGES

    def settings(self, ranges: CommandRanges) -> dict:
        """What meta.json stores as ``collect``: everything but the episode count."""
        out = jsonable(self)
        del out["episodes"], out["observation_spec"]  # the spec has its own meta entry
        out["command_ranges"] = ranges.as_dict()
        return out


@dataclass(frozen=True)
class CollectSummary:
    out_dir: str
    episodes: int  # in the dataset now
    written: int  # by this call
    skipped: int  # already there (resume)
    falls: int  # among the episodes written by this call
    ticks: int  # written by this call
    wall_s: float
    control_dt_s: float = g1.CONTROL_DT_S

    @property
    def sim_s_per_wall_s(self) -> float:
        """Recorded (active) simulation seconds per wall second, this call."""
        return self.ticks * self.control_dt_s / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict:
        return {**jsonable(self), "sim_s_per_wall_s": self.sim_s_per_wall_s}


def _default_controller() -> Controller:
    from humanoid_teleop.sim.expert import WalkingExpert

    return WalkingExpert()


def expert_like(dataset_dir: str | Path) -> Callable[[], Controller]:
    """A factory of the expert configured exactly as the one that labelled ``dataset_dir``
    (its header's ``expert.config``). A DAgger round must be labelled like the data it joins:
    a round labelled by the expert after a posture change, added to data labelled before
    it, gave a policy that fell in 99 of 100 episodes (docs/figures.md). Raises
    ``DatasetError`` if the dataset does not record every setting of today's expert."""
    from humanoid_teleop.sim.expert import ExpertConfig, WalkingExpert

    recorded = DatasetReader(dataset_dir).header.expert or {}
    if recorded.get("name") != "expert" or not isinstance(recorded.get("config"), dict):
        raise DatasetError(
            f"{dataset_dir}: not labelled by the walking expert ({recorded.get('name')!r})"
        )
    try:
        config = ExpertConfig.from_dict(recorded["config"])
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{dataset_dir}: cannot rebuild its expert: {e}") from e
    return lambda: WalkingExpert(config)


def _describe(controller: Controller) -> dict:
    cls = type(controller)
    cfg = getattr(controller, "config", None)
    return {
        "name": controller.name,
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "config": jsonable(cfg) if cfg is not None else None,
    }


def _fall_reason(state: RobotState) -> str:
    z = float(state.base.pos_w_m[2])
    tilt = state.base.tilt_rad
    if z < FALL_HEIGHT_M:
        return f"fell: pelvis at {z:.2f} m < {FALL_HEIGHT_M} m"
    if tilt > FALL_TILT_RAD:
        return f"fell: tilt {tilt:.2f} rad > {FALL_TILT_RAD} rad"
    return ""


def run_collect_episode(
    controller: Controller,
    robot: MujocoRobot,
    config: CollectConfig,
    ranges: CommandRanges,
    seed: int,
    driver: Controller | None = None,
) -> tuple[dict[str, np.ndarray], bool, str]:
    """One episode -> (per-tick arrays in the dataset schema, fell, end_reason).

    ``controller`` should be fresh (or fully reset by ``reset``): episodes must not depend
    on what ran before them, or resuming would change the data.
    """
    rng = np.random.default_rng(seed)
    noise_rng = np.random.default_rng([seed, 1])  # its own stream: noise settings leave
    dt = controller.control_dt_s  # the schedule, start state and pushes unchanged
    schedule = command_schedule(rng, config.seconds, ranges, config.schedule)
    perturbed_reset(robot, rng, config.init_joint_noise_rad, config.random_yaw)
    robot.connect()
    pushes = (
        push_times(rng, config.seconds, config.push)
        if rng.random() < config.push_probability
        else []
    )

    # Arm and ramp to the default pose (Safety ignores targets while ramping).
    safety = Safety()
    safety.arm(robot.now_s())
    sent = None
    for _ in range(round(config.max_ramp_s / dt)):
        sent = robot.send(safety.step(robot.now_s(), robot.read_state(), None))
        if safety.mode is not Mode.RAMP:
            break
    if safety.mode is not Mode.ACTIVE or sent is None:
        raise CollectError(
            f"episode seed {seed}: Safety did not reach ACTIVE: {safety.last_fault!r}"
        )
    last_q = np.array(sent.q_rad)  # the ramp's last target: the default pose

    builder = ObservationBuilder(config.observation_spec)
    velocity = BaseVelocityEstimator()  # the same filter a policy runs (observation.py)
    executor = ChunkExecutor(ExecutorConfig(control_dt_s=dt))
    driver_executor = ChunkExecutor(ExecutorConfig(control_dt_s=dt))
    n_ticks = round(config.seconds / dt)
    noise = np.zeros(g1.NUM_JOINTS)
    alpha = math.exp(-dt / config.action_noise_tau_s) if config.action_noise_tau_s > 0 else 0.0
    rec: dict[str, list] = {k: [] for k in (
        "command", "action/q_rad", "action/dq_radps", "action/tau_ff_nm", "executed_q_rad",
        "gait_phase", "time_s", "base_pos_w_m", "base_quat_wxyz",
    )}  # fmt: skip
    obs: dict[str, list] = {name: [] for name in builder.spec.names}
    gains: tuple[np.ndarray, np.ndarray] | None = None
    fell, reason, seg = False, "", 0
    t0_s = robot.now_s()
    for k in range(n_ticks):
        t = k * dt
        state = robot.read_state()
        now_s = robot.now_s()
        reason = _fall_reason(state)
        if reason:
            fell = True
            break
        while seg + 1 < len(schedule) and schedule[seg + 1][0] <= t + 1e-9:
            seg += 1
        command: VelocityCommand = schedule[seg][1]
        if pushes and t >= pushes[0]:
            pushes.pop(0)
            random_push(robot, rng, config.push)

        if k == 0:
            controller.reset(state)
            if driver is not None:
                driver.reset(state)
        # The phase a policy could know now: the one that came with the previous label.
        terms = builder.build(state, command, last_q, float(getattr(controller, "gait_phase", 0.0)),
                              velocity.update(state.q_rad, state.dq_radps, state.imu.gyro_b_radps,
                                              state.imu.projected_gravity_b))  # fmt: skip
        executor.submit(controller.act(state, command), now_s)
        label = executor.targets_at(now_s)
        if label is None:
            raise CollectError(
                f"episode seed {seed}: the controller gave no targets at t={t:.2f} s"
            )
        if gains is None:
            gains = (np.array(label.kp), np.array(label.kd))
        elif not (np.array_equal(gains[0], label.kp) and np.array_equal(gains[1], label.kd)):
            raise CollectError("the controller changed its gains within an episode; "
                               "the dataset format stores one kp, kd per episode")  # fmt: skip

        if config.action_noise_std_rad > 0:
            white = noise_rng.normal(0.0, config.action_noise_std_rad, g1.NUM_JOINTS)
            noise = alpha * noise + math.sqrt(1.0 - alpha * alpha) * white
        executed = label
        if driver is not None:
            executed = _mix(label, _driver_targets(driver, driver_executor, state, command, now_s),
                            config.driver_weight)  # fmt: skip
        noisy = JointTargets(now_s, g1.JOINT_NAMES, executed.q_rad + noise, executed.dq_radps,
                             executed.tau_ff_nm, executed.kp, executed.kd)  # fmt: skip
        out = safety.step(now_s, state, noisy)
        if safety.mode is not Mode.ACTIVE:
            fell, reason = True, f"safety: {safety.last_fault}"
            robot.send(out)  # damping, as Safety decided
            break
        robot.send(out)

        for name, value in terms.items():
            obs[name].append(value)
        rec["command"].append(command.as_array())
        rec["action/q_rad"].append(label.q_rad)
        rec["action/dq_radps"].append(label.dq_radps)
        rec["action/tau_ff_nm"].append(label.tau_ff_nm)
        rec["executed_q_rad"].append(out.q_rad)
        rec["gait_phase"].append(float(getattr(controller, "gait_phase", 0.0)))
        rec["time_s"].append(now_s - t0_s)
        rec["base_pos_w_m"].append(state.base.pos_w_m)
        rec["base_quat_wxyz"].append(state.base.quat_wxyz)
        last_q = np.array(out.q_rad)

    if not rec["time_s"]:
        raise CollectError(f"episode seed {seed}: ended before its first tick ({reason})")
    arrays = {name: np.asarray(values) for name, values in rec.items()}
    arrays.update({f"obs/{name}": np.asarray(values) for name, values in obs.items()})
    arrays["kp"], arrays["kd"] = gains
    return arrays, fell, reason


def _driver_targets(driver: Controller, executor: ChunkExecutor, state: RobotState,
                    command: VelocityCommand, now_s: float) -> JointTargets:  # fmt: skip
    executor.submit(driver.act(state, command), now_s)
    targets = executor.targets_at(now_s)
    if targets is None:
        raise CollectError(f"the driver {driver.name!r} gave no targets at {now_s:.2f} s")
    return targets


def _mix(label: JointTargets, driven: JointTargets, weight: float) -> JointTargets:
    """``label + weight * (driven - label)``; the gains must agree (one kp, kd per dataset)."""
    if not (np.allclose(label.kp, driven.kp) and np.allclose(label.kd, driven.kd)):
        raise CollectError("the driver's gains differ from the expert's; train the driver on "
                           "this expert's data")  # fmt: skip

    def blend(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(a) + weight * (np.asarray(b) - np.asarray(a))

    return JointTargets(label.timestamp_s, label.joint_names, blend(label.q_rad, driven.q_rad),
                        blend(label.dq_radps, driven.dq_radps),
                        blend(label.tau_ff_nm, driven.tau_ff_nm), label.kp, label.kd)  # fmt: skip


def collect(
    config: CollectConfig,
    out_dir: str | Path,
    progress: bool = True,
    *,
    make_controller: Callable[[], Controller] | None = None,
) -> CollectSummary:
    """Collect ``config.episodes`` episodes into ``out_dir`` (created, or resumed).

    ``make_controller`` (default: ``WalkingExpert``) is called once per episode, so every
    episode starts from a fresh controller. Raises ``DatasetError`` when ``out_dir`` holds a
    dataset written with other settings, ``CollectError`` when an episode cannot run.
    """
    make = make_controller or _default_controller
    controller = make()
    ranges = config.resolved_ranges(controller)
    header = DatasetHeader(
        observation_spec=config.observation_spec,
        control_dt_s=controller.control_dt_s,
        seed=config.seed,
        expert=_describe(controller),
        collect=config.settings(ranges),
    )
    writer = DatasetWriter(out_dir, header)
    driver = None
    if config.driver:
        from humanoid_teleop.controllers import make_controller as make_spec

        driver = make_spec(config.driver)
    robot = MujocoRobot(MujocoRobotConfig(control_dt_s=controller.control_dt_s))
    start_index = min(writer.next_index, config.episodes)
    todo = range(start_index, config.episodes)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.episodes, initial=start_index, unit="ep", desc="collect",
                   dynamic_ncols=True)  # fmt: skip
    start = time.perf_counter()
    falls = ticks = 0
    try:
        for i in todo:
            if i != start_index:  # the first episode reuses the controller made above
                controller = make()
            seed = episode_seed(config.seed, i)
            arrays, fell, reason = run_collect_episode(controller, robot, config, ranges, seed,
                                                       driver)  # fmt: skip
            info = writer.write_episode(i, arrays, seed=seed, fell=fell, end_reason=reason)
            falls += fell
            ticks += info.length
            if bar is not None:
                bar.update(1)
                bar.set_postfix(falls=falls, ticks=ticks)
    finally:
        if bar is not None:
            bar.close()
        robot.disconnect()
    return CollectSummary(
        out_dir=str(out_dir),
        episodes=writer.next_index,
        written=len(todo),
        skipped=start_index,
        falls=falls,
        ticks=ticks,
        wall_s=time.perf_counter() - start,
        control_dt_s=controller.control_dt_s,
    )
