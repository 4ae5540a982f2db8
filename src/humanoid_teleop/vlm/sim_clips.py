"""Short clips of the simulated G1 walking under known commands: ground truth for the estimators.

One run of the twin (walking expert, lockstep physics) is filmed by the ``head`` camera
(an egocentric clip) and the ``fixed`` camera (a third-person clip) at the same instants,
and every frame carries the robot's true motion:

- ``vx_mps``, ``vy_mps``: base velocity in the heading frame (x forward, y left);
- ``yaw_rate_radps``: world z angular velocity (counter-clockwise positive);
- ``walking``: whether the commanded velocity of that segment is non-zero (the label the
  estimators' walk / stand decision is scored against).

Instantaneous velocities swing with the gait; ``smoothed`` gives their centred moving average.
Rendering capsules runs at ~20-40 fps on a software rasterizer, so keep clips to a few
seconds at 320x240 and ~15 fps. mujoco is imported lazily (call
``sim.render.ensure_gl_backend()`` first, as the CLI and the tests' conftest do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from humanoid_teleop.contracts import Frame, VelocityCommand


@dataclass(frozen=True)
class SimClipSpec:
    """What to film: command segments ``(seconds, command)`` played in order after the ramp."""

    segments: tuple[tuple[float, VelocityCommand], ...]
    fps: float = 15.0
    width: int = 320
    height: int = 240
    cameras: tuple[str, ...] = ("head", "fixed")
    settle_s: float = 0.5  # standing time after the safety ramp, before filming starts

    def __post_init__(self):
        if not self.segments:
            raise ValueError("segments: expected at least one (seconds, command) pair")
        for seconds, command in self.segments:
            if not (0 < seconds <= 30) or not isinstance(command, VelocityCommand):
                raise ValueError(f"segments: expected (0 < s <= 30, VelocityCommand), got {seconds}")
        if not 1 <= self.fps <= 60:
            raise ValueError(f"fps: expected 1..60, got {self.fps}")
        if not set(self.cameras) <= {"head", "fixed", "follow"} or not self.cameras:
            raise ValueError(f"cameras: expected some of head, fixed, follow, got {self.cameras}")

    @property
    def seconds(self) -> float:
        return sum(s for s, _ in self.segments)


@dataclass
class SimClip:
    """Frames per camera plus per-frame ground truth (arrays of shape (N,))."""

    spec: SimClipSpec
    frames: dict[str, list[np.ndarray]]  # camera -> N frames (H, W, 3) uint8
    t_s: np.ndarray
    vx_mps: np.ndarray
    vy_mps: np.ndarray
    yaw_rate_radps: np.ndarray
    walking: np.ndarray  # bool
    fell: bool = False
    extra: dict = field(default_factory=dict)

    def stream(self, camera: str) -> list[Frame]:
        """The clip of one camera as Frames (egocentric for ``head``, third person otherwise)."""
        view = "egocentric" if camera == "head" else "third_person"
        return [
            Frame(float(t), img, view, index=i, source=f"sim:{camera}")
            for i, (t, img) in enumerate(zip(self.t_s, self.frames[camera]))
        ]

    def smoothed(self, name: str, window_s: float = 1.0) -> np.ndarray:
        """Centred moving average of a ground-truth series (gait oscillation removed)."""
        x = np.asarray(getattr(self, name), dtype=float)
        k = max(1, int(round(window_s * self.spec.fps)) | 1)
        pad = np.pad(x, k // 2, mode="edge")
        return np.convolve(pad, np.ones(k) / k, mode="valid")

    def write_mp4(self, camera: str, path: Path) -> Path:
        from humanoid_teleop.sim.render import Mp4Writer

        s = self.spec
        with Mp4Writer(path, s.width, s.height, s.fps) as writer:
            for img in self.frames[camera]:
                writer.write(img)
        return Path(path)


def render_clip(spec: SimClipSpec) -> SimClip:
    """Run the expert through ``spec.segments`` in the capsule twin and film it."""
    from humanoid_teleop.contracts import Mode
    from humanoid_teleop.control.loop import ControlLoop
    from humanoid_teleop.control.safety import Safety
    from humanoid_teleop.controllers import make_controller
    from humanoid_teleop.sim.render import FrameClock, RenderConfig, SimRenderer
    from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

    controller = make_controller("expert")
    robot = MujocoRobot(MujocoRobotConfig(variant="capsule", control_dt_s=controller.control_dt_s))
    robot.reset("home")
    robot.connect()
    safety = Safety()
    loop = ControlLoop(robot, controller, safety)
    safety.arm(robot.now_s())
    renderers = {
        cam: SimRenderer(
            robot.model, RenderConfig(width=spec.width, height=spec.height, camera=cam, fps=spec.fps)
        )
        for cam in spec.cameras
    }
    frames: dict[str, list[np.ndarray]] = {cam: [] for cam in spec.cameras}
    t, vx, vy, wz, walking = [], [], [], [], []
    dt = controller.control_dt_s
    fell = False
    try:
        # Ramp to active (no filming), then stand still a moment so the clip starts calm.
        for _ in range(int(30.0 / dt)):
            if loop.tick(VelocityCommand()).mode is Mode.ACTIVE:
                break
        else:
            raise RuntimeError("the twin never became active")
        for _ in range(int(round(spec.settle_s / dt))):
            loop.tick(VelocityCommand())
        t0 = robot.sim_time_s
        clock = FrameClock(spec.fps, start_s=t0)
        for seconds, command in spec.segments:
            for _ in range(int(round(seconds / dt))):
                record = loop.tick(command)
                base = record.state.base
                if base.fallen:
                    fell = True
                    break
                for _ in range(clock.frames_due(robot.sim_time_s)):
                    for cam, renderer in renderers.items():
                        frames[cam].append(robot.render(renderer))
                    c, s = math.cos(base.yaw_rad), math.sin(base.yaw_rad)
                    v = base.lin_vel_w_mps
                    t.append(robot.sim_time_s - t0)
                    vx.append(c * v[0] + s * v[1])
                    vy.append(-s * v[0] + c * v[1])
                    wz.append(float(base.ang_vel_w_radps[2]))
                    walking.append(not command.is_zero)
            if fell:
                break
    finally:
        for renderer in renderers.values():
            renderer.close()
        robot.disconnect()
    return SimClip(
        spec, frames, np.array(t), np.array(vx), np.array(vy), np.array(wz),
        np.array(walking, dtype=bool), fell,
    )  # fmt: skip


def standard_specs(seconds: float = 4.0, fps: float = 15.0) -> dict[str, SimClipSpec]:
    """The evaluation set: stand, straight walk, left and right turns, stand -> walk -> stand."""
    V = VelocityCommand
    one = lambda c: SimClipSpec(((seconds, c),), fps=fps)  # noqa: E731
    return {
        "stand": one(V()),
        "forward": one(V(0.3, 0.0, 0.0)),
        "turn_left": one(V(0.15, 0.0, 0.5)),
        "turn_right": one(V(0.15, 0.0, -0.5)),
        "stand_walk_stand": SimClipSpec(
            ((1.5, V()), (3.0, V(0.3, 0.0, 0.0)), (2.5, V())), fps=fps
        ),
    }
