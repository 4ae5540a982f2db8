"""The arm-plan job without models: palm waypoints -> IK joint trajectory -> twin validation.

What ``humanoid-teleop plan arm`` runs; planners that produce object trajectories feed the
same path through ``arm.retarget_object_trajectory``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.manip.arm import ArmKinematics, Side
from humanoid_teleop.manip.validate import ArmValidationConfig, validate_arm_trajectory

# Arm offsets from the default pose that put the hand in front of the body, clear of the
# hip (at the home pose the wrist rests on it): shoulder forward and out, elbow opened.
_READY_OFFSET_RIGHT_RAD = np.array([-0.5, -0.3, 0.0, -0.3, 0.0, 0.0, 0.0])
_MIRRORED = np.array([1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -1.0])  # roll/yaw flip sign left-right


def ready_pose_rad(side: Side) -> np.ndarray:
    """(29,) the default pose with one arm raised in front of the body, clear of the hip."""
    q = g1.DEFAULT_POSE_RAD.copy()
    if side == "right":
        q[g1.RIGHT_ARM] += _READY_OFFSET_RIGHT_RAD
    else:
        q[g1.LEFT_ARM] += _READY_OFFSET_RIGHT_RAD * _MIRRORED
    return q


@dataclass(frozen=True)
class ReachConfig:
    side: Side = "right"
    speed_mps: float = 0.15  # palm speed along the straight segments
    waypoint_dt_s: float = 0.1
    validation: ArmValidationConfig = field(default_factory=ArmValidationConfig)

    def __post_init__(self):
        if self.side not in ("left", "right"):
            raise ValueError(f"side: expected 'left' or 'right', got {self.side!r}")
        if not (self.speed_mps > 0 and self.waypoint_dt_s > 0):
            raise ValueError("speed_mps and waypoint_dt_s must be > 0")
        if self.validation.arm != self.side:
            raise ValueError(f"validation.arm ({self.validation.arm}) must be {self.side!r}")


def palm_path(start_pelvis_m: np.ndarray, points_pelvis_m: np.ndarray, speed_mps: float,
              dt_s: float) -> np.ndarray:  # fmt: skip
    """Straight segments start -> points[0] -> ... at ``speed_mps``, sampled every ``dt_s``:
    (T, 3), first row the start, last row the last point."""
    pts = np.vstack([np.reshape(start_pelvis_m, (1, 3)), np.reshape(points_pelvis_m, (-1, 3))])
    out = [pts[0]]
    for a, b in itertools.pairwise(pts):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / (speed_mps * dt_s))))
        out.extend(a + (b - a) * k / n for k in range(1, n + 1))
    return np.array(out)


@dataclass(frozen=True)
class ReachTrajectory:
    palm_path_pelvis_m: np.ndarray  # (T, 3) the palm's path, first row its ready position
    q_traj_rad: np.ndarray  # (T, 29) one row per waypoint, ``waypoint_dt_s`` apart
    ik_max_position_error_m: float


def reach_trajectory(
    points_m: np.ndarray, config: ReachConfig | None = None, *, relative: bool = False
) -> ReachTrajectory:
    """The joint trajectory moving the palm from its ready position through ``points_m``
    (N, 3): pelvis frame, or offsets from the ready position when ``relative``. Raises
    ``arm.IkError`` when a point is out of reach."""
    cfg = config or ReachConfig()
    points = np.asarray(points_m, dtype=float)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise ValueError(f"points_pelvis_m: expected (N >= 1, 3), got {points.shape}")
    kin = ArmKinematics(cfg.side)
    q0 = ready_pose_rad(cfg.side)
    start = kin.forward(q0)
    if relative:
        points = points + start[:3, 3]
    path = palm_path(start[:3, 3], points, cfg.speed_mps, cfg.waypoint_dt_s)
    targets = np.repeat(start[None], len(path), axis=0)
    targets[:, :3, 3] = path
    q_traj, results = kin.solve_trajectory(targets, q0, use_orientation=False)
    return ReachTrajectory(path, q_traj, max(r.position_error_m for r in results))


def plan_reach(
    points_pelvis_m: np.ndarray, config: ReachConfig | None = None, *, video: Path | None = None,
    relative: bool = False,
) -> dict:  # fmt: skip
    """Move the palm through ``points_pelvis_m`` (N, 3) (orientation free), validate in the twin.

    Returns a JSON-able report: the joint trajectory, the IK's worst position error, the
    twin's verdict. Raises ``arm.IkError`` when a point is out of reach. ``video``: write
    the twin's preview MP4 there. ``relative``: the points are offsets from the palm's
    ready position.
    """
    cfg = config or ReachConfig()
    reach = reach_trajectory(points_pelvis_m, cfg, relative=relative)
    report = validate_arm_trajectory(reach.q_traj_rad, cfg.waypoint_dt_s, cfg.validation,
                                     video=video)  # fmt: skip
    return {
        "side": cfg.side,
        "joint_names": list(g1.JOINT_NAMES),
        "waypoint_dt_s": cfg.waypoint_dt_s,
        "palm_path_pelvis_m": reach.palm_path_pelvis_m.tolist(),
        "q_traj_rad": reach.q_traj_rad.tolist(),
        "ik_max_position_error_m": reach.ik_max_position_error_m,
        "validation": report.to_dict(),
        "passed": report.passed,
    }
