"""Conversions between the project's contracts and the hg DDS messages, by joint name.

Motor slot ``i`` of LowCmd_/LowState_ is the joint ``g1.JOINT_NAMES[i]`` (Unitree motor
order = MJCF hinge order); ``MOTOR_SLOT`` spells that out so the mapping is data, not an
accident of array order. Slots 29-34 are unused and always sent as zeros (mode 0).

Everything on the wire is float32: ``wire_round`` gives the command exactly as the motors
will see it, which is what ``G1Bridge.send`` returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import ImuState, Mode, RobotCommand, RobotState
from humanoid_teleop.unitree import crc as _crc
from humanoid_teleop.unitree.messages import NUM_SLOTS, load

MOTOR_SLOT: dict[str, int] = {name: g1.JOINT_INDEX[name] for name in g1.JOINT_NAMES}
SLOTS = np.array([MOTOR_SLOT[n] for n in g1.JOINT_NAMES])
MODE_PR = 0  # pitch/roll serial ankle & waist control (Unitree's default)
MODE_MACHINE_G1_29DOF = 5
MOTOR_ENABLE = 1
MOTOR_DISABLE = 0


def to_slots(joint_values) -> np.ndarray:
    """(29,) in joint order -> (29,) in motor-slot order."""
    out = np.zeros(g1.NUM_JOINTS)
    out[SLOTS] = joint_values
    return out


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def _check_names(names: tuple[str, ...]) -> None:
    if tuple(names) != g1.JOINT_NAMES:
        raise ValueError(f"joint_names do not match the G1 motor order: {names}")


def wire_round(cmd: RobotCommand) -> RobotCommand:
    """The command as the motors receive it: every value rounded to float32."""
    _check_names(cmd.joint_names)
    return RobotCommand(
        cmd.timestamp_s, cmd.mode, cmd.joint_names, _f32(cmd.q_rad), _f32(cmd.dq_radps),
        _f32(cmd.tau_ff_nm), _f32(cmd.kp), _f32(cmd.kd), motor_enabled=cmd.motor_enabled,
        note=cmd.note,
    )  # fmt: skip


# -- controller side: RobotCommand -> LowCmd_, LowState_ -> RobotState ------------------
def lowcmd_from_arrays(q_rad, dq_radps, tau_nm, kp, kd, motor_enabled: bool, mode_machine: int):
    """A LowCmd_ for the 29 joints (arrays in motor order) with its CRC set."""
    M = load()
    mode = MOTOR_ENABLE if motor_enabled else MOTOR_DISABLE
    rows = np.stack([q_rad, dq_radps, tau_nm, kp, kd], axis=1).astype(np.float32).tolist()
    motors = [M.MotorCmd_(mode, q, dq, tau, p, d, 0) for q, dq, tau, p, d in rows]
    motors += [M.MotorCmd_() for _ in range(NUM_SLOTS - g1.NUM_JOINTS)]
    msg = M.LowCmd_(mode_pr=MODE_PR, mode_machine=int(mode_machine), motor_cmd=motors)
    msg.crc = _crc.lowcmd_crc(msg)
    return msg


def command_to_lowcmd(cmd: RobotCommand, mode_machine: int):
    """RobotCommand -> LowCmd_: mode_pr 0, ``mode_machine`` echoed from LowState_."""
    _check_names(cmd.joint_names)
    return lowcmd_from_arrays(
        to_slots(cmd.q_rad), to_slots(cmd.dq_radps), to_slots(cmd.tau_ff_nm), to_slots(cmd.kp),
        to_slots(cmd.kd), cmd.motor_enabled, mode_machine,
    )  # fmt: skip


def lowstate_to_state(msg, timestamp_s: float) -> RobotState:
    """LowState_ -> RobotState stamped with ``timestamp_s`` (monotonic receive time).

    Raises ContractError when the sample is not physically valid (e.g. a zero quaternion).
    """
    motors = [msg.motor_state[MOTOR_SLOT[n]] for n in g1.JOINT_NAMES]
    q = np.array([m.q for m in motors])
    dq = np.array([m.dq for m in motors])
    tau = np.array([m.tau_est for m in motors])
    imu = msg.imu_state
    quat = np.array(imu.quaternion, dtype=np.float64)
    norm = np.linalg.norm(quat)
    if norm > 0.0:  # float32 on the wire: renormalize what is a unit quaternion to 1e-7
        quat = quat / norm
    return RobotState(
        timestamp_s=timestamp_s,
        joint_names=g1.JOINT_NAMES,
        q_rad=q,
        dq_radps=dq,
        tau_nm=tau,
        imu=ImuState(quat, np.array(imu.gyroscope), np.array(imu.accelerometer)),
        base=None,  # a real robot does not know its pose in the world
        tick=int(msg.tick),
    )


# -- robot side (sim-robot): RobotState -> LowState_, LowCmd_ -> motor targets ----------
def quat_to_rpy(quat_wxyz) -> tuple[float, float, float]:
    """Roll, pitch, yaw (rad; ZYX intrinsic), as the G1's IMU reports ``rpy``."""
    w, x, y, z = quat_wxyz
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return roll, pitch, yaw


def state_to_lowstate(
    state: RobotState, tick: int, mode_machine: int = MODE_MACHINE_G1_29DOF, motor_mode=None
):
    """A LowState_ (CRC set) from a twin's state; ``motor_mode`` (29,) defaults to enabled."""
    _check_names(state.joint_names)
    M = load()
    modes = np.ones(g1.NUM_JOINTS, int) if motor_mode is None else np.asarray(motor_mode, int)
    rows = np.stack([state.q_rad, state.dq_radps, state.tau_nm], axis=1).astype(np.float32)
    motors = [None] * NUM_SLOTS  # each built once (this runs at 500 Hz)
    for name, mode, (q, dq, tau) in zip(g1.JOINT_NAMES, modes.tolist(), rows.tolist()):
        motors[MOTOR_SLOT[name]] = M.MotorState_(mode=mode, q=q, dq=dq, tau_est=tau)
    motors = [m if m is not None else M.MotorState_() for m in motors]
    imu = state.imu
    msg = M.LowState_(
        mode_pr=MODE_PR,
        mode_machine=int(mode_machine),
        tick=int(tick) & 0xFFFFFFFF,
        imu_state=M.IMUState_(
            quaternion=imu.quat_wxyz.astype(np.float32).tolist(),
            gyroscope=imu.gyro_b_radps.astype(np.float32).tolist(),
            accelerometer=imu.accel_b_mps2.astype(np.float32).tolist(),
            rpy=list(np.float32(quat_to_rpy(imu.quat_wxyz)).tolist()),
        ),
        motor_state=motors,
    )
    msg.crc = _crc.lowstate_crc(msg)
    return msg


@dataclass(frozen=True)
class MotorTargets:
    """One LowCmd_'s targets in joint order (29,), as the motor drivers read them."""

    mode: np.ndarray  # 1 enabled, 0 disabled
    q_rad: np.ndarray
    dq_radps: np.ndarray
    tau_nm: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    mode_machine: int


def lowcmd_to_targets(msg) -> MotorTargets:
    motors = [msg.motor_cmd[MOTOR_SLOT[n]] for n in g1.JOINT_NAMES]
    a = np.array([(m.mode, m.q, m.dq, m.tau, m.kp, m.kd) for m in motors], dtype=np.float64)
    return MotorTargets(a[:, 0].astype(int), a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5],
                        int(msg.mode_machine))  # fmt: skip


def targets_to_command(t: MotorTargets, timestamp_s: float) -> RobotCommand:
    """A RobotCommand for the twin's motor law: a disabled motor (mode 0) gives no torque."""
    on = t.mode == MOTOR_ENABLE
    z = np.zeros(g1.NUM_JOINTS)
    kp, kd, tau = np.where(on, t.kp, 0.0), np.where(on, t.kd, 0.0), np.where(on, t.tau_nm, 0.0)
    if not on.any() or not (kp.any() or kd.any() or tau.any()):
        mode = Mode.PASSIVE
    elif not kp.any() and not tau.any():
        mode = Mode.DAMPING
    else:
        mode = Mode.ACTIVE
    return RobotCommand(timestamp_s, mode, g1.JOINT_NAMES, np.where(on, t.q_rad, z),
                        np.where(on, t.dq_radps, z), tau, kp, kd,
                        motor_enabled=bool(on.any()))  # fmt: skip
