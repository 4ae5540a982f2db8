"""The walking gait's command shaping and clock, shared by the expert and the policy.

``shape_command`` is how the walking expert turns the operator's command into the one its
footsteps follow: clamped to the envelope, fast walking and fast turning traded off, the
axes' combined share capped, then ramped at bounded accelerations.

``GaitClock`` reproduces the expert's gait phase from the command history alone: walking
starts at the first tick whose shaped command is non-zero (a ``start_shift_s`` weight shift,
then single support), continues in cycles of double + single support, and stops at a
touchdown whose step was taken under a zero command. The phase is in [0, 1): [0, 0.5) a
left-stance cycle, [0.5, 1) a right-stance one; ``None`` while standing. The policy observes
this clock: it knows how far a step has got without a gait clock of its own, and the clock
runs the same way in training (from the recorded commands) and at run time (from the live
commands). Measured on expert data: see ``tests/test_gait.py``.

numpy + stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from humanoid_teleop.contracts import WALK_COMMAND_RANGES, CommandRanges, VelocityCommand
from humanoid_teleop.g1 import CONTROL_DT_S


@dataclass(frozen=True)
class CommandShaping:
    # (vx, vy m/s^2, yaw rad/s^2): a stop from 0.4 m/s or a reversal does not jump the plan.
    accel: tuple[float, float, float] = (0.5, 0.5, 1.0)
    # |vx| * |yaw rate| above this (m rad / s^2) scales both down by the same factor
    # (0.1: 0.4 m/s with 0.6 rad/s becomes 0.26 with 0.39).
    max_turn_product: float = 0.1
    # Sum over the axes of |command| / (its largest magnitude in ranges) above which all
    # axes are scaled down by one factor.
    max_speed_sum: float = 1.2
    ranges: CommandRanges = WALK_COMMAND_RANGES

    def __post_init__(self):
        if min(self.accel) <= 0 or self.max_turn_product <= 0 or self.max_speed_sum <= 0:
            raise ValueError("accel, max_turn_product and max_speed_sum must be > 0")

    def goal(self, command: VelocityCommand) -> np.ndarray:
        """(3,) the command the gait moves towards (before the acceleration limit)."""
        goal = self.ranges.clamp(command).as_array()
        product = abs(goal[0] * goal[2])
        if product > self.max_turn_product:
            scale = np.sqrt(self.max_turn_product / product)
            goal[0] *= scale
            goal[2] *= scale
        r = self.ranges
        reach = np.abs([r.vx_mps, r.vy_mps, r.yaw_rate_radps]).max(axis=1)
        total = float(np.abs(goal) @ (1.0 / np.maximum(reach, 1e-6)))
        if total > self.max_speed_sum:
            goal *= self.max_speed_sum / total
        return goal

    def step(self, current: VelocityCommand, command: VelocityCommand, dt_s: float
             ) -> VelocityCommand:  # fmt: skip
        """One tick of the ramp from ``current`` towards the shaped ``command``."""
        now = current.as_array()
        step = np.array(self.accel) * dt_s
        out = now + np.clip(self.goal(command) - now, -step, step)
        return VelocityCommand(*(float(v) for v in out))


@dataclass(frozen=True)
class FastCadence:
    """Faster walking quickens the steps. At the nominal 0.5 s cycle, 0.6 m/s needs 0.3 m
    steps, the expert's longest, and fell in 10 of 100 validation episodes; so above
    ``from_mps`` of forward speed (|vx| of the shaped command when a cycle begins) the
    cycle's double and single support shrink linearly, to these at ``full_mps``. Up to
    ``from_mps`` (the default envelope) the gait is the nominal one."""

    from_mps: float = 0.4
    full_mps: float = 0.6
    double_support_s: float = 0.12
    single_support_s: float = 0.28

    def __post_init__(self):
        if not 0.0 < self.from_mps < self.full_mps:
            raise ValueError(
                f"expected 0 < from_mps < full_mps, got {self.from_mps}, {self.full_mps}"
            )
        if min(self.double_support_s, self.single_support_s) <= 0:
            raise ValueError("gait durations must be > 0")

    def timing(self, vx_mps: float, double_support_s: float, single_support_s: float
               ) -> tuple[float, float]:  # fmt: skip
        """(double, single support) s of a cycle begun at forward speed ``vx_mps``, from the
        nominal ones."""
        a = (abs(vx_mps) - self.from_mps) / (self.full_mps - self.from_mps)
        a = float(np.clip(a, 0.0, 1.0))  # 0 gives the nominal timing exactly
        return ((1 - a) * double_support_s + a * self.double_support_s,
                (1 - a) * single_support_s + a * self.single_support_s)  # fmt: skip


@dataclass(frozen=True)
class GaitTiming:
    double_support_s: float = 0.15
    single_support_s: float = 0.35
    start_shift_s: float = 0.6  # first weight shift from both feet onto the first stance foot
    target_freeze: float = 0.7  # share of single support after which the swing target is fixed
    fast: FastCadence = field(default_factory=FastCadence)

    def __post_init__(self):
        if min(self.double_support_s, self.single_support_s, self.start_shift_s) <= 0:
            raise ValueError("gait durations must be > 0")
        if not 0.0 <= self.target_freeze <= 1.0:
            raise ValueError(f"target_freeze: expected 0..1, got {self.target_freeze}")


@dataclass(frozen=True)
class GaitClockConfig:
    timing: GaitTiming = field(default_factory=GaitTiming)
    shaping: CommandShaping = field(default_factory=CommandShaping)
    dt_s: float = CONTROL_DT_S


class GaitClock:
    """Call ``step(command)`` once per control tick; ``phase`` is the phase after it."""

    def __init__(self, config: GaitClockConfig | None = None):
        self.config = config or GaitClockConfig()
        self.reset()

    def reset(self) -> None:
        self.phase: float | None = None
        self._tick = -1
        self._shaped = VelocityCommand()
        self._stepping = False
        self._right_stance = False
        self._cycle_t0_s = 0.0
        self._ds_s = 0.0
        self._ss_s = self.config.timing.single_support_s
        self._zero_step = False  # the current swing's target was set under a zero command

    def step(self, command: VelocityCommand) -> float | None:
        # Times in seconds with the expert's tolerance: 0.15 s of double support is 7.5 ticks,
        # so cycles do not start on ticks, exactly as in the expert.
        c, tm, eps = self.config, self.config.timing, 1e-6
        self._tick += 1
        t = self._tick * c.dt_s
        self._shaped = c.shaping.step(self._shaped, command, c.dt_s)
        zero = self._shaped.is_zero
        if not self._stepping:
            if not zero:  # start: the foot on the side the robot moves or turns to swings
                s = self._shaped
                lead = s.vy_mps if s.vy_mps != 0.0 else s.yaw_rate_radps
                self._right_stance = lead >= 0.0  # the left foot swings first
                self._begin(t, tm.start_shift_s)
            self.phase = None  # the expert reports the start tick as standing too
            return None
        lift = self._cycle_t0_s + self._ds_s
        land = lift + self._ss_s
        if lift - eps <= t and (t - lift) / self._ss_s <= tm.target_freeze:
            self._zero_step = zero  # the swing target follows the command until the freeze
        if t >= land - eps:  # touchdown
            if zero and self._zero_step:
                self._stepping = False
                self.phase = None
                return None
            self._right_stance = not self._right_stance
            self._begin(land, None)
        frac = (t - self._cycle_t0_s) / (self._ds_s + self._ss_s)
        self.phase = 0.5 * ((1.0 if self._right_stance else 0.0) + min(frac, 0.999))
        return self.phase

    def _begin(self, t0_s: float, shift_s: float | None) -> None:
        """A cycle from t0_s: a weight shift of ``shift_s`` (None: a walking cycle's double
        support), then single support, both at the shaped command's cadence."""
        tm = self.config.timing
        ds, self._ss_s = tm.fast.timing(
            self._shaped.vx_mps, tm.double_support_s, tm.single_support_s
        )
        self._stepping = True
        self._cycle_t0_s = t0_s
        self._ds_s = ds if shift_s is None else shift_s
        self._zero_step = self._shaped.is_zero


def phase_features(phase: float | None) -> np.ndarray:
    """The ``gait_phase`` observation: (sin, cos) of 2 pi phase; (0, 0) while standing."""
    if phase is None:
        return np.zeros(2)
    a = 2.0 * np.pi * phase
    return np.array([np.sin(a), np.cos(a)])


def clock_phases(commands: np.ndarray, config: GaitClockConfig | None = None) -> list[float | None]:
    """The clock's phase after each tick of a (T, 3) command sequence."""
    clock = GaitClock(config)
    return [clock.step(VelocityCommand(*(float(v) for v in row))) for row in commands]
