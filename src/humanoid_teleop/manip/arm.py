"""G1 arm kinematics for manipulation plans: inverse kinematics on the twin's MuJoCo model,
retargeting of an object trajectory to hand targets, and the backtracking monitor.

Frames: the IK works in the pelvis frame (its own MjData keeps the floating base at the
origin, unrotated), so targets are ``*_pelvis`` and independent of where the robot stands.
The end effector is the MJCF's palm site (``right_palm`` / ``left_palm``). Only the seven
joints of the chosen arm move; every other joint keeps the value it was given.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from humanoid_teleop import g1
from humanoid_teleop.manip.geometry import make_transform
from humanoid_teleop.sim.model import ModelIndex, build_model

Side = Literal["left", "right"]


class IkError(RuntimeError):
    """A target the arm could not reach within tolerance."""


@dataclass(frozen=True)
class IkConfig:
    damping: float = 0.05  # DLS lambda: trades exactness for bounded steps near singularities
    max_iterations: int = 200
    position_tolerance_m: float = 0.002
    rotation_tolerance_rad: float = np.deg2rad(2.0)
    rotation_weight_m_per_rad: float = 0.1  # 1 rad of orientation error counts as 10 cm
    max_step_rad: float = 0.2  # per iteration, per joint: keeps the linearisation valid
    limit_margin_rad: float = 0.02  # stay this far inside the position limits

    def __post_init__(self):
        for name in ("damping", "position_tolerance_m", "rotation_tolerance_rad",
                     "rotation_weight_m_per_rad", "max_step_rad"):  # fmt: skip
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: expected > 0, got {getattr(self, name)}")
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations: expected >= 1, got {self.max_iterations}")
        if self.limit_margin_rad < 0:
            raise ValueError(f"limit_margin_rad: expected >= 0, got {self.limit_margin_rad}")


@dataclass(frozen=True)
class IkResult:
    q_rad: np.ndarray  # (29,) motor order; only the arm's seven joints differ from the seed
    position_error_m: float
    rotation_error_rad: float  # 0 when no orientation was asked for
    iterations: int
    converged: bool


def rotation_angle_rad(R_a: np.ndarray, R_b: np.ndarray) -> float:
    """The angle of the rotation taking ``R_b`` to ``R_a``."""
    return float(np.linalg.norm(Rotation.from_matrix(R_a @ R_b.T).as_rotvec()))


class ArmKinematics:
    """Forward and inverse kinematics of one G1 arm on the project's MuJoCo model."""

    def __init__(
        self, side: Side = "right", config: IkConfig | None = None,
        model: mujoco.MjModel | None = None,
    ):  # fmt: skip
        if side not in ("left", "right"):
            raise ValueError(f"side: expected 'left' or 'right', got {side!r}")
        self.side = side
        self.config = config or IkConfig()
        self.model = model if model is not None else build_model("capsule")
        self.data = mujoco.MjData(self.model)
        self.index = ModelIndex.of(self.model)
        self.arm_joints = g1.RIGHT_ARM if side == "right" else g1.LEFT_ARM  # slice of the 29
        self._arm_dof = self.index.joint_dof[self.arm_joints]  # (7,) qvel columns
        self._site = self.model.site(f"{side}_palm").id
        lo, hi = g1.POSITION_LIMITS_RAD[self.arm_joints].T
        m = self.config.limit_margin_rad
        self._lo, self._hi = lo + m, hi - m
        self._jacp = np.zeros((3, self.model.nv))
        self._jacr = np.zeros((3, self.model.nv))

    def _set(self, q_rad: np.ndarray) -> None:
        self.data.qpos[:] = 0.0
        self.data.qpos[3] = 1.0  # floating base at the origin, unrotated: world = pelvis
        self.data.qpos[self.index.joint_qpos] = q_rad
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)

    def forward(self, q_rad: np.ndarray) -> np.ndarray:
        """(29,) joint positions -> (4, 4) palm pose in the pelvis frame."""
        q = self._joints(q_rad)
        self._set(q)
        site = self.data.site(self._site)
        return make_transform(site.xmat.reshape(3, 3).copy(), site.xpos.copy())

    @staticmethod
    def _joints(q_rad: np.ndarray) -> np.ndarray:
        q = np.asarray(q_rad, dtype=float)
        if q.shape != (g1.NUM_JOINTS,):
            raise ValueError(f"q_rad: expected ({g1.NUM_JOINTS},), got {q.shape}")
        return q.copy()

    def solve(
        self, target_pos_pelvis_m: np.ndarray, target_rot_pelvis: np.ndarray | None = None,
        q_seed_rad: np.ndarray | None = None,
    ) -> IkResult:  # fmt: skip
        """Damped least squares on the palm site's Jacobian, arm columns only, clamped to the
        joint limits every iteration (so the answer is always feasible, if not always exact).
        """
        cfg = self.config
        q = self._joints(g1.DEFAULT_POSE_RAD if q_seed_rad is None else q_seed_rad)
        q[self.arm_joints] = np.clip(q[self.arm_joints], self._lo, self._hi)
        p_target = np.asarray(target_pos_pelvis_m, dtype=float).reshape(3)
        R_target = None if target_rot_pelvis is None else np.asarray(target_rot_pelvis, float)
        w = cfg.rotation_weight_m_per_rad
        pos_err, rot_err, it = np.inf, 0.0, 0
        for it in range(cfg.max_iterations + 1):
            self._set(q)
            site = self.data.site(self._site)
            e_pos = p_target - site.xpos
            pos_err = float(np.linalg.norm(e_pos))
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self._site)
            J = self._jacp[:, self._arm_dof]
            e = e_pos
            if R_target is not None:
                R = site.xmat.reshape(3, 3)
                # World-frame rotation vector from the current to the target orientation,
                # which is what the world-frame rotational Jacobian maps joint rates to.
                e_rot = Rotation.from_matrix(R_target @ R.T).as_rotvec()
                rot_err = float(np.linalg.norm(e_rot))
                J = np.vstack([J, w * self._jacr[:, self._arm_dof]])
                e = np.concatenate([e_pos, w * e_rot])
            if pos_err < cfg.position_tolerance_m and rot_err < cfg.rotation_tolerance_rad:
                return IkResult(q, pos_err, rot_err, it, True)
            if it == cfg.max_iterations:
                break
            JJt = J @ J.T + cfg.damping**2 * np.eye(len(e))
            dq = J.T @ np.linalg.solve(JJt, e)
            dq *= min(1.0, cfg.max_step_rad / max(np.abs(dq).max(), 1e-12))
            q[self.arm_joints] = np.clip(q[self.arm_joints] + dq, self._lo, self._hi)
        return IkResult(q, pos_err, rot_err, it, False)

    def solve_trajectory(
        self, targets_pelvis: np.ndarray, q_seed_rad: np.ndarray | None = None,
        *, use_orientation: bool = True, require_converged: bool = True,
    ) -> tuple[np.ndarray, list[IkResult]]:  # fmt: skip
        """(T, 4, 4) palm targets -> ((T, 29) joint trajectory, per-waypoint results). Each
        waypoint is seeded with the previous answer, so the arm moves continuously."""
        targets = np.asarray(targets_pelvis, dtype=float)
        if targets.ndim != 3 or targets.shape[1:] != (4, 4):
            raise ValueError(f"targets_pelvis: expected (T, 4, 4), got {targets.shape}")
        q = self._joints(g1.DEFAULT_POSE_RAD if q_seed_rad is None else q_seed_rad)
        out, results = np.zeros((len(targets), g1.NUM_JOINTS)), []
        for t, T in enumerate(targets):
            r = self.solve(T[:3, 3], T[:3, :3] if use_orientation else None, q)
            if require_converged and not r.converged:
                raise IkError(
                    f"waypoint {t}: palm target {T[:3, 3]} missed by {r.position_error_m:.4f} m / "
                    f"{np.degrees(r.rotation_error_rad):.1f} deg after {r.iterations} iterations"
                )
            q = r.q_rad
            out[t] = q
            results.append(r)
        return out, results


def retarget_object_trajectory(
    T_base_obj: np.ndarray, T_base_hand_at_grasp: np.ndarray, grasp_index: int = 0
) -> np.ndarray:
    """Object poses (T, 4, 4) -> hand targets (T, 4, 4), all in one frame (e.g. the pelvis).

    Once grasped the object moves rigidly with the hand, so the hand-to-object transform
    observed at the grasp frame stays fixed: T_hand[t] = T_obj[t] @ inv(T_hand_obj).
    """
    objs = np.asarray(T_base_obj, dtype=float)
    if objs.ndim != 3 or objs.shape[1:] != (4, 4):
        raise ValueError(f"T_base_obj: expected (T, 4, 4), got {objs.shape}")
    if not 0 <= grasp_index < len(objs):
        raise ValueError(f"grasp_index: expected 0..{len(objs) - 1}, got {grasp_index}")
    T_hand_obj = np.linalg.inv(np.asarray(T_base_hand_at_grasp, float)) @ objs[grasp_index]
    return objs @ np.linalg.inv(T_hand_obj)


# -- closed-loop execution: the backtracking monitor -----------------------------------------


class Action(enum.Enum):
    ADVANCE = "advance"  # the object is where the plan says: go on to the next waypoint
    BACKTRACK = "backtrack"  # deviated: return to the last good waypoint and retry from there
    DONE = "done"  # the last waypoint was reached with the object on plan
    ABORT = "abort"  # deviated too many times in a row: stop, hand over to a person


@dataclass(frozen=True)
class MonitorConfig:
    position_tolerance_m: float = 0.03
    rotation_tolerance_rad: float = np.deg2rad(20.0)
    max_consecutive_backtracks: int = 3

    def __post_init__(self):
        if not (self.position_tolerance_m > 0 and self.rotation_tolerance_rad > 0):
            raise ValueError("tolerances must be > 0")
        if self.max_consecutive_backtracks < 0:
            raise ValueError(
                f"max_consecutive_backtracks: expected >= 0, got {self.max_consecutive_backtracks}"
            )


@dataclass(frozen=True)
class Decision:
    action: Action
    waypoint: int  # the waypoint the arm should go to next
    checked_waypoint: int  # the waypoint whose object pose was just checked
    position_deviation_m: float
    rotation_deviation_rad: float


class BacktrackMonitor:
    """Checks the tracked object after each waypoint against the plan's object pose.

    Usage: move the arm to ``monitor.waypoint``, observe the object, call ``observe``, and
    move to the decision's ``waypoint``. Waypoint 0 is the grasp; a deviation there retries it.
    """

    def __init__(self, planned_T_obj: np.ndarray, config: MonitorConfig | None = None):
        plan = np.asarray(planned_T_obj, dtype=float)
        if plan.ndim != 3 or plan.shape[1:] != (4, 4) or len(plan) == 0:
            raise ValueError(f"planned_T_obj: expected (T >= 1, 4, 4), got {plan.shape}")
        self.plan = plan
        self.config = config or MonitorConfig()
        self.waypoint = 0
        self.last_good = 0
        self.consecutive_backtracks = 0
        self.history: list[Decision] = []

    def deviation(self, waypoint: int, observed_T_obj: np.ndarray) -> tuple[float, float]:
        T = np.asarray(observed_T_obj, dtype=float)
        P = self.plan[waypoint]
        return (float(np.linalg.norm(T[:3, 3] - P[:3, 3])),
                rotation_angle_rad(T[:3, :3], P[:3, :3]))  # fmt: skip

    def observe(self, observed_T_obj: np.ndarray) -> Decision:
        cfg, i = self.config, self.waypoint
        if self.history and self.history[-1].action in (Action.DONE, Action.ABORT):
            raise RuntimeError(f"the monitor already finished: {self.history[-1].action.value}")
        pos_dev, rot_dev = self.deviation(i, observed_T_obj)
        on_plan = pos_dev <= cfg.position_tolerance_m and rot_dev <= cfg.rotation_tolerance_rad
        if on_plan:
            self.last_good, self.consecutive_backtracks = i, 0
            if i == len(self.plan) - 1:
                action, nxt = Action.DONE, i
            else:
                action, nxt = Action.ADVANCE, i + 1
        else:
            self.consecutive_backtracks += 1
            if self.consecutive_backtracks > cfg.max_consecutive_backtracks:
                action, nxt = Action.ABORT, self.last_good
            else:
                action, nxt = Action.BACKTRACK, self.last_good
        self.waypoint = nxt
        decision = Decision(action, nxt, i, pos_dev, rot_dev)
        self.history.append(decision)
        return decision


@dataclass(frozen=True)
class ExecutionResult:
    outcome: Action  # DONE or ABORT
    decisions: tuple[Decision, ...]
    waypoints_commanded: tuple[int, ...]  # in order, backtracks included

    @property
    def backtracks(self) -> int:
        return sum(d.action is Action.BACKTRACK for d in self.decisions)


def execute_with_backtracking(
    planned_T_obj: np.ndarray,
    move_to: Callable[[int], None],
    observe_T_obj: Callable[[], np.ndarray],
    config: MonitorConfig | None = None,
    *,
    max_steps: int | None = None,
) -> ExecutionResult:
    """Closed-loop execution of a plan: move the arm to a waypoint (``move_to(i)`` blocks
    until there), observe the tracked object, let the monitor decide, repeat.

    ``max_steps`` (default 4 x the plan length) bounds the loop: a plan that keeps
    backtracking and recovering would otherwise never end.
    """
    monitor = BacktrackMonitor(planned_T_obj, config)
    limit = 4 * len(monitor.plan) if max_steps is None else max_steps
    commanded: list[int] = []
    for _ in range(limit):
        commanded.append(monitor.waypoint)
        move_to(monitor.waypoint)
        decision = monitor.observe(observe_T_obj())
        if decision.action in (Action.DONE, Action.ABORT):
            return ExecutionResult(decision.action, tuple(monitor.history), tuple(commanded))
    raise RuntimeError(f"plan not finished after {limit} steps ({len(monitor.history)} checks)")
