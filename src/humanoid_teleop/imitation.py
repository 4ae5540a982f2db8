"""Video-upload imitation: a clip in, a validated humanoid motion out.

    decode -> intent timeline (embedded estimator for the view) -> rollout of the controller
    in the twin driven by that timeline (lockstep, faster than real time) -> validation
    verdict -> preview render (follow camera) -> artifacts

The same pipeline runs in the server's job workers (a child process per job) and in
``humanoid-teleop imitate``. Artifacts are written into a temporary folder inside the
output folder and renamed into place one by one, so a reader never sees half a file:

- ``intents.json``: the schema of ``humanoid-teleop intent --json``:
  {"video", "view", "estimator", "fps", "intents": [{"t_s", "skill", "vx_mps", "vy_mps",
  "yaw_rate_radps", "confidence"}]}
- ``trajectory.npz``: ``t_s`` (N,), ``base_pos_w_m`` (N, 3), ``base_quat_wxyz`` (N, 4),
  ``q_rad`` (N, 29), ``command`` (N, 3) = (vx m/s, vy m/s, yaw rate rad/s), ``joint_names``;
  t = 0 is the clip's first frame (the Safety ramp before it is not recorded);
- ``trajectory.csv``: the same table, one row per control tick, joints named in the header;
- ``report.json``: the verdict (see ``verdict``), with commanded and achieved velocity
  series for plots;
- ``preview.mp4``: the rollout seen by the follow camera, time-aligned with the clip.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import CommandRanges, VelocityCommand

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]
# Overall progress fraction at which each stage starts (rendering dominates the wall time).
STAGE_START = {"intents": 0.0, "rollout": 0.25, "validate": 0.45, "render": 0.5, "write": 0.95}


@dataclass(frozen=True)
class VerdictThresholds:
    """What a rollout must meet to pass (the validation report's per-run bars)."""

    max_vel_rms_mps: float = 0.08
    max_yaw_rate_rms_radps: float = 0.12
    max_torque_ratio: float = 1.0


@dataclass(frozen=True)
class ImitationConfig:
    view: str = "egocentric"
    controller: str = "expert"  # a controllers.make_controller spec
    preview_width: int = 320
    preview_height: int = 240
    preview_fps: float = 15.0
    max_video_s: float = 300.0
    window_s: float = 1.0  # achieved velocity: base motion over a trailing window
    settle_s: float = 1.0  # tracking error is sampled this long after a command change
    plot_hz: float = 10.0
    max_ramp_s: float = 4.0
    thresholds: VerdictThresholds = field(default_factory=VerdictThresholds)

    def __post_init__(self):
        if self.view not in ("egocentric", "third_person"):
            raise ValueError(f"view: expected egocentric or third_person, got {self.view!r}")
        if self.preview_width % 2 or self.preview_height % 2:
            raise ValueError("preview size must be even (yuv420p)")


class ImitationError(ValueError):
    """The clip cannot be imitated (too long, the controller never became active, ...)."""


def controller_with_fallback(spec: str):
    """(controller, label, spec actually used). While no policy is shipped, ``policy`` means
    the walking expert, and the label says so (``expert (no shipped policy)``)."""
    from humanoid_teleop.controllers import make_controller
    from humanoid_teleop.policy.errors import PolicyNotShippedError

    try:
        return make_controller(spec), spec, spec
    except PolicyNotShippedError as exc:
        log.warning("%s; falling back to the walking expert", exc)
        return make_controller("expert"), "expert (no shipped policy)", "expert"


# -- stage 1: intents ------------------------------------------------------------------------


def intent_row(intent) -> dict:
    """One entry of an intent timeline (``humanoid-teleop intent --json``'s schema)."""
    c = intent.command
    return {"t_s": round(intent.frame_timestamp_s, 4), "skill": intent.skill,
            "vx_mps": round(c.vx_mps, 4), "vy_mps": round(c.vy_mps, 4),
            "yaw_rate_radps": round(c.yaw_rate_radps, 4),
            "confidence": round(intent.confidence, 3)}  # fmt: skip


def intent_timeline(video: Path, view: str, progress: Progress | None = None) -> dict:
    """Decode the clip and run the embedded estimator on every frame."""
    from humanoid_teleop.server.live import make_estimator
    from humanoid_teleop.vlm.estimator import decode_video, video_fps

    fps = video_fps(video)
    estimator = make_estimator(view)
    intents, last_t = [], 0.0
    for n, frame in enumerate(decode_video(video, view), start=1):
        last_t = frame.timestamp_s
        out = estimator.update(frame)
        if out is not None:
            intents.append(intent_row(out))
        if progress is not None and n % 15 == 0:
            progress("intents", min(0.99, n / 600))  # the frame count is unknown up front
    return {"video": video.name, "view": view, "estimator": estimator.name, "fps": fps,
            "intents": intents, "duration_s": last_t + 1.0 / max(fps, 1.0)}  # fmt: skip


def command_at(intents: list[dict], t_s: float, index: int) -> tuple[VelocityCommand, int]:
    """The newest intent at or before ``t_s`` (``index`` walks forward; stand -> zero)."""
    while index + 1 < len(intents) and intents[index + 1]["t_s"] <= t_s:
        index += 1
    if index < 0 or intents[index]["t_s"] > t_s or intents[index]["skill"] != "walk":
        return VelocityCommand(), index
    i = intents[index]
    return VelocityCommand(i["vx_mps"], i["vy_mps"], i["yaw_rate_radps"]), index


# -- stage 2: rollout ------------------------------------------------------------------------


@dataclass
class Rollout:
    controller: str
    dt_s: float
    t_s: np.ndarray  # (N,)
    qpos: np.ndarray  # (N, 7 + 29): free joint then hinges, for rendering
    command: np.ndarray  # (N, 3)
    fell: bool
    fall_time_s: float | None
    max_torque_ratio: float
    safety_fault: str
    model: object = field(repr=False, default=None)  # the MjModel (for rendering)


def rollout(
    controller, intents: list[dict], duration_s: float, config: ImitationConfig,
    progress: Progress | None = None,
) -> Rollout:  # fmt: skip
    from humanoid_teleop.control.loop import ControlLoop
    from humanoid_teleop.control.safety import Safety
    from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

    robot = MujocoRobot(MujocoRobotConfig(control_dt_s=controller.control_dt_s))
    robot.reset("home")
    robot.connect()
    safety = Safety()
    loop = ControlLoop(robot, controller, safety)
    ranges: CommandRanges = getattr(controller, "command_ranges", CommandRanges())
    dt = controller.control_dt_s
    if not loop.ramp_up(config.max_ramp_s):  # the ramp is not part of the timeline
        raise ImitationError(f"the robot did not become active after the ramp: {safety.last_fault}")
    n = math.ceil(duration_s / dt) + 1
    ts, qpos, cmds = [], [], []
    fell, fall_t, index = False, None, -1
    for k in range(n):
        t = k * dt
        cmd, index = command_at(intents, t, index)
        cmd = ranges.clamp(cmd)
        record = loop.tick(cmd)
        ts.append(t)
        qpos.append(robot.data.qpos.copy())
        cmds.append(cmd.as_array())
        if record.state is not None and record.state.base.fallen:
            fell, fall_t = True, t
            break
        if progress is not None and k % 50 == 0:
            progress("rollout", k / n)
    robot.disconnect()
    return Rollout(
        controller=controller.name, dt_s=dt, t_s=np.array(ts), qpos=np.array(qpos),
        command=np.array(cmds), fell=fell, fall_time_s=fall_t,
        max_torque_ratio=robot.motor_stats.max_ratio, safety_fault=safety.last_fault,
        model=robot.model,
    )  # fmt: skip


# -- stage 3: verdict --------------------------------------------------------------------------


def _yaw(quat_wxyz: np.ndarray) -> np.ndarray:
    w, x, y, z = quat_wxyz.T
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def achieved_velocity(r: Rollout, window_s: float) -> np.ndarray:
    """(N, 3) vx, vy (heading frame) and yaw rate over a trailing window (shorter at start)."""
    xy = r.qpos[:, 0:2]
    yaw = np.unwrap(_yaw(r.qpos[:, 3:7]))
    w = max(1, round(window_s / r.dt_s))
    out = np.zeros((len(r.t_s), 3))
    for k in range(1, len(r.t_s)):
        j = max(0, k - w)
        span = (k - j) * r.dt_s
        v = (xy[k] - xy[j]) / span
        heading = 0.5 * (yaw[k] + yaw[j])
        c, s = math.cos(heading), math.sin(heading)
        out[k] = (c * v[0] + s * v[1], -s * v[0] + c * v[1], (yaw[k] - yaw[j]) / span)
    return out


def verdict(r: Rollout, config: ImitationConfig) -> dict:
    """Fell? Steady-state tracking (RMS over samples whose window started >= settle_s after
    the last command change), peak torque ratio, and the series the result page plots."""
    achieved = achieved_velocity(r, config.window_s)
    w = max(1, round(config.window_s / r.dt_s))
    settle = round(config.settle_s / r.dt_s)
    changed = np.r_[True, np.any(np.diff(r.command, axis=0) != 0, axis=1)]
    last_change = np.maximum.accumulate(np.where(changed, np.arange(len(changed)), 0))
    steady = (np.arange(len(r.t_s)) >= w) & (np.arange(len(r.t_s)) - w >= last_change + settle)
    err = achieved - r.command
    vel_rms = float(np.sqrt(np.mean(np.sum(err[steady, :2] ** 2, axis=1)))) if steady.any() else 0.0
    yaw_rms = float(np.sqrt(np.mean(err[steady, 2] ** 2))) if steady.any() else 0.0
    th = config.thresholds
    checks = {
        "upright": not r.fell,
        "vel_rms_mps": vel_rms <= th.max_vel_rms_mps,
        "yaw_rate_rms_radps": yaw_rms <= th.max_yaw_rate_rms_radps,
        "max_torque_ratio": r.max_torque_ratio <= th.max_torque_ratio,
    }
    step = max(1, round(1.0 / (config.plot_hz * r.dt_s)))
    pick = slice(None, None, step)
    series = {"t_s": np.round(r.t_s[pick], 3).tolist()}
    for i, axis in enumerate(("vx_mps", "vy_mps", "yaw_rate_radps")):
        series[f"commanded_{axis}"] = np.round(r.command[pick, i], 4).tolist()
        series[f"achieved_{axis}"] = np.round(achieved[pick, i], 4).tolist()
    return {
        "controller": r.controller,
        "fell": r.fell,
        "fall_time_s": r.fall_time_s,
        "seconds": float(r.t_s[-1]) if len(r.t_s) else 0.0,
        "vel_rms_mps": vel_rms,
        "yaw_rate_rms_radps": yaw_rms,
        "max_torque_ratio": r.max_torque_ratio,
        "steady_samples": int(steady.sum()),
        "safety_fault": r.safety_fault,
        "thresholds": asdict(th),
        "checks": checks,
        "passed": all(checks.values()),
        "series": series,
    }


# -- stage 4: preview ------------------------------------------------------------------------


def render_preview(r: Rollout, path: Path, config: ImitationConfig,
                   progress: Progress | None = None) -> int:  # fmt: skip
    """Replay the recorded poses through the follow camera at ``preview_fps``."""
    import mujoco

    from humanoid_teleop.sim.render import Mp4Writer, RenderConfig, SimRenderer

    data = mujoco.MjData(r.model)
    cfg = RenderConfig(width=config.preview_width, height=config.preview_height,
                       camera="follow", fps=config.preview_fps)  # fmt: skip
    n_frames = max(1, int(len(r.t_s) * r.dt_s * config.preview_fps))
    with (
        SimRenderer(r.model, cfg) as renderer,
        Mp4Writer(path, cfg.width, cfg.height, cfg.fps) as mp4,
    ):
        for f in range(n_frames):
            k = min(len(r.t_s) - 1, round(f / config.preview_fps / r.dt_s))
            data.qpos[:] = r.qpos[k]
            data.time = r.t_s[k]
            mujoco.mj_forward(r.model, data)
            mp4.write(renderer.render(data))
            if progress is not None and f % 10 == 0:
                progress("render", f / n_frames)
    return n_frames


# -- artifacts ---------------------------------------------------------------------------------


def write_trajectory(r: Rollout, npz_path: Path, csv_path: Path) -> None:
    base_pos, base_quat, q = r.qpos[:, 0:3], r.qpos[:, 3:7], r.qpos[:, 7:]
    np.savez(npz_path, t_s=r.t_s, base_pos_w_m=base_pos, base_quat_wxyz=base_quat, q_rad=q,
             command=r.command, joint_names=np.array(g1.JOINT_NAMES))  # fmt: skip
    header = [
        "t_s", "base_x_m", "base_y_m", "base_z_m", "base_qw", "base_qx", "base_qy", "base_qz",
        *g1.JOINT_NAMES, "cmd_vx_mps", "cmd_vy_mps", "cmd_yaw_rate_radps",
    ]  # fmt: skip
    table = np.column_stack([r.t_s, base_pos, base_quat, q, r.command])
    np.savetxt(csv_path, table, delimiter=",", header=",".join(header), comments="", fmt="%.6g")


def run_imitation(
    video: Path, out_dir: Path, config: ImitationConfig, progress: Progress | None = None
) -> dict:
    """The whole job; returns the report (also written to ``out_dir/report.json``)."""
    from humanoid_teleop.controllers import make_controller

    video, out_dir = Path(video), Path(out_dir)
    started = time.perf_counter()

    def report_progress(stage: str, fraction: float) -> None:
        if progress is None:
            return
        stages = list(STAGE_START)
        lo = STAGE_START[stage]
        hi = STAGE_START[stages[stages.index(stage) + 1]] if stage != "write" else 1.0
        progress(stage, lo + (hi - lo) * min(max(fraction, 0.0), 1.0))

    report_progress("intents", 0.0)
    timeline = intent_timeline(video, config.view, report_progress)
    duration = timeline.pop("duration_s")
    if duration > config.max_video_s:
        raise ImitationError(f"{video.name}: {duration:.0f} s is longer than the "
                             f"{config.max_video_s:.0f} s limit")  # fmt: skip
    report_progress("rollout", 0.0)
    controller = make_controller(config.controller)
    r = rollout(controller, timeline["intents"], duration, config, report_progress)
    report_progress("validate", 0.0)
    report = verdict(r, config)
    report.update(video=video.name, view=config.view, video_seconds=duration,
                  intents=len(timeline["intents"]))  # fmt: skip

    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=out_dir))
    try:
        report_progress("render", 0.0)
        report["preview_frames"] = render_preview(r, work / "preview.mp4", config, report_progress)
        report_progress("write", 0.0)
        (work / "intents.json").write_text(json.dumps(timeline, indent=1))
        write_trajectory(r, work / "trajectory.npz", work / "trajectory.csv")
        report["wall_s"] = round(time.perf_counter() - started, 2)
        (work / "report.json").write_text(json.dumps(report, indent=1))
        # report.json last: its presence means every other artifact is complete.
        for name in ("intents.json", "trajectory.npz", "trajectory.csv", "preview.mp4",
                     "report.json"):  # fmt: skip
            (work / name).replace(out_dir / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report_progress("write", 1.0)
    return report


ARTIFACTS: tuple[str, ...] = (
    "intents.json", "trajectory.npz", "trajectory.csv", "preview.mp4", "report.json",
)  # fmt: skip
