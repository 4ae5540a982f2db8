"""Values that cross component boundaries (numpy + stdlib only).

Every value is a frozen dataclass validated in ``__post_init__``: shapes, finiteness, units
(in field names), joint names travelling with every joint array, and a monotonic timestamp
(``time.monotonic()`` seconds, or simulation seconds for the twin). Arrays are copied and
made read-only, so a value cannot change after it was checked.

    camera -> Frame -> estimator -> Intent -> policy -> ActionChunk -> executor
        -> JointTargets -> Safety -> RobotCommand -> Robot -> RobotState
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from humanoid_teleop import g1

FALL_HEIGHT_M = 0.45
FALL_TILT_RAD = 1.0


class ContractError(ValueError):
    """A value violates its contract; the message says what was expected and what arrived."""


def _array(name: str, value, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    arr = np.array(value, dtype=dtype, copy=True)
    if arr.shape != shape:
        raise ContractError(f"{name}: expected shape {shape}, got {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ContractError(f"{name}: contains NaN or inf")
    arr.flags.writeable = False
    return arr


def _timestamp(name: str, t: float) -> float:
    if not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise ContractError(f"{name}: expected a finite monotonic time >= 0 s, got {t!r}")
    return float(t)


def _joint_names(names) -> tuple[str, ...]:
    names = tuple(names)
    if names != g1.JOINT_NAMES:
        missing = set(g1.JOINT_NAMES) - set(names)
        extra = set(names) - set(g1.JOINT_NAMES)
        raise ContractError(
            f"joint_names must be the G1's 29 joints in motor order; "
            f"missing {sorted(missing)}, unexpected {sorted(extra)}, got {len(names)} names"
        )
    return names


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


class Mode(enum.Enum):
    """Safety modes. Only ACTIVE forwards controller targets to the motors."""

    PASSIVE = "passive"  # motors enabled with zero torque (kp = kd = 0)
    RAMP = "ramp"  # interpolating from the measured pose to the default pose
    ACTIVE = "active"  # controller targets, clamped
    DAMPING = "damping"  # kp 0, kd 8, tau 0: the safe fallback for every fault
    ESTOP = "estop"  # damping, latched until an explicit re-arm


SKILLS: tuple[str, ...] = ("stand", "walk")
View = Literal["egocentric", "third_person"]
VIEWS: tuple[str, ...] = ("egocentric", "third_person")


@dataclass(frozen=True)
class VelocityCommand:
    """Planar base velocity in the robot's heading frame (x forward, y left, z up)."""

    vx_mps: float = 0.0
    vy_mps: float = 0.0
    yaw_rate_radps: float = 0.0  # counter-clockwise positive

    def __post_init__(self):
        for name in ("vx_mps", "vy_mps", "yaw_rate_radps"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ContractError(f"{name}: expected a finite float, got {v!r}")
            _set(self, name, float(v))

    @property
    def is_zero(self) -> bool:
        return self.vx_mps == 0.0 and self.vy_mps == 0.0 and self.yaw_rate_radps == 0.0

    def as_array(self) -> np.ndarray:
        return np.array([self.vx_mps, self.vy_mps, self.yaw_rate_radps])


@dataclass(frozen=True)
class CommandRanges:
    """The velocity envelope a controller supports: (low, high) per axis."""

    vx_mps: tuple[float, float] = (0.0, 0.0)
    vy_mps: tuple[float, float] = (0.0, 0.0)
    yaw_rate_radps: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        for name in ("vx_mps", "vy_mps", "yaw_rate_radps"):
            lo, hi = (float(v) for v in getattr(self, name))
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= 0.0 <= hi):
                raise ContractError(f"{name}: expected finite lo <= 0 <= hi, got {(lo, hi)}")
            _set(self, name, (lo, hi))

    def clamp(self, command: VelocityCommand) -> VelocityCommand:
        return VelocityCommand(
            float(np.clip(command.vx_mps, *self.vx_mps)),
            float(np.clip(command.vy_mps, *self.vy_mps)),
            float(np.clip(command.yaw_rate_radps, *self.yaw_rate_radps)),
        )

    def covers(self, other: CommandRanges) -> bool:
        """Whether every command in ``other`` lies inside this envelope."""
        return all(
            mine[0] <= theirs[0] and theirs[1] <= mine[1]
            for mine, theirs in zip(self._pairs(), other._pairs(), strict=True)
        )

    def _pairs(self) -> tuple[tuple[float, float], ...]:
        return self.vx_mps, self.vy_mps, self.yaw_rate_radps

    def as_dict(self) -> dict[str, list[float]]:
        return {k: list(getattr(self, k)) for k in ("vx_mps", "vy_mps", "yaw_rate_radps")}


# The walking envelope the project targets: the expert's default, the range demonstrations
# are collected over and the range intents are clamped to when no policy says otherwise.
WALK_COMMAND_RANGES = CommandRanges(
    vx_mps=(-0.2, 0.4), vy_mps=(-0.15, 0.15), yaw_rate_radps=(-0.6, 0.6)
)


@dataclass(frozen=True)
class Frame:
    """One video frame. ``image_rgb`` is (H, W, 3) uint8."""

    timestamp_s: float
    image_rgb: np.ndarray
    view: View
    index: int = 0
    source: str = "camera"

    def __post_init__(self):
        _set(self, "timestamp_s", _timestamp("timestamp_s", self.timestamp_s))
        img = np.asarray(self.image_rgb)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ContractError(f"image_rgb: expected (H, W, 3) uint8, got {img.shape} {img.dtype}")
        if img.shape[0] < 16 or img.shape[1] < 16:
            raise ContractError(f"image_rgb: at least 16x16 pixels, got {img.shape[:2]}")
        if self.view not in VIEWS:
            raise ContractError(f"view: expected one of {VIEWS}, got {self.view!r}")
        if self.index < 0:
            raise ContractError(f"index: expected >= 0, got {self.index}")


@dataclass(frozen=True)
class Intent:
    """What the robot should do, in its body frame. See VelocityCommand for the axes."""

    skill: str
    command: VelocityCommand
    confidence: float
    source: str
    frame_timestamp_s: float  # time of the frame the intent came from
    latent: np.ndarray | None = None  # (D,) e.g. a VLM's pooled hidden state

    def __post_init__(self):
        if self.skill not in SKILLS:
            raise ContractError(f"skill: expected one of {SKILLS}, got {self.skill!r}")
        if not isinstance(self.command, VelocityCommand):
            raise ContractError(f"command: expected VelocityCommand, got {type(self.command)}")
        if self.skill == "stand" and not self.command.is_zero:
            raise ContractError(f"skill 'stand' needs a zero velocity command, got {self.command}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ContractError(f"confidence: expected 0..1, got {self.confidence}")
        _set(self, "frame_timestamp_s", _timestamp("frame_timestamp_s", self.frame_timestamp_s))
        if self.latent is not None:
            lat = np.asarray(self.latent)
            if lat.ndim != 1 or lat.size == 0:
                raise ContractError(f"latent: expected a non-empty (D,) vector, got {lat.shape}")
            _set(self, "latent", _array("latent", lat, lat.shape, np.float32))


@dataclass(frozen=True)
class ImuState:
    """Pelvis IMU. Orientation is world-from-body; rates and acceleration in the body frame."""

    quat_wxyz: np.ndarray  # (4,) unit quaternion
    gyro_b_radps: np.ndarray  # (3,)
    accel_b_mps2: np.ndarray  # (3,) specific force (reads +9.81 z when level and still)

    def __post_init__(self):
        q = _array("quat_wxyz", self.quat_wxyz, (4,))
        if abs(np.linalg.norm(q) - 1.0) > 1e-3:
            raise ContractError(f"quat_wxyz: expected unit norm, got {np.linalg.norm(q):.4f}")
        _set(self, "quat_wxyz", q)
        _set(self, "gyro_b_radps", _array("gyro_b_radps", self.gyro_b_radps, (3,)))
        _set(self, "accel_b_mps2", _array("accel_b_mps2", self.accel_b_mps2, (3,)))

    @property
    def projected_gravity_b(self) -> np.ndarray:
        """Unit gravity direction in the body frame: (0, 0, -1) when level."""
        w, x, y, z = self.quat_wxyz
        # Third row of R(q) gives world z in body coordinates.
        return -np.array([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)])

    @property
    def tilt_rad(self) -> float:
        """Angle between the body z axis and world up."""
        return float(np.arccos(np.clip(-self.projected_gravity_b[2], -1.0, 1.0)))


@dataclass(frozen=True)
class BasePose:
    """Ground truth of the floating base, known only in simulation (world frame)."""

    pos_w_m: np.ndarray  # (3,)
    quat_wxyz: np.ndarray  # (4,)
    lin_vel_w_mps: np.ndarray  # (3,)
    ang_vel_w_radps: np.ndarray  # (3,)

    def __post_init__(self):
        _set(self, "pos_w_m", _array("pos_w_m", self.pos_w_m, (3,)))
        _set(self, "quat_wxyz", _array("quat_wxyz", self.quat_wxyz, (4,)))
        _set(self, "lin_vel_w_mps", _array("lin_vel_w_mps", self.lin_vel_w_mps, (3,)))
        _set(self, "ang_vel_w_radps", _array("ang_vel_w_radps", self.ang_vel_w_radps, (3,)))

    @property
    def yaw_rad(self) -> float:
        w, x, y, z = self.quat_wxyz
        return float(math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))

    @property
    def tilt_rad(self) -> float:
        """Angle between the base z axis and world up."""
        w, x, y, z = self.quat_wxyz
        return float(math.acos(max(-1.0, min(1.0, 1 - 2 * (x * x + y * y)))))

    @property
    def fallen(self) -> bool:
        """The validation definition of a fall: pelvis below 0.45 m or tilted beyond 1 rad."""
        return bool(self.pos_w_m[2] < FALL_HEIGHT_M or self.tilt_rad > FALL_TILT_RAD)


@dataclass(frozen=True)
class RobotState:
    """What a robot reports: encoders, motor torques and the pelvis IMU (+ sim ground truth)."""

    timestamp_s: float
    joint_names: tuple[str, ...]
    q_rad: np.ndarray  # (29,)
    dq_radps: np.ndarray  # (29,)
    tau_nm: np.ndarray  # (29,) applied (sim) or estimated (hardware) motor torque
    imu: ImuState
    base: BasePose | None = None  # only the twin knows it
    tick: int = 0  # robot-side counter (LowState_.tick on hardware)

    def __post_init__(self):
        _set(self, "timestamp_s", _timestamp("timestamp_s", self.timestamp_s))
        _set(self, "joint_names", _joint_names(self.joint_names))
        n = g1.NUM_JOINTS
        _set(self, "q_rad", _array("q_rad", self.q_rad, (n,)))
        _set(self, "dq_radps", _array("dq_radps", self.dq_radps, (n,)))
        _set(self, "tau_nm", _array("tau_nm", self.tau_nm, (n,)))
        if not isinstance(self.imu, ImuState):
            raise ContractError(f"imu: expected ImuState, got {type(self.imu)}")


@dataclass(frozen=True)
class JointTargets:
    """One control tick's motor targets: tau = tau_ff + kp (q - q_meas) + kd (dq - dq_meas)."""

    timestamp_s: float
    joint_names: tuple[str, ...]
    q_rad: np.ndarray  # (29,)
    dq_radps: np.ndarray  # (29,)
    tau_ff_nm: np.ndarray  # (29,)
    kp: np.ndarray  # (29,) N m / rad
    kd: np.ndarray  # (29,) N m s / rad

    def __post_init__(self):
        _set(self, "timestamp_s", _timestamp("timestamp_s", self.timestamp_s))
        _set(self, "joint_names", _joint_names(self.joint_names))
        n = g1.NUM_JOINTS
        for name in ("q_rad", "dq_radps", "tau_ff_nm", "kp", "kd"):
            _set(self, name, _array(name, getattr(self, name), (n,)))
        if np.any(self.kp < 0) or np.any(self.kd < 0):
            raise ContractError("kp, kd: gains must be >= 0")

    @classmethod
    def hold(cls, timestamp_s: float, q_rad, kp, kd) -> JointTargets:
        n = g1.NUM_JOINTS
        return cls(timestamp_s, g1.JOINT_NAMES, q_rad, np.zeros(n), np.zeros(n), kp, kd)


@dataclass(frozen=True)
class ActionChunk:
    """H future control ticks of joint targets, tick k due at ``t0_s + k * dt_s``."""

    t0_s: float
    dt_s: float
    joint_names: tuple[str, ...]
    q_rad: np.ndarray  # (H, 29)
    kp: np.ndarray  # (29,) constant over the chunk
    kd: np.ndarray  # (29,)
    tau_ff_nm: np.ndarray | None = None  # (H, 29)
    dq_radps: np.ndarray | None = None  # (H, 29)

    def __post_init__(self):
        _set(self, "t0_s", _timestamp("t0_s", self.t0_s))
        if not (isinstance(self.dt_s, (int, float)) and 0 < self.dt_s <= 1.0):
            raise ContractError(f"dt_s: expected 0 < dt <= 1 s, got {self.dt_s!r}")
        _set(self, "joint_names", _joint_names(self.joint_names))
        q = np.asarray(self.q_rad)
        if q.ndim != 2 or q.shape[0] < 1:
            raise ContractError(f"q_rad: expected (H, 29) with H >= 1, got {q.shape}")
        shape = (q.shape[0], g1.NUM_JOINTS)
        _set(self, "q_rad", _array("q_rad", q, shape))
        for name in ("tau_ff_nm", "dq_radps"):
            if getattr(self, name) is not None:
                _set(self, name, _array(name, getattr(self, name), shape))
        _set(self, "kp", _array("kp", self.kp, (g1.NUM_JOINTS,)))
        _set(self, "kd", _array("kd", self.kd, (g1.NUM_JOINTS,)))

    @property
    def horizon(self) -> int:
        return self.q_rad.shape[0]

    @property
    def end_s(self) -> float:
        """Time just after the last tick's slot."""
        return self.t0_s + self.horizon * self.dt_s


@dataclass(frozen=True)
class RobotCommand:
    """What goes to the motors (one LowCmd_ worth), after Safety."""

    timestamp_s: float
    mode: Mode
    joint_names: tuple[str, ...]
    q_rad: np.ndarray  # (29,)
    dq_radps: np.ndarray  # (29,)
    tau_ff_nm: np.ndarray  # (29,)
    kp: np.ndarray  # (29,)
    kd: np.ndarray  # (29,)
    motor_enabled: bool = True
    note: str = field(default="", compare=False)  # why Safety produced this command

    def __post_init__(self):
        _set(self, "timestamp_s", _timestamp("timestamp_s", self.timestamp_s))
        if not isinstance(self.mode, Mode):
            raise ContractError(f"mode: expected Mode, got {self.mode!r}")
        _set(self, "joint_names", _joint_names(self.joint_names))
        n = g1.NUM_JOINTS
        for name in ("q_rad", "dq_radps", "tau_ff_nm", "kp", "kd"):
            _set(self, name, _array(name, getattr(self, name), (n,)))
        if np.any(self.kp < 0) or np.any(self.kd < 0):
            raise ContractError("kp, kd: gains must be >= 0")

    @classmethod
    def damping(cls, timestamp_s: float, mode: Mode = Mode.DAMPING, note: str = "") -> RobotCommand:
        n = g1.NUM_JOINTS
        z = np.zeros(n)
        return cls(
            timestamp_s, mode, g1.JOINT_NAMES, z, z, z, z, np.full(n, g1.DAMPING_KD), note=note
        )

    @classmethod
    def zero_torque(cls, timestamp_s: float, note: str = "") -> RobotCommand:
        z = np.zeros(g1.NUM_JOINTS)
        return cls(timestamp_s, Mode.PASSIVE, g1.JOINT_NAMES, z, z, z, z, z, note=note)

    def torque_nm(self, q_rad: np.ndarray, dq_radps: np.ndarray) -> np.ndarray:
        """The motor law, unclamped: what this command asks of the motors at a measured state."""
        return (
            self.tau_ff_nm + self.kp * (self.q_rad - q_rad) + self.kd * (self.dq_radps - dq_radps)
        )
