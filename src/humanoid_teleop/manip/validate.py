"""Validate an arm joint trajectory in the twin: the stand controller keeps the legs and
waist balancing while the arm joints follow the plan; report balance, tracking and torque.

Hardware only ever gets what passed here (DESIGN: sim preview before hardware). The run
goes through the same ControlLoop and Safety as every other controller, in lockstep.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import ActionChunk, Mode, RobotState, VelocityCommand
from humanoid_teleop.control.loop import ControlLoop
from humanoid_teleop.control.safety import Safety
from humanoid_teleop.control.stand import StandController
from humanoid_teleop.sim.model import ModelIndex
from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

ARM_SLICES = {"left": g1.LEFT_ARM, "right": g1.RIGHT_ARM, "both": g1.ARM_JOINTS}


class ArmGravity:
    """Gravity torques (29,) of the current configuration, for the arm joints' feedforward.

    The stand gains on the arms are soft (kp 40 on the shoulders), so without feedforward
    the arms sag by gravity / kp, which is most of a typical tracking error. Only what the
    robot measures is used: joint encoders and the IMU's orientation of the pelvis."""

    def __init__(self, model: mujoco.MjModel):
        self.model = model
        self.data = mujoco.MjData(model)
        self.index = ModelIndex.of(model)

    def torques_nm(self, q_rad: np.ndarray, pelvis_quat_wxyz: np.ndarray) -> np.ndarray:
        d = self.data
        d.qpos[:] = 0.0
        d.qpos[3:7] = pelvis_quat_wxyz
        d.qpos[self.index.joint_qpos] = q_rad
        d.qvel[:] = 0.0
        # With zero velocity the bias force is exactly the generalized gravity force.
        mujoco.mj_forward(self.model, d)
        return d.qfrc_bias[self.index.joint_dof].copy()


class ArmTrajectoryController:
    """Stand controller's targets with the arm joints following a joint trajectory.

    The reference starts at the arms' pose when the controller is reset, blends into the
    trajectory's first waypoint over ``lead_in_s`` (smoothstep, so velocities start at 0),
    then interpolates the trajectory linearly and holds its last waypoint.
    """

    name = "arm-trajectory"

    def __init__(
        self, q_traj_rad: np.ndarray, traj_dt_s: float, *, lead_in_s: float = 1.0,
        arm_joints: slice = g1.ARM_JOINTS, stand: StandController | None = None,
        gravity: ArmGravity | None = None,
    ):  # fmt: skip
        traj = np.asarray(q_traj_rad, dtype=float)
        if traj.ndim != 2 or traj.shape[1] != g1.NUM_JOINTS or len(traj) < 1:
            raise ValueError(f"q_traj_rad: expected (T >= 1, {g1.NUM_JOINTS}), got {traj.shape}")
        if not traj_dt_s > 0 or lead_in_s < 0:
            raise ValueError(f"expected traj_dt_s > 0 and lead_in_s >= 0, got "
                             f"{traj_dt_s}, {lead_in_s}")  # fmt: skip
        lo, hi = g1.POSITION_LIMITS_RAD[arm_joints].T
        arm = traj[:, arm_joints]
        if np.any(arm < lo) or np.any(arm > hi):
            raise ValueError("q_traj_rad: arm joints outside their position limits")
        self.traj_arm_rad = arm  # (T, n_arm)
        self.traj_dt_s = float(traj_dt_s)
        self.lead_in_s = float(lead_in_s)
        self.arm_joints = arm_joints
        self.stand = stand or StandController()
        self.control_dt_s = self.stand.control_dt_s
        self.gravity = gravity
        self._t0_s = 0.0
        self._start_arm_rad = g1.DEFAULT_POSE_RAD[arm_joints].copy()

    @property
    def duration_s(self) -> float:
        return self.lead_in_s + (len(self.traj_arm_rad) - 1) * self.traj_dt_s

    def reset(self, state: RobotState) -> None:
        self.stand.reset(state)
        self._t0_s = state.timestamp_s
        self._start_arm_rad = np.asarray(state.q_rad)[self.arm_joints].copy()

    def reference(self, t_rel_s: float) -> np.ndarray:
        """Arm joint targets (n_arm,) at ``t_rel_s`` since reset."""
        if t_rel_s <= 0:
            return self._start_arm_rad.copy()
        if t_rel_s < self.lead_in_s:
            s = t_rel_s / self.lead_in_s
            s = s * s * (3 - 2 * s)
            return (1 - s) * self._start_arm_rad + s * self.traj_arm_rad[0]
        x = (t_rel_s - self.lead_in_s) / self.traj_dt_s
        i = int(np.floor(x))
        if i >= len(self.traj_arm_rad) - 1:
            return self.traj_arm_rad[-1].copy()
        a = x - i
        return (1 - a) * self.traj_arm_rad[i] + a * self.traj_arm_rad[i + 1]

    def act(self, state: RobotState, command: VelocityCommand) -> ActionChunk:
        chunk = self.stand.act(state, command)
        q = chunk.q_rad.copy()
        t_rel = state.timestamp_s - self._t0_s
        q[0, self.arm_joints] = self.reference(t_rel)
        # The reference's velocity as dq: the motor law's kd term then damps deviations from
        # the motion instead of the motion itself, which is most of a soft arm's lag.
        dq = np.zeros_like(q)
        h = self.control_dt_s / 2
        dq[0, self.arm_joints] = (self.reference(t_rel + h) - self.reference(t_rel - h)) / (2 * h)
        tau = None
        if self.gravity is not None:
            tau = np.zeros_like(q)
            g = self.gravity.torques_nm(state.q_rad, state.imu.quat_wxyz)
            tau[0, self.arm_joints] = g[self.arm_joints]
        return ActionChunk(
            t0_s=chunk.t0_s, dt_s=chunk.dt_s, joint_names=chunk.joint_names, q_rad=q,
            kp=chunk.kp, kd=chunk.kd, tau_ff_nm=tau, dq_radps=dq,
        )  # fmt: skip


@dataclass(frozen=True)
class ArmValidationConfig:
    lead_in_s: float = 1.5
    settle_s: float = 1.0  # hold the last waypoint this long before judging
    max_ramp_s: float = 4.0
    gravity_compensation: bool = True
    # Documented tolerance: arms follow the plan within this (rad, any arm joint, any tick).
    tracking_tolerance_rad: float = 0.1
    max_torque_ratio: float = 1.0
    # The arm(s) the plan moves; the others hold the stand pose and are not judged (at the
    # home pose the wrists rest against the hips, so a held arm is off its target by contact).
    arm: Literal["left", "right", "both"] = "right"

    def __post_init__(self):
        if self.arm not in ARM_SLICES:
            raise ValueError(f"arm: expected one of {tuple(ARM_SLICES)}, got {self.arm!r}")
        if self.lead_in_s < 0 or self.settle_s < 0 or self.max_ramp_s <= 0:
            raise ValueError("lead_in_s and settle_s must be >= 0 and max_ramp_s > 0")
        if not self.tracking_tolerance_rad > 0 or not self.max_torque_ratio > 0:
            raise ValueError("tolerances must be > 0")


@dataclass(frozen=True)
class ArmValidationReport:
    passed: bool
    upright: bool
    fall_time_s: float | None
    max_tracking_error_rad: float  # after the lead-in, over the judged arm joints
    rms_tracking_error_rad: float
    max_torque_ratio: float
    safety_fault: str
    duration_s: float
    q_measured_rad: np.ndarray  # (N, 29) per control tick, for previews and plots

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "upright": self.upright,
            "fall_time_s": self.fall_time_s,
            "max_tracking_error_rad": self.max_tracking_error_rad,
            "rms_tracking_error_rad": self.rms_tracking_error_rad,
            "max_torque_ratio": self.max_torque_ratio,
            "safety_fault": self.safety_fault,
            "duration_s": self.duration_s,
        }


def validate_arm_trajectory(
    q_traj_rad: np.ndarray, traj_dt_s: float, config: ArmValidationConfig | None = None,
    robot: MujocoRobot | None = None, *, video: Path | None = None,
) -> ArmValidationReport:  # fmt: skip
    """Run the trajectory in the twin (lockstep) from the home keyframe and judge it.

    ``video``: also write a preview MP4 of the motion (after the safety ramp), seen from
    ahead and to the robot's right, close enough to see the arms."""
    cfg = config or ArmValidationConfig()
    robot = robot or MujocoRobot(MujocoRobotConfig(clock="lockstep"))
    robot.reset()
    gravity = ArmGravity(robot.model) if cfg.gravity_compensation else None
    controller = ArmTrajectoryController(
        q_traj_rad, traj_dt_s, lead_in_s=cfg.lead_in_s, arm_joints=ARM_SLICES[cfg.arm],
        gravity=gravity,
    )  # fmt: skip
    preview = None
    robot.connect()
    try:
        preview = _Preview(robot, video) if video is not None else None
        safety = Safety()
        loop = ControlLoop(robot, controller, safety)
        dt = controller.control_dt_s
        if not loop.ramp_up(cfg.max_ramp_s):
            raise RuntimeError(f"safety did not reach ACTIVE after the ramp: {safety.last_fault}")
        robot.motor_stats.reset()  # judge the motion, not the ramp
        n_ticks = int(np.ceil((controller.duration_s + cfg.settle_s) / dt))
        arm = controller.arm_joints
        errors, measured = [], []
        fall_time = None
        t_start = None
        for k in range(n_ticks + 1):
            record = loop.tick(VelocityCommand())
            s = record.state
            if s is None or safety.mode is not Mode.ACTIVE:
                break
            if t_start is None:
                t_start = s.timestamp_s  # the controller was reset with this state
            if preview is not None:
                preview.tick(robot, s.timestamp_s - t_start)
            measured.append(np.asarray(s.q_rad).copy())
            t_rel = s.timestamp_s - t_start
            # The lead-in is the controller's way onto the plan, not the plan: at the home
            # pose the wrists rest on the hips and friction holds them back for a while.
            if t_rel >= controller.lead_in_s:
                ref = controller.reference(t_rel)
                errors.append(float(np.abs(np.asarray(s.q_rad)[arm] - ref).max()))
            if s.base.fallen:
                fall_time = k * dt
                break
        complete = len(measured) == n_ticks + 1
        err = np.array(errors) if errors else np.array([np.inf])
        upright = fall_time is None and complete
        ratio = robot.motor_stats.max_ratio
        passed = bool(
            upright and err.max() <= cfg.tracking_tolerance_rad and ratio <= cfg.max_torque_ratio
            and not safety.last_fault
        )  # fmt: skip
        return ArmValidationReport(
            passed=passed,
            upright=upright,
            fall_time_s=fall_time,
            max_tracking_error_rad=float(err.max()),
            rms_tracking_error_rad=float(np.sqrt(np.mean(err**2))),
            max_torque_ratio=ratio,
            safety_fault=safety.last_fault,
            duration_s=len(measured) * dt,
            q_measured_rad=np.array(measured).reshape(-1, g1.NUM_JOINTS),
        )
    finally:
        robot.disconnect()
        if preview is not None:
            preview.close()


class _Preview:
    """The MP4 writer, renderer and frame clock of one validation run."""

    def __init__(self, robot: MujocoRobot, path: Path, fps: float = 25.0):
        from humanoid_teleop.sim.render import FrameClock, Mp4Writer, RenderConfig, SimRenderer

        config = RenderConfig(width=480, height=360, camera="follow", fps=fps,
                              follow_distance_m=1.8, follow_elevation_deg=-10.0)  # fmt: skip
        self.renderer = SimRenderer(robot.model, config)
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.writer = Mp4Writer(path, config.width, config.height, fps)
        except Exception:
            self.renderer.close()
            raise
        self.clock = FrameClock(fps)

    def tick(self, robot: MujocoRobot, t_s: float) -> None:
        due = self.clock.frames_due(t_s)
        if due:
            frame = robot.render(self.renderer)
            for _ in range(due):
                self.writer.write(frame)

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self.renderer.close()
