"""Swing foot trajectory.

Horizontal position and yaw follow a cubic from the foot's current planned (pose, velocity)
to the target at rest at touchdown, re-solved every tick, so a target that moves during the
swing (command change, step adjustment) bends the path instead of making it jump; its
horizontal speed may be capped, and a capped sole lands short of the target. Height is
a fixed bump of the swing phase with zero velocity and acceleration at lift-off and
touchdown.
"""

from __future__ import annotations

import numpy as np


def advance(
    pose: np.ndarray,
    vel: np.ndarray,
    target: np.ndarray,
    remaining_s: float,
    dt_s: float,
    max_speed_mps: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Move (pose, vel), each (3,) x/y/yaw, dt_s along the cubic reaching target at rest, the
    horizontal speed capped at ``max_speed_mps`` (0: no cap; a capped sole falls short)."""
    if remaining_s <= dt_s and max_speed_mps <= 0.0:
        return target.copy(), np.zeros(3)
    T = max(remaining_s, dt_s)
    d = target - pose
    # Cubic p(s) = pose + vel s + a s^2 + b s^3 with p(T) = target, p'(T) = 0.
    a = (3 * d - 2 * vel * T) / T**2
    b = (-2 * d + vel * T) / T**3
    s = dt_s
    new_pose, new_vel = pose + vel * s + a * s * s + b * s**3, vel + 2 * a * s + 3 * b * s * s
    if remaining_s <= dt_s:
        new_vel = np.zeros(3)
    if max_speed_mps > 0.0:
        step = new_pose[:2] - pose[:2]
        travel = float(np.linalg.norm(step))
        if travel > max_speed_mps * dt_s:
            new_pose[:2] = pose[:2] + step * (max_speed_mps * dt_s / travel)
        speed = float(np.linalg.norm(new_vel[:2]))
        if speed > max_speed_mps:
            new_vel[:2] *= max_speed_mps / speed
    return new_pose, new_vel


def height_m(phase: float, swing_height_m: float) -> float:
    """Sole height at swing phase 0..1: 64 s^3 (1-s)^3 peaks at 1 mid-swing."""
    s = float(np.clip(phase, 0.0, 1.0))
    return swing_height_m * 64.0 * s**3 * (1.0 - s) ** 3
