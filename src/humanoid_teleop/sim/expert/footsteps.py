"""Footstep placement from a velocity command, and the ZMP reference of a footstep plan.

Poses are planar ``(x_m, y_m, yaw_rad)`` arrays of the sole centre (the ``*_foot`` site) in
the plan frame. Side 0 is the left foot, side 1 the right.

A gait *cycle* is: double support (the ZMP moves onto the stance foot), then single support
(the other foot swings to its target). The target keeps the hip centre moving at the
commanded velocity: the centre between the feet advances by ``v * cycle`` per step and turns
by ``yaw_rate * cycle``, so any number of steps averages to the command.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from humanoid_teleop.contracts import VelocityCommand
from humanoid_teleop.gait import FastCadence

LEFT, RIGHT = 0, 1


def rot2(yaw_rad: float) -> np.ndarray:
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    return np.array([[c, -s], [s, c]])


def wrap_rad(a: float) -> float:
    return float((a + np.pi) % (2 * np.pi) - np.pi)


def side_sign(side: int) -> float:
    """+1 for the left foot (on the +y side of the centre), -1 for the right."""
    return 1.0 if side == LEFT else -1.0


@dataclass(frozen=True)
class GaitConfig:
    double_support_s: float = 0.15
    single_support_s: float = 0.35
    start_shift_s: float = 0.6  # first weight shift from both feet onto the first stance foot
    stop_shift_s: float = 0.6  # last weight shift back to the middle
    stance_width_m: float = 0.237  # between sole centres, as in the home pose
    min_width_m: float = 0.16  # soles are 0.07 m wide; keep a gap between them
    max_width_m: float = 0.40
    max_step_forward_m: float = 0.30
    max_step_backward_m: float = 0.20
    max_step_yaw_rad: float = 0.45
    swing_height_m: float = 0.05
    # Share of single support at lift-off and at touchdown in which the swing sole moves only
    # up/down: sliding or turning it while it still brushes the floor (a step that both
    # advances and turns rotates it by up to 2 x max_step_yaw) scuffs and twists the robot.
    # Swept: 0.15 and 0.25 fell more often than 0 on walk-and-turn commands, so it is off.
    swing_hold: float = 0.0
    target_freeze: float = 0.7  # fraction of single support after which the swing target is fixed
    aligned_tol_m: float = 0.02  # feet closer than this to a standing pair count as aligned
    aligned_tol_rad: float = 0.06
    fast: FastCadence = field(default_factory=FastCadence)  # quicker steps above 0.4 m/s

    def __post_init__(self):
        for name in ("double_support_s", "single_support_s", "start_shift_s", "stop_shift_s"):
            if getattr(self, name) <= 0.0:
                raise ValueError(f"{name}: expected > 0 s, got {getattr(self, name)}")
        if not 0.0 < self.min_width_m <= self.stance_width_m <= self.max_width_m:
            raise ValueError("expected 0 < min_width_m <= stance_width_m <= max_width_m")
        if not 0.0 <= self.swing_hold < 0.5:
            raise ValueError(f"swing_hold: expected 0..0.5, got {self.swing_hold}")
        if not 0.0 <= self.target_freeze <= 1.0:
            raise ValueError(f"target_freeze: expected 0..1, got {self.target_freeze}")

    @property
    def cycle_s(self) -> float:
        return self.double_support_s + self.single_support_s

    def at_speed(self, vx_mps: float) -> GaitConfig:
        """This gait with the cycle's timing at forward speed ``vx_mps`` (itself up to
        ``fast.from_mps``)."""
        ds, ss = self.fast.timing(vx_mps, self.double_support_s, self.single_support_s)
        if (ds, ss) == (self.double_support_s, self.single_support_s):
            return self
        return dataclasses.replace(self, double_support_s=ds, single_support_s=ss)


def step_target(
    stance_pose: np.ndarray, stance_side: int, command: VelocityCommand, gait: GaitConfig
) -> np.ndarray:
    """Where the swing foot lands so the feet's centre moves with ``command`` for one cycle.

    stance_pose: (3,) x, y, yaw. Returns (3,), clipped to what the legs and soles allow.
    """
    T = gait.cycle_s
    yaw = stance_pose[2]
    s = side_sign(stance_side)
    centre = stance_pose[:2] - rot2(yaw) @ np.array([0.0, s * gait.stance_width_m / 2])
    dyaw = float(np.clip(command.yaw_rate_radps * T, -gait.max_step_yaw_rad, gait.max_step_yaw_rad))
    step_b = np.array([command.vx_mps * T, command.vy_mps * T])
    centre_next = centre + rot2(yaw + dyaw / 2) @ step_b
    target_xy = centre_next - rot2(yaw + dyaw) @ np.array([0.0, s * gait.stance_width_m / 2])
    return clip_target(stance_pose, stance_side, np.array([*target_xy, yaw + dyaw]), gait)


def clip_target(
    stance_pose: np.ndarray, stance_side: int, target: np.ndarray, gait: GaitConfig
) -> np.ndarray:
    """Clip a swing target (3,) in the stance foot's frame: reach, sole clearance, turn."""
    s = side_sign(stance_side)
    d = rot2(stance_pose[2]).T @ (target[:2] - stance_pose[:2])
    d[0] = np.clip(d[0], -gait.max_step_backward_m, gait.max_step_forward_m)
    # The swing foot lies on the -s side of the stance foot: -s * d_y is the width.
    d[1] = -s * np.clip(-s * d[1], gait.min_width_m, gait.max_width_m)
    dyaw = np.clip(wrap_rad(target[2] - stance_pose[2]), -gait.max_step_yaw_rad, gait.max_step_yaw_rad)
    xy = stance_pose[:2] + rot2(stance_pose[2]) @ d
    return np.array([xy[0], xy[1], stance_pose[2] + dyaw])


def is_aligned(stance_pose: np.ndarray, stance_side: int, other_pose: np.ndarray, gait: GaitConfig) -> bool:
    """The other foot already stands where a zero-velocity step would put it."""
    home = step_target(stance_pose, stance_side, VelocityCommand(), gait)
    return bool(
        np.linalg.norm(home[:2] - other_pose[:2]) < gait.aligned_tol_m
        and abs(wrap_rad(home[2] - other_pose[2])) < gait.aligned_tol_rad
    )


def midpoint(feet: np.ndarray) -> np.ndarray:
    """(2,) centre between the soles; feet is (2, 3)."""
    return feet[:, :2].mean(axis=0)
