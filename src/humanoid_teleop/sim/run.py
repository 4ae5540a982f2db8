"""Run a controller in the twin for a while under a fixed command: the ``sim`` command."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from humanoid_teleop.contracts import Mode, VelocityCommand
from humanoid_teleop.control.controller import Controller
from humanoid_teleop.control.loop import ControlLoop
from humanoid_teleop.control.safety import Safety
from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig


@dataclass(frozen=True)
class SimRunConfig:
    seconds: float = 10.0
    command: VelocityCommand = VelocityCommand()
    realtime: bool = False
    video: Path | None = None
    video_camera: Literal["follow", "head", "fixed"] = "follow"
    video_variant: Literal["mesh", "capsule"] = "capsule"
    video_size: tuple[int, int] = (640, 480)
    video_fps: float = 30.0

    def __post_init__(self):
        if self.seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {self.seconds}")


@dataclass(frozen=True)
class SimSummary:
    controller: str
    sim_seconds: float
    wall_seconds: float
    command: VelocityCommand
    fell: bool
    final_mode: str
    safety_fault: str
    distance_m: float
    mean_vx_mps: float  # in the heading frame, over the active phase
    mean_vy_mps: float
    mean_yaw_rate_radps: float
    max_torque_ratio: float
    video: str | None

    def as_text(self) -> str:
        c = self.command
        lines = [
            f"controller     {self.controller}",
            f"command        vx {c.vx_mps:+.2f} m/s  vy {c.vy_mps:+.2f} m/s  "
            f"yaw {c.yaw_rate_radps:+.2f} rad/s",
            f"achieved       vx {self.mean_vx_mps:+.3f} m/s  vy {self.mean_vy_mps:+.3f} m/s  "
            f"yaw {self.mean_yaw_rate_radps:+.3f} rad/s",
            f"distance       {self.distance_m:.2f} m",
            f"upright        {'no: FELL' if self.fell else 'yes'}",
            f"safety         {self.final_mode} {self.safety_fault}".rstrip(),
            f"torque ratio   {self.max_torque_ratio:.2f} (peak requested / limit)",
            f"time           {self.sim_seconds:.1f} s simulated in {self.wall_seconds:.1f} s "
            f"(x{self.sim_seconds / max(self.wall_seconds, 1e-9):.1f} real time)",
        ]
        if self.video:
            lines.append(f"video          {self.video}")
        return "\n".join(lines)


def run_sim(controller: Controller, config: SimRunConfig) -> SimSummary:
    clock = "realtime" if config.realtime else "lockstep"
    robot = MujocoRobot(MujocoRobotConfig(clock=clock, variant=config.video_variant,
                                          control_dt_s=controller.control_dt_s))  # fmt: skip
    robot.reset("home")
    robot.connect()
    safety = Safety()
    loop = ControlLoop(robot, controller, safety)
    safety.arm(robot.now_s())
    renderer = writer = frames = None
    if config.video is not None:
        from humanoid_teleop.sim.render import FrameClock, Mp4Writer, RenderConfig, SimRenderer

        w, h = config.video_size
        render_config = RenderConfig(
            width=w, height=h, camera=config.video_camera, fps=config.video_fps
        )
        renderer = SimRenderer(robot.model, render_config)
        config.video.parent.mkdir(parents=True, exist_ok=True)
        writer = Mp4Writer(config.video, w, h, config.video_fps)
        frames = FrameClock(config.video_fps)

    dt = controller.control_dt_s
    pacer = None
    if config.realtime:
        from humanoid_teleop.timing import Pacer

        pacer = Pacer(1.0 / dt)
    start_wall = time.perf_counter()
    state = robot.read_state()
    fell = False
    active_start: tuple[np.ndarray, float, float] | None = None
    yaw_prev = yaw_unwrapped = 0.0
    n_ticks = int(round(config.seconds / dt))
    try:
        for _ in range(n_ticks):
            if pacer is not None:
                pacer.wait()
            command = config.command if safety.mode is Mode.ACTIVE else VelocityCommand()
            record = loop.tick(command)
            state = record.state
            base = state.base
            yaw = base.yaw_rad
            yaw_unwrapped += (yaw - yaw_prev + math.pi) % (2 * math.pi) - math.pi
            yaw_prev = yaw
            if active_start is None and record.mode is Mode.ACTIVE:
                active_start = (base.pos_w_m[:2].copy(), yaw_unwrapped, robot.sim_time_s)
            if writer is not None:
                for _ in range(frames.frames_due(robot.sim_time_s)):
                    writer.write(robot.render(renderer))
            if base.fallen:
                fell = True
                break
    finally:
        if writer is not None:
            writer.close()
            renderer.close()
        robot.disconnect()
    wall = time.perf_counter() - start_wall

    mean_v = np.zeros(2)
    mean_yaw_rate = distance = 0.0
    if active_start is not None:
        p0, yaw0, t0 = active_start
        span = max(robot.sim_time_s - t0, 1e-9)
        delta = state.base.pos_w_m[:2] - p0
        distance = float(np.linalg.norm(delta))
        heading = 0.5 * (yaw0 + yaw_unwrapped)
        c, s = math.cos(heading), math.sin(heading)
        mean_v = np.array([c * delta[0] + s * delta[1], -s * delta[0] + c * delta[1]]) / span
        mean_yaw_rate = (yaw_unwrapped - yaw0) / span
    return SimSummary(
        controller=controller.name,
        sim_seconds=robot.sim_time_s,
        wall_seconds=wall,
        command=config.command,
        fell=fell,
        final_mode=safety.mode.value,
        safety_fault=safety.last_fault,
        distance_m=distance,
        mean_vx_mps=float(mean_v[0]),
        mean_vy_mps=float(mean_v[1]),
        mean_yaw_rate_radps=float(mean_yaw_rate),
        max_torque_ratio=robot.motor_stats.max_ratio,
        video=str(config.video) if config.video else None,
    )
