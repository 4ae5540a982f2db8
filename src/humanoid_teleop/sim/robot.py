"""MujocoRobot: the G1 twin behind the Robot protocol, with the G1's motor law.

Each physics step (500 Hz) computes, like the G1's motor drivers,
    tau = tau_ff + kp (q_des + dq_des * t_since_cmd - q) + kd (dq_des - dq)
clamped to the joint's torque limit. ``q_des`` is extrapolated along ``dq_des`` between
50 Hz commands, which is what the 500 Hz low-level stream does on hardware.

Two clocks:
- ``lockstep`` (default): ``send`` advances the physics by one control period, so episodes
  run as fast as the CPU allows; ``now_s`` is simulation time.
- ``realtime``: a physics thread keeps simulation time on the wall clock; ``send`` only
  replaces the active command; ``now_s`` is ``time.monotonic``.

The IMU reports the orientation and the gyro at the instant of the read, and the
accelerometer as the mean specific force over the last control period (``substeps`` physics
steps; control/accel.py says why). They are exact unless ``imu_errors`` is set: then a real
IMU's biases, noise and attitude error are added (sim/imu_errors.py), drawn anew at each
reset from its ``imu_seed``.

``command_delay_s`` models the hardware loop's latency: a command takes effect in the motors
that long after the state it answers was read (the previous one acts until then). In the
twin the controller otherwise answers the state of this very instant; over DDS the state is
a few milliseconds old when the command is computed and the command takes a little longer
to reach the motors (docs/figures.md measures it on ``lo``).
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Literal

import mujoco
import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import BasePose, ImuState, RobotCommand, RobotState
from humanoid_teleop.control.accel import PeriodMeanAccel
from humanoid_teleop.control.robot import NotConnectedError
from humanoid_teleop.sim.imu_errors import ImuErrorModel, ImuErrors
from humanoid_teleop.sim.model import ModelIndex, Variant, build_model


@dataclass(frozen=True)
class MujocoRobotConfig:
    variant: Variant = "capsule"
    clock: Literal["lockstep", "realtime"] = "lockstep"
    control_dt_s: float = g1.CONTROL_DT_S
    keyframe: str = "home"
    extrapolate_targets: bool = True
    imu_errors: ImuErrors | None = None  # None: the IMU reports the exact truth
    command_delay_s: float = 0.0  # state read -> command in the motors (rounded to 2 ms)

    def __post_init__(self):
        if not (np.isfinite(self.command_delay_s) and 0.0 <= self.command_delay_s <= 0.5):
            raise ValueError(f"command_delay_s: expected 0..0.5 s, got {self.command_delay_s}")
        ratio = self.control_dt_s / g1.PHYSICS_DT_S
        if abs(ratio - round(ratio)) > 1e-9 or ratio < 1:
            raise ValueError(
                f"control_dt_s must be a multiple of the physics dt {g1.PHYSICS_DT_S}, "
                f"got {self.control_dt_s}"
            )

    @property
    def substeps(self) -> int:
        return round(self.control_dt_s / g1.PHYSICS_DT_S)

    @property
    def delay_steps(self) -> int:
        return round(self.command_delay_s / g1.PHYSICS_DT_S)


class MotorStats:
    """Peak requested (pre-clamp) torque per joint; a ratio above 1 means the motor saturated."""

    def __init__(self, limit_nm: np.ndarray):
        self._limit = limit_nm
        self.reset()

    def reset(self) -> None:
        self.peak_ratio = np.zeros(g1.NUM_JOINTS)
        self.saturated_steps = 0
        self.steps = 0

    def record(self, tau_requested: np.ndarray) -> None:
        ratio = np.abs(tau_requested) / self._limit
        np.maximum(self.peak_ratio, ratio, out=self.peak_ratio)
        self.saturated_steps += bool(np.any(ratio > 1.0))
        self.steps += 1

    @property
    def max_ratio(self) -> float:
        return float(self.peak_ratio.max())


class MujocoRobot:
    """The twin. Not thread-safe except through its public methods in realtime mode."""

    name = "mujoco"

    def __init__(
        self, config: MujocoRobotConfig | None = None, model: mujoco.MjModel | None = None
    ):
        self.config = config or MujocoRobotConfig()
        self.model = model if model is not None else build_model(self.config.variant)
        self.index = ModelIndex.of(self.model)
        self.data = mujoco.MjData(self.model)
        self.motor_stats = MotorStats(self.index.torque_limit_nm)
        self._foot_geoms = np.array([
            g for g in range(self.model.ngeom)
            if self.model.geom(g).name.startswith(("left_foot", "right_foot"))
        ])  # fmt: skip
        self._lock = threading.RLock()
        self._connected = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wall_offset_s = 0.0
        self._command = RobotCommand.zero_torque(0.0, note="initial")
        self._command_sim_time_s = 0.0
        # Commands sent but not yet in the motors: (simulation time it takes effect, command).
        self._pending: collections.deque[tuple[float, RobotCommand]] = collections.deque()
        self._push_force_w = np.zeros(3)
        self._push_until_s = -1.0
        self._accel = PeriodMeanAccel(self.config.substeps)
        errors = self.config.imu_errors
        self._imu_errors = ImuErrorModel(errors) if errors is not None else None
        self.reset()

    # -- Robot protocol ------------------------------------------------------------------
    def connect(self) -> None:
        with self._lock:
            if self._connected:
                return
            self._connected = True
            if self.config.clock == "realtime":
                self._stop.clear()
                self._wall_offset_s = time.monotonic() - self.data.time
                self._thread = threading.Thread(target=self._realtime_loop, daemon=True,
                                                name="mujoco-physics")  # fmt: skip
                self._thread.start()

    def disconnect(self) -> None:
        with self._lock:
            if not self._connected:
                return
            self._command = RobotCommand.damping(
                self._sim_to_clock(self.data.time), note="disconnect"
            )
            self._pending.clear()  # nothing sent before it may override the damping
            self._connected = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def now_s(self) -> float:
        """The twin's clock: simulation time (lockstep), or simulation time on the monotonic
        clock (realtime). Not the wall clock: when the physics thread falls behind on a busy
        machine its states are a few ticks old by the wall clock, and a controller's 1-tick
        chunk stamped with such a state would be dropped as already past, starving Safety
        of targets. The world of the twin is the physics; its clock is the physics' clock."""
        with self._lock:
            return self._sim_to_clock(float(self.data.time))

    def read_state(self) -> RobotState:
        self._require_connected()
        with self._lock:
            return self._state()

    def send(self, command: RobotCommand) -> RobotCommand:
        self._require_connected()
        if not isinstance(command, RobotCommand):
            raise TypeError(f"expected RobotCommand, got {type(command).__name__}")
        applied = command
        if not command.motor_enabled:
            applied = RobotCommand.zero_torque(command.timestamp_s, note="motors disabled")
        with self._lock:
            # Into the motors at the first physics step at or after its effective time (with
            # no delay, the next step: where it always acted).
            effective = self.data.time + self.config.delay_steps * g1.PHYSICS_DT_S
            self._pending.append((effective, applied))
            if self.config.clock == "lockstep":
                for _ in range(self.config.substeps):
                    self._physics_step()
        return applied

    # -- twin-only controls ------------------------------------------------------------
    def reset(
        self,
        keyframe: str | None = None,
        *,
        joint_offsets_rad: np.ndarray | None = None,
        base_yaw_rad: float = 0.0,
        base_xy_m: tuple[float, float] = (0.0, 0.0),
        imu_seed: int = 0,
    ) -> None:
        """Put the robot at a keyframe (optionally perturbed); motors go to zero torque.
        With ``imu_errors`` configured, the IMU's errors are drawn anew from ``imu_seed``."""
        with self._lock:
            key = self.model.key(keyframe or self.config.keyframe).id
            mujoco.mj_resetDataKeyframe(self.model, self.data, key)
            if joint_offsets_rad is not None:
                q = self.data.qpos[self.index.joint_qpos] + joint_offsets_rad
                lo, hi = g1.POSITION_LIMITS_RAD.T
                self.data.qpos[self.index.joint_qpos] = np.clip(q, lo, hi)
            self.data.qpos[0:2] = base_xy_m
            self.data.qpos[3:7] = [np.cos(base_yaw_rad / 2), 0, 0, np.sin(base_yaw_rad / 2)]
            mujoco.mj_forward(self.model, self.data)
            # Put the soles on the floor: a keyframe height that leaves them in the air
            # drops the robot, and the landing spikes joint speeds past the terminations.
            sole_z = (
                self.data.geom_xpos[self._foot_geoms, 2] - self.model.geom_size[self._foot_geoms, 0]
            )
            self.data.qpos[2] -= sole_z.min()
            mujoco.mj_forward(self.model, self.data)
            self._command = RobotCommand.zero_torque(0.0, note="reset")
            self._command_sim_time_s = 0.0
            self._pending.clear()
            self._push_until_s = -1.0
            self.data.xfrc_applied[:] = 0.0
            self._accel.reset()
            if self._imu_errors is not None:
                self._imu_errors.redraw(imu_seed)
            self.motor_stats.reset()
            if self.config.clock == "realtime":
                self._wall_offset_s = time.monotonic()

    def push(self, force_w_n: np.ndarray, duration_s: float) -> None:
        """Apply a horizontal force at the pelvis for a while (impulse = force x duration)."""
        with self._lock:
            self._push_force_w = np.asarray(force_w_n, dtype=float).copy()
            self._push_until_s = self.data.time + duration_s

    def render(self, renderer) -> np.ndarray:
        """A frame from a ``sim.render.SimRenderer``, taken consistently with the physics."""
        with self._lock:
            return renderer.render(self.data)

    @property
    def sim_time_s(self) -> float:
        return float(self.data.time)

    # -- internals ------------------------------------------------------------------------
    def _require_connected(self) -> None:
        if not self._connected:
            raise NotConnectedError("MujocoRobot is not connected; call connect() first")

    def _sim_to_clock(self, sim_time_s: float) -> float:
        if self.config.clock == "realtime":
            return sim_time_s + self._wall_offset_s
        return sim_time_s

    def _physics_step(self) -> None:
        d = self.data
        while self._pending and self._pending[0][0] <= d.time + 1e-9:
            _, self._command = self._pending.popleft()
            self._command_sim_time_s = d.time
        idx, cmd = self.index, self._command
        q = d.qpos[idx.joint_qpos]
        dq = d.qvel[idx.joint_dof]
        q_des = cmd.q_rad
        if self.config.extrapolate_targets:
            held_s = min(d.time - self._command_sim_time_s, 2 * self.config.control_dt_s)
            q_des = q_des + cmd.dq_radps * held_s
        tau = cmd.tau_ff_nm + cmd.kp * (q_des - q) + cmd.kd * (cmd.dq_radps - dq)
        self.motor_stats.record(tau)
        d.ctrl[idx.actuator] = np.clip(tau, -idx.torque_limit_nm, idx.torque_limit_nm)
        if d.time < self._push_until_s:
            d.xfrc_applied[idx.pelvis_body, :3] = self._push_force_w
        else:
            d.xfrc_applied[idx.pelvis_body, :3] = 0.0
        mujoco.mj_step(self.model, d)
        # mj_step evaluated the sensors in its forward pass: the accelerometer holds the
        # specific force this step integrated, the orientation the one it started from.
        quat = d.sensordata[idx.imu_quat]
        quat, accel = quat / np.linalg.norm(quat), d.sensordata[idx.accel]
        if self._imu_errors is not None:
            quat = self._imu_errors.attitude(quat, d.time)
            accel = self._imu_errors.accel_sample(accel)
        self._accel.add(quat, accel)

    def _state(self) -> RobotState:
        d, idx = self.data, self.index
        quat = d.sensordata[idx.imu_quat]
        quat, gyro = quat / np.linalg.norm(quat), d.sensordata[idx.gyro]
        accel = d.sensordata[idx.accel]  # reported until a physics step has been averaged
        if self._imu_errors is not None:
            quat, gyro = self._imu_errors.read(quat, gyro, d.time)
            accel = accel + self._imu_errors.accel_bias
        imu = ImuState(
            quat_wxyz=quat,
            gyro_b_radps=gyro,
            accel_b_mps2=self._accel.mean_b(quat, accel),
        )
        base = BasePose(
            pos_w_m=d.qpos[0:3],
            quat_wxyz=d.qpos[3:7],
            lin_vel_w_mps=d.qvel[0:3],
            # qvel[3:6] is the free joint's angular velocity in the body frame.
            ang_vel_w_radps=_rotate(d.qpos[3:7], d.qvel[3:6]),
        )
        return RobotState(
            timestamp_s=self._sim_to_clock(d.time),
            joint_names=g1.JOINT_NAMES,
            q_rad=d.qpos[idx.joint_qpos],
            dq_radps=d.qvel[idx.joint_dof],
            tau_nm=d.actuator_force[idx.actuator],
            imu=imu,
            base=base,
            tick=int(round(d.time / g1.PHYSICS_DT_S)),
        )

    def _realtime_loop(self) -> None:
        """Keep simulation time on the wall clock, stepping in small batches."""
        while not self._stop.is_set():
            with self._lock:
                target = time.monotonic() - self._wall_offset_s
                steps = 0
                # Never step past the wall clock: states must not carry future timestamps.
                while self.data.time + self.model.opt.timestep <= target and steps < 50:
                    self._physics_step()
                    steps += 1
                if steps == 50:  # fell behind by > 0.1 s: slip the clock instead of bursting
                    self._wall_offset_s = time.monotonic() - self.data.time
            time.sleep(0.001)


def _rotate(quat_wxyz: np.ndarray, v: np.ndarray) -> np.ndarray:
    out = np.zeros(3)
    mujoco.mju_rotVecQuat(out, v, quat_wxyz)
    return out

