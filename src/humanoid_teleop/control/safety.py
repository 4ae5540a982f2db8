"""Safety: the one place that owns modes, clamps and terminations.

Nothing reaches a robot except through ``Safety.step``. The sequence is Unitree's own:
passive (zero torque) -> arm -> ramp from the measured pose to the default pose over 2-3 s
-> active (controller targets, clamped) -> damping (kp 0, kd 8) on any fault. An e-stop
latches until an explicit re-arm, which releases it into damping (never straight to motion).

Whatever is missing, stale or invalid becomes damping:
- no state, or a state older than ``state_timeout_s``;
- tilt > 1 rad, any |dq| > 10 rad/s, |gyro| > 6 rad/s (G1 terminations) while ramping/active;
- no targets (the executor ran dry), stale targets, or targets whose gains exceed the
  hardware envelope (refused, not clipped: gains are part of what was validated).
Active targets are clamped to joint position limits, a per-tick step, velocity limits and
the feedforward torque limit.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import JointTargets, Mode, RobotCommand, RobotState


class Event(enum.Enum):
    ARM = "arm"  # operator starts the robot
    RAMP_DONE = "ramp_done"
    FAULT = "fault"  # termination, stale input, refused command
    STOP = "stop"  # operator stops the robot: controlled damping
    ESTOP = "estop"
    REARM = "rearm"  # explicit release of a latched e-stop


_M, _E = Mode, Event
# Every (mode, event) pair; the tests walk this whole table.
TRANSITIONS: dict[tuple[Mode, Event], Mode] = {
    (_M.PASSIVE, _E.ARM): _M.RAMP,
    (_M.PASSIVE, _E.RAMP_DONE): _M.PASSIVE,
    (_M.PASSIVE, _E.FAULT): _M.DAMPING,
    (_M.PASSIVE, _E.STOP): _M.PASSIVE,
    (_M.PASSIVE, _E.ESTOP): _M.ESTOP,
    (_M.PASSIVE, _E.REARM): _M.PASSIVE,
    (_M.RAMP, _E.ARM): _M.RAMP,
    (_M.RAMP, _E.RAMP_DONE): _M.ACTIVE,
    (_M.RAMP, _E.FAULT): _M.DAMPING,
    (_M.RAMP, _E.STOP): _M.DAMPING,
    (_M.RAMP, _E.ESTOP): _M.ESTOP,
    (_M.RAMP, _E.REARM): _M.RAMP,
    (_M.ACTIVE, _E.ARM): _M.ACTIVE,
    (_M.ACTIVE, _E.RAMP_DONE): _M.ACTIVE,
    (_M.ACTIVE, _E.FAULT): _M.DAMPING,
    (_M.ACTIVE, _E.STOP): _M.DAMPING,
    (_M.ACTIVE, _E.ESTOP): _M.ESTOP,
    (_M.ACTIVE, _E.REARM): _M.ACTIVE,
    (_M.DAMPING, _E.ARM): _M.RAMP,
    (_M.DAMPING, _E.RAMP_DONE): _M.DAMPING,
    (_M.DAMPING, _E.FAULT): _M.DAMPING,
    (_M.DAMPING, _E.STOP): _M.DAMPING,
    (_M.DAMPING, _E.ESTOP): _M.ESTOP,
    (_M.DAMPING, _E.REARM): _M.DAMPING,
    (_M.ESTOP, _E.ARM): _M.ESTOP,  # latched: arming is refused
    (_M.ESTOP, _E.RAMP_DONE): _M.ESTOP,
    (_M.ESTOP, _E.FAULT): _M.ESTOP,
    (_M.ESTOP, _E.STOP): _M.ESTOP,
    (_M.ESTOP, _E.ESTOP): _M.ESTOP,
    (_M.ESTOP, _E.REARM): _M.DAMPING,
}


def next_mode(mode: Mode, event: Event) -> Mode:
    return TRANSITIONS[(mode, event)]


class SafetyRefusal(RuntimeError):
    """An operator request Safety will not carry out (e.g. arming while e-stopped or tilted)."""


@dataclass(frozen=True)
class SafetyConfig:
    default_pose_rad: tuple[float, ...] = tuple(g1.DEFAULT_POSE_RAD)
    ramp_duration_s: float = 2.5
    ramp_kp: tuple[float, ...] = tuple(g1.STAND_KP)
    ramp_kd: tuple[float, ...] = tuple(g1.STAND_KD)
    kp_max: float = g1.KP_MAX  # hardware gain envelope
    kd_max: float = g1.KD_MAX
    max_tilt_rad: float = g1.MAX_TILT_RAD
    max_joint_speed_radps: float = g1.MAX_JOINT_SPEED_RADPS
    max_gyro_radps: float = g1.MAX_GYRO_RADPS
    state_timeout_s: float = g1.STATE_TIMEOUT_S
    target_timeout_s: float = 0.1  # targets stamped longer ago than this are stale
    max_step_rad: float = 0.25  # per control tick change of q_des (12.5 rad/s at 50 Hz)
    position_margin_rad: float = 0.0

    def __post_init__(self):
        for name in ("default_pose_rad", "ramp_kp", "ramp_kd"):
            if len(getattr(self, name)) != g1.NUM_JOINTS:
                raise ValueError(f"{name}: expected {g1.NUM_JOINTS} values")
        if not 2.0 <= self.ramp_duration_s <= 3.0:
            raise ValueError(f"ramp_duration_s: expected 2-3 s, got {self.ramp_duration_s}")
        if self.kp_max > g1.KP_MAX or self.kd_max > g1.KD_MAX:
            raise ValueError("gain envelope cannot exceed the G1 hardware envelope")
        if max(self.ramp_kp) > self.kp_max or max(self.ramp_kd) > self.kd_max:
            raise ValueError("ramp gains exceed the gain envelope")


@dataclass(frozen=True)
class SafetyEvent:
    timestamp_s: float
    event: Event
    from_mode: Mode
    to_mode: Mode
    reason: str


class Safety:
    """Mode machine + clamps. Single-threaded: call from the control loop only."""

    def __init__(self, config: SafetyConfig | None = None):
        self.config = config or SafetyConfig()
        self._default = np.array(self.config.default_pose_rad)
        self._ramp_kp = np.array(self.config.ramp_kp)
        self._ramp_kd = np.array(self.config.ramp_kd)
        lo, hi = g1.POSITION_LIMITS_RAD.T
        self._q_lo = lo + self.config.position_margin_rad
        self._q_hi = hi - self.config.position_margin_rad
        self.mode = Mode.PASSIVE
        self.last_fault = ""
        self.log: deque[SafetyEvent] = deque(maxlen=256)
        self.clamped_ticks = 0
        self._ramp_start_s = 0.0
        self._ramp_from = self._default.copy()
        self._last_q_des: np.ndarray | None = None
        self._pending_arm = False
        self.arm_refusal = ""  # why the last arm request was refused at its tick ("" if not)

    # -- operator requests ----------------------------------------------------------------
    def arm(self, now_s: float) -> None:
        """Request the ramp to the default pose; it starts at the next ``step`` with a state."""
        if self.mode is Mode.ESTOP:
            raise SafetyRefusal("e-stop is latched: re-arm (release) it first")
        if self.mode in (Mode.RAMP, Mode.ACTIVE):
            return
        self._pending_arm = True
        self.arm_refusal = ""

    @property
    def arm_pending(self) -> bool:
        """An arm request waits for the next ``step`` (which starts the ramp or refuses)."""
        return self._pending_arm

    def stop(self, now_s: float, reason: str = "operator stop") -> None:
        self._pending_arm = False
        self._fire(now_s, Event.STOP, reason)

    def estop(self, now_s: float, reason: str = "e-stop") -> None:
        self._pending_arm = False
        self._fire(now_s, Event.ESTOP, reason)

    def fault(self, now_s: float, reason: str) -> None:
        """An outside monitor (e.g. the shadow twin) found a fault: damping from now on."""
        self._pending_arm = False
        self._fire(now_s, Event.FAULT, reason)

    def rearm(self, now_s: float) -> None:
        """Release a latched e-stop into damping (the robot still needs ``arm`` to move)."""
        self._fire(now_s, Event.REARM, "re-armed")

    @property
    def active(self) -> bool:
        return self.mode is Mode.ACTIVE

    # -- the control tick -----------------------------------------------------------------
    def step(
        self, now_s: float, state: RobotState | None, targets: JointTargets | None
    ) -> RobotCommand:
        """The command for this tick; ``targets`` is only used in ACTIVE."""
        fault = self._check_state(now_s, state)
        if self._pending_arm:
            self._pending_arm = False
            if fault:
                self.arm_refusal = f"arm refused: {fault}"
                self._log(now_s, Event.ARM, self.mode, self.mode, self.arm_refusal)
            else:
                self._ramp_start_s = now_s
                self._ramp_from = state.q_rad.copy()
                self._fire(now_s, Event.ARM, "armed")
        if fault and self.mode in (Mode.RAMP, Mode.ACTIVE):
            self._fire(now_s, Event.FAULT, fault)

        if self.mode is Mode.RAMP:
            s = (now_s - self._ramp_start_s) / self.config.ramp_duration_s
            if s >= 1.0:
                # The last ramp tick holds the default pose; the controller takes over next tick.
                self._fire(now_s, Event.RAMP_DONE, "ramp complete")
            return self._ramp_command(now_s, min(s, 1.0))
        if self.mode is Mode.ACTIVE:
            problem = self._check_targets(now_s, targets)
            if problem:
                self._fire(now_s, Event.FAULT, problem)
            else:
                return self._clamp(now_s, targets)
        self._last_q_des = None
        if self.mode is Mode.PASSIVE:
            return RobotCommand.zero_torque(now_s, note="passive")
        return RobotCommand.damping(now_s, self.mode, note=self.last_fault or self.mode.value)

    # -- internals ------------------------------------------------------------------------
    def _fire(self, now_s: float, event: Event, reason: str) -> None:
        before = self.mode
        self.mode = next_mode(before, event)
        if event in (Event.FAULT, Event.ESTOP) and self.mode is not before:
            self.last_fault = reason
        if event is Event.ARM and self.mode is Mode.RAMP:
            self.last_fault = ""
        self._log(now_s, event, before, self.mode, reason)

    def _log(self, now_s: float, event: Event, before: Mode, after: Mode, reason: str) -> None:
        self.log.append(SafetyEvent(now_s, event, before, after, reason))

    def _check_state(self, now_s: float, state: RobotState | None) -> str:
        c = self.config
        if state is None:
            return "no robot state"
        age = now_s - state.timestamp_s
        if age > c.state_timeout_s:
            return f"robot state is stale ({age:.3f} s old, limit {c.state_timeout_s} s)"
        tilt = state.imu.tilt_rad
        if tilt > c.max_tilt_rad:
            return f"tilt {tilt:.2f} rad > {c.max_tilt_rad} rad"
        speed = np.abs(state.dq_radps)
        if speed.max() > c.max_joint_speed_radps:
            j = g1.JOINT_NAMES[int(speed.argmax())]
            return f"{j} speed {speed.max():.1f} rad/s > {c.max_joint_speed_radps} rad/s"
        gyro = float(np.linalg.norm(state.imu.gyro_b_radps))
        if gyro > c.max_gyro_radps:
            return f"gyro {gyro:.1f} rad/s > {c.max_gyro_radps} rad/s"
        return ""

    def _check_targets(self, now_s: float, targets: JointTargets | None) -> str:
        c = self.config
        if targets is None:
            return "no targets (controller or executor ran dry)"
        age = now_s - targets.timestamp_s
        if age > c.target_timeout_s:
            return f"targets are stale ({age:.3f} s old, limit {c.target_timeout_s} s)"
        if targets.kp.max() > c.kp_max or targets.kd.max() > c.kd_max:
            return (
                f"gains refused: kp max {targets.kp.max():.1f} (envelope {c.kp_max}), "
                f"kd max {targets.kd.max():.1f} (envelope {c.kd_max})"
            )
        return ""

    def _ramp_command(self, now_s: float, s: float) -> RobotCommand:
        # Smoothstep: zero velocity at both ends of the ramp.
        w = s * s * (3 - 2 * s)
        dw = 6 * s * (1 - s) / self.config.ramp_duration_s
        delta = self._default - self._ramp_from
        q = self._ramp_from + w * delta
        self._last_q_des = q
        zero = np.zeros(g1.NUM_JOINTS)
        return RobotCommand(
            now_s, Mode.RAMP, g1.JOINT_NAMES, q, dw * delta, zero, self._ramp_kp, self._ramp_kd,
            note=f"ramp {s:.0%}",
        )  # fmt: skip

    def _clamp(self, now_s: float, t: JointTargets) -> RobotCommand:
        q = np.clip(t.q_rad, self._q_lo, self._q_hi)
        if self._last_q_des is not None:
            step = self.config.max_step_rad
            q = np.clip(q, self._last_q_des - step, self._last_q_des + step)
        dq = np.clip(t.dq_radps, -g1.VELOCITY_LIMIT_RADPS, g1.VELOCITY_LIMIT_RADPS)
        tau = np.clip(t.tau_ff_nm, -g1.TORQUE_LIMIT_NM, g1.TORQUE_LIMIT_NM)
        clamped = not (
            np.array_equal(q, t.q_rad)
            and np.array_equal(dq, t.dq_radps)
            and np.array_equal(tau, t.tau_ff_nm)
        )
        self.clamped_ticks += clamped
        self._last_q_des = q
        return RobotCommand(
            now_s, Mode.ACTIVE, g1.JOINT_NAMES, q, dq, tau, t.kp, t.kd,
            note="clamped" if clamped else "",
        )  # fmt: skip
