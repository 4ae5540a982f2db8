"""Short clips of the simulated G1 walking under known commands: ground truth for the estimators.

One run of the twin (walking expert, lockstep physics) is filmed by the ``head`` camera
(an egocentric clip) and the ``fixed`` camera (a third-person clip) at the same instants,
and every frame carries the robot's true motion:

- ``vx_mps``, ``vy_mps``: base velocity in the heading frame (x forward, y left);
- ``yaw_rate_radps``: world z angular velocity (counter-clockwise positive);
- ``walking``: whether the commanded velocity of that segment is non-zero (the label the
  estimators' walk / stand decision is scored against).

The third-person camera is the twin's ``fixed`` camera, or a static camera placed anywhere
(``CameraPlacement``, ``random_placement``) for held-out evaluation.

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
class CameraPlacement:
    """A static third-person camera (MuJoCo free camera: 45 deg vertical field of view).

    It looks at ``lookat_m`` (world) from ``distance_m``; ``azimuth_deg`` is MuJoCo's (0 looks
    along +x, i.e. from behind a robot that starts facing +x; 180 from straight ahead);
    ``elevation_deg`` negative looks down.
    """

    lookat_m: tuple[float, float, float] = (0.6, 0.0, 0.6)
    distance_m: float = 4.5
    azimuth_deg: float = 150.0
    elevation_deg: float = -15.0

    def __post_init__(self):
        if len(self.lookat_m) != 3 or not all(math.isfinite(v) for v in self.lookat_m):
            raise ValueError(f"lookat_m: expected 3 finite numbers, got {self.lookat_m}")
        if not 1.0 <= self.distance_m <= 30.0:
            raise ValueError(f"distance_m: expected 1..30 m, got {self.distance_m}")
        if not -80.0 <= self.elevation_deg <= 10.0:
            raise ValueError(f"elevation_deg: expected -80..10, got {self.elevation_deg}")

    def position_m(self) -> np.ndarray:
        """(3,) world: where the camera is."""
        return np.asarray(self.lookat_m) - self.distance_m * self._forward()

    def _forward(self) -> np.ndarray:
        az, el = math.radians(self.azimuth_deg), math.radians(self.elevation_deg)
        return np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])

    def project(
        self, points_w: np.ndarray, width: int, height: int, fovy_deg: float = 45.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (N, 2) (x right, y down) and depths (N,) of world points (N, 3), for a
        ``width`` x ``height`` render with MuJoCo's vertical field of view ``fovy_deg``."""
        f = self._forward()
        right = np.cross(f, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, f)
        d = np.asarray(points_w, dtype=float) - self.position_m()
        z = d @ f
        f_px = (height / 2) / math.tan(math.radians(fovy_deg) / 2)
        px = np.stack([(width / 2) + f_px * (d @ right) / z, (height / 2) - f_px * (d @ up) / z], 1)
        return px, z


def random_placement(rng: np.random.Generator) -> CameraPlacement:
    """A camera 3.5-6 m from the start area, from any side, 5-25 degrees above the horizon:
    the robot (walking up to ~1.2 m in a 4 s clip) stays in view."""
    lookat = (float(rng.uniform(0.0, 0.6)), float(rng.uniform(-0.3, 0.3)), 0.6)
    return CameraPlacement(
        lookat, float(rng.uniform(3.5, 6.0)), float(rng.uniform(0.0, 360.0)),
        float(rng.uniform(-25.0, -5.0)),
    )  # fmt: skip


@dataclass(frozen=True)
class SimClipSpec:
    """What to film: command segments ``(seconds, command)`` played in order after the ramp."""

    segments: tuple[tuple[float, VelocityCommand], ...]
    fps: float = 15.0
    width: int = 320
    height: int = 240
    cameras: tuple[str, ...] = ("head", "fixed")
    settle_s: float = 0.5  # standing time after the safety ramp, before filming starts
    placement: CameraPlacement | None = None  # where the ``fixed`` camera is (None: the twin's)

    def __post_init__(self):
        if not self.segments:
            raise ValueError("segments: expected at least one (seconds, command) pair")
        for seconds, command in self.segments:
            if not (0 < seconds <= 30) or not isinstance(command, VelocityCommand):
                raise ValueError(
                    f"segments: expected (0 < s <= 30, VelocityCommand), got {seconds}"
                )
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
        k = max(1, round(window_s * self.spec.fps) | 1)
        pad = np.pad(x, k // 2, mode="edge")
        return np.convolve(pad, np.ones(k) / k, mode="valid")

    def write_mp4(self, camera: str, path: Path) -> Path:
        from humanoid_teleop.sim.render import Mp4Writer

        s = self.spec
        with Mp4Writer(path, s.width, s.height, s.fps) as writer:
            for img in self.frames[camera]:
                writer.write(img)
        return Path(path)


def start_expert_twin():
    """(robot, loop): the capsule twin (lockstep, connected, safety armed) driven by the
    walking expert; call ``ramp_to_active`` before commanding it, ``robot.disconnect()`` after."""
    from humanoid_teleop.control.loop import ControlLoop
    from humanoid_teleop.control.safety import Safety
    from humanoid_teleop.controllers import make_controller
    from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

    controller = make_controller("expert")
    robot = MujocoRobot(MujocoRobotConfig(variant="capsule", control_dt_s=controller.control_dt_s))
    robot.reset("home")
    robot.connect()
    return robot, ControlLoop(robot, controller, Safety())


def ramp_to_active(loop, settle_s: float) -> None:
    """Ramp the twin to active (no filming), then stand still ``settle_s`` so it starts calm."""
    if not loop.ramp_up(30.0):
        raise RuntimeError(f"the twin never became active: {loop.safety.last_fault}")
    dt = loop.controller.control_dt_s
    for _ in range(round(settle_s / dt)):
        loop.tick(VelocityCommand())


def render_clip(spec: SimClipSpec) -> SimClip:
    """Run the expert through ``spec.segments`` in the capsule twin and film it."""
    from humanoid_teleop.sim.render import FrameClock, RenderConfig, SimRenderer

    robot, loop = start_expert_twin()
    renderers = {}
    for cam in spec.cameras:
        if cam == "fixed" and spec.placement is not None:
            renderers[cam] = PlacedRenderer(robot.model, spec.placement, spec.width, spec.height)
        else:
            config = RenderConfig(width=spec.width, height=spec.height, camera=cam, fps=spec.fps)
            renderers[cam] = SimRenderer(robot.model, config)
    frames: dict[str, list[np.ndarray]] = {cam: [] for cam in spec.cameras}
    t, vx, vy, wz, walking = [], [], [], [], []
    dt = loop.controller.control_dt_s
    fell = False
    try:
        ramp_to_active(loop, spec.settle_s)
        t0 = robot.sim_time_s
        clock = FrameClock(spec.fps, start_s=t0)
        for seconds, command in spec.segments:
            for _ in range(round(seconds / dt)):
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


class PlacedRenderer:
    """A static free camera at a ``CameraPlacement``; ``render(data)`` like ``SimRenderer``.

    ``SimRenderer``'s fixed camera is one pose by design; evaluation and the body-yaw training
    renders need many (``place`` moves it). It raises the model's offscreen size itself; call
    ``sim.render.ensure_gl_backend()`` first (MuJoCo picks its GL backend once, at import).
    """

    def __init__(self, model, placement: CameraPlacement, width: int, height: int):
        import mujoco

        vis = model.vis.global_
        vis.offwidth, vis.offheight = max(int(vis.offwidth), width), max(int(vis.offheight), height)
        self._renderer = mujoco.Renderer(model, height=height, width=width)
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.place(placement)

    def place(self, placement: CameraPlacement) -> None:
        """Move the camera (renders of many placements share one GL context)."""
        self._camera.lookat[:] = placement.lookat_m
        self._camera.distance = placement.distance_m
        self._camera.azimuth = placement.azimuth_deg
        self._camera.elevation = placement.elevation_deg

    def render(self, data) -> np.ndarray:
        self._renderer.update_scene(data, camera=self._camera)
        return self._renderer.render()

    def close(self) -> None:
        self._renderer.close()


def standard_specs(seconds: float = 4.0, fps: float = 15.0) -> dict[str, SimClipSpec]:
    """The evaluation set: stand, straight walk, left and right turns, stand -> walk -> stand."""
    V = VelocityCommand
    one = lambda c: SimClipSpec(((seconds, c),), fps=fps)
    return {
        "stand": one(V()),
        "forward": one(V(0.3, 0.0, 0.0)),
        "turn_left": one(V(0.15, 0.0, 0.5)),
        "turn_right": one(V(0.15, 0.0, -0.5)),
        "stand_walk_stand": SimClipSpec(((1.5, V()), (3.0, V(0.3, 0.0, 0.0)), (2.5, V())), fps=fps),
    }
