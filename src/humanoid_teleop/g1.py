"""The Unitree G1 (29 DoF) as data: joint order, limits, motor facts, poses, gain envelope.

numpy + stdlib only, so contracts, control, sim and the DDS bridge share one source of
truth. Joint order is the Unitree motor order, which is also the MJCF hinge order.
Values come from Unitree's SDK / unitree_rl_gym and the mjlab G1 model (see
../shared/G1_FACTS.md); the tests check them against the compiled MuJoCo model.
"""

from __future__ import annotations

import numpy as np

_LEG = ("hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")
_ARM = (
    "shoulder_pitch",
    "shoulder_roll",
    "shoulder_yaw",
    "elbow",
    "wrist_roll",
    "wrist_pitch",
    "wrist_yaw",
)

JOINT_NAMES: tuple[str, ...] = (
    *(f"left_{j}_joint" for j in _LEG),
    *(f"right_{j}_joint" for j in _LEG),
    "waist_yaw_joint",
    "waist_roll_joint",
    "waist_pitch_joint",
    *(f"left_{j}_joint" for j in _ARM),
    *(f"right_{j}_joint" for j in _ARM),
)
NUM_JOINTS = len(JOINT_NAMES)  # 29
NUM_MOTOR_SLOTS = 35  # LowCmd_/LowState_ arrays; slots 29-34 unused
JOINT_INDEX: dict[str, int] = {n: i for i, n in enumerate(JOINT_NAMES)}

LEG_JOINTS = slice(0, 12)
LEFT_LEG = slice(0, 6)
RIGHT_LEG = slice(6, 12)
WAIST_JOINTS = slice(12, 15)
ARM_JOINTS = slice(15, 29)
LEFT_ARM = slice(15, 22)
RIGHT_ARM = slice(22, 29)


def per_joint(values: dict[str, float]) -> np.ndarray:
    """Build a (29,) array from {joint-name substring: value}; every joint must match once."""
    out = np.full(NUM_JOINTS, np.nan)
    for i, name in enumerate(JOINT_NAMES):
        hits = [v for key, v in values.items() if key in name]
        if len(hits) != 1:
            raise ValueError(f"joint {name!r} matched {len(hits)} entries of {sorted(values)}")
        out[i] = hits[0]
    out.flags.writeable = False
    return out


# Peak motor torque (N m). mjlab gives hip_roll 139; we keep Unitree's conservative 88.
TORQUE_LIMIT_NM = per_joint(
    {
        "hip_pitch": 88.0,
        "hip_roll": 88.0,
        "hip_yaw": 88.0,
        "knee": 139.0,
        "ankle": 50.0,
        "waist_yaw": 88.0,
        "waist_roll": 50.0,
        "waist_pitch": 50.0,
        "shoulder": 25.0,
        "elbow": 25.0,
        "wrist_roll": 25.0,
        "wrist_pitch": 5.0,
        "wrist_yaw": 5.0,
    }
)

VELOCITY_LIMIT_RADPS = per_joint(
    {
        "hip_pitch": 32.0,
        "hip_yaw": 32.0,
        "waist_yaw": 32.0,
        "hip_roll": 20.0,
        "knee": 20.0,
        "ankle": 37.0,
        "waist_roll": 37.0,
        "waist_pitch": 37.0,
        "shoulder": 37.0,
        "elbow": 37.0,
        "wrist_roll": 37.0,
        "wrist_pitch": 22.0,
        "wrist_yaw": 22.0,
    }
)

# Motors' reflected inertia (kg m^2); the MJCF ships armature 0, which makes explicit
# 500 Hz PD on the light arm joints unstable.
ARMATURE_KGM2 = per_joint(
    {
        "hip_pitch": 0.0102,
        "hip_yaw": 0.0102,
        "waist_yaw": 0.0102,
        "hip_roll": 0.0251,
        "knee": 0.0251,
        "ankle": 0.0072,
        "waist_roll": 0.0072,
        "waist_pitch": 0.0072,
        "shoulder": 0.0036,
        "elbow": 0.0036,
        "wrist_roll": 0.0036,
        "wrist_pitch": 0.00425,
        "wrist_yaw": 0.00425,
    }
)

# Position limits (rad), as G1_FACTS.md lists them; right hip/shoulder roll mirror the left.
_LOWER = {
    "hip_pitch": -2.5307, "hip_yaw": -2.7576, "knee": -0.087267, "ankle_pitch": -0.87267,
    "ankle_roll": -0.2618, "waist_yaw": -2.618, "waist_roll": -0.52, "waist_pitch": -0.52,
    "shoulder_pitch": -3.0892, "shoulder_yaw": -2.618, "elbow": -1.0472,
    "wrist_roll": -1.97222, "wrist_pitch": -1.61443, "wrist_yaw": -1.61443,
}  # fmt: skip
_UPPER = {
    "hip_pitch": 2.8798, "hip_yaw": 2.7576, "knee": 2.8798, "ankle_pitch": 0.5236,
    "ankle_roll": 0.2618, "waist_yaw": 2.618, "waist_roll": 0.52, "waist_pitch": 0.52,
    "shoulder_pitch": 2.6704, "shoulder_yaw": 2.618, "elbow": 2.0944,
    "wrist_roll": 1.97222, "wrist_pitch": 1.61443, "wrist_yaw": 1.61443,
}  # fmt: skip
_ROLL_LIMITS = {"hip_roll": (-0.5236, 2.9671), "shoulder_roll": (-1.5882, 2.2515)}


def _position_limits() -> np.ndarray:
    limits = np.zeros((NUM_JOINTS, 2))
    for i, name in enumerate(JOINT_NAMES):
        key = name.removeprefix("left_").removeprefix("right_").removesuffix("_joint")
        if key in _ROLL_LIMITS:
            lo, hi = _ROLL_LIMITS[key]
            limits[i] = (lo, hi) if name.startswith("left_") else (-hi, -lo)
        else:
            limits[i] = (_LOWER[key], _UPPER[key])
    limits.flags.writeable = False
    return limits


POSITION_LIMITS_RAD = _position_limits()  # (29, 2) lower, upper


def _pose(values: dict[str, float]) -> np.ndarray:
    q = np.zeros(NUM_JOINTS)
    for name, v in values.items():
        for side in ("left_", "right_"):
            key = f"{side}{name}_joint"
            if key in JOINT_INDEX:
                q[JOINT_INDEX[key]] = v
            elif name in JOINT_INDEX:
                q[JOINT_INDEX[name]] = v
    q.flags.writeable = False
    return q


# mjlab's HOME pose (pelvis z 0.7837): slightly bent knees, arms relaxed.
HOME_POSE_RAD = _pose(
    {"hip_pitch": -0.1, "knee": 0.3, "ankle_pitch": -0.2, "shoulder_pitch": 0.2, "elbow": 1.28}
)
HOME_PELVIS_HEIGHT_M = 0.7837
# mjlab's KNEES_BENT pose (pelvis z 0.76): the crouch walking controllers start from.
KNEES_BENT_POSE_RAD = _pose(
    {
        "hip_pitch": -0.312,
        "knee": 0.669,
        "ankle_pitch": -0.363,
        "shoulder_pitch": 0.2,
        "elbow": 1.28,
    }
)
KNEES_BENT_PELVIS_HEIGHT_M = 0.76
# The default pose the safety ramp drives to and policies are relative to.
DEFAULT_POSE_RAD = HOME_POSE_RAD

# Hardware gain envelope: a command with any gain above these is refused.
KP_MAX = 300.0
KD_MAX = 10.0
DAMPING_KD = 8.0  # Unitree's damping mode: kp 0, kd 8, tau 0

# Stand gains that hold a fixed pose for 20 s in the twin (G1_FACTS.md), within the envelope.
STAND_KP = per_joint(
    {
        "hip": 200.0, "knee": 300.0, "ankle": 200.0, "waist": 200.0,
        "shoulder": 40.0, "elbow": 40.0, "wrist_roll": 20.0, "wrist_pitch": 10.0,
        "wrist_yaw": 10.0,
    }
)  # fmt: skip
STAND_KD = per_joint(
    {
        "hip": 5.0, "knee": 6.0, "ankle": 4.0, "waist": 5.0,
        "shoulder": 2.0, "elbow": 2.0, "wrist_roll": 1.0, "wrist_pitch": 0.5,
        "wrist_yaw": 0.5,
    }
)  # fmt: skip

# Terminations Unitree's own code uses (G1_FACTS.md).
MAX_TILT_RAD = 1.0
MAX_JOINT_SPEED_RADPS = 10.0
MAX_GYRO_RADPS = 6.0
STATE_TIMEOUT_S = 1.0

CONTROL_DT_S = 0.02  # 50 Hz
PHYSICS_DT_S = 0.002  # 500 Hz, also the low-level command rate
