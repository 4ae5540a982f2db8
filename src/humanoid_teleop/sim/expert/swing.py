"""Swing foot trajectory.

Horizontal position and yaw follow a cubic from the foot's current planned (pose, velocity)
to the target at rest at touchdown, re-solved every tick, so a target that moves during the
swing (command change, step adjustment) bends the path instead of making it jump. Height is
a fixed bump of the swing phase with zero velocity and acceleration at lift-off and
touchdown.
"""

from __future__ import annotations

import numpy as np


def advance(
    pose: np.ndarray, vel: np.ndarray, target: np.ndarray, remaining_s: float, dt_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Move (pose, vel), each (3,) x/y/yaw, dt_s along the cubic reaching target at rest."""
    if remaining_s <= dt_s:
        return target.copy(), np.zeros(3)
    T = remaining_s
    d = target - pose
    # Cubic p(s) = pose + vel s + a s^2 + b s^3 with p(T) = target, p'(T) = 0.
    a = (3 * d - 2 * vel * T) / T**2
    b = (-2 * d + vel * T) / T**3
    s = dt_s
    return pose + vel * s + a * s * s + b * s**3, vel + 2 * a * s + 3 * b * s * s


def height_m(phase: float, swing_height_m: float) -> float:
    """Sole height at swing phase 0..1: 64 s^3 (1-s)^3 peaks at 1 mid-swing."""
    s = float(np.clip(phase, 0.0, 1.0))
    return swing_height_m * 64.0 * s**3 * (1.0 - s) ** 3
