import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from humanoid_teleop import g1
from humanoid_teleop.manip.arm import (
    Action,
    ArmKinematics,
    BacktrackMonitor,
    IkError,
    MonitorConfig,
    execute_with_backtracking,
    retarget_object_trajectory,
    rotation_angle_rad,
)
from humanoid_teleop.manip.geometry import make_transform


@pytest.fixture(scope="module")
def right_arm():
    return ArmKinematics("right")


def _reachable_poses(kin, n, seed, spread=0.6):
    """Palm poses produced by in-limit arm configurations: reachable by construction."""
    rng = np.random.default_rng(seed)
    poses = []
    for _ in range(n):
        q = g1.DEFAULT_POSE_RAD.copy()
        q[kin.arm_joints] += rng.uniform(-spread, spread, 7)
        lo, hi = g1.POSITION_LIMITS_RAD[kin.arm_joints].T
        q[kin.arm_joints] = np.clip(q[kin.arm_joints], lo + 0.05, hi - 0.05)
        poses.append(kin.forward(q))
    return poses


@pytest.mark.parametrize("side", ["right", "left"])
def test_ik_reaches_pose_targets_within_1cm(side, right_arm):
    kin = right_arm if side == "right" else ArmKinematics("left", model=right_arm.model)
    seed = g1.DEFAULT_POSE_RAD.copy()
    seed[g1.LEG_JOINTS] += 0.1  # other joints must come back untouched
    worst_m, worst_rad = 0.0, 0.0
    for T in _reachable_poses(kin, 15, seed=1 if side == "right" else 2):
        r = kin.solve(T[:3, 3], T[:3, :3], seed)
        assert r.converged
        reached = kin.forward(r.q_rad)
        worst_m = max(worst_m, float(np.linalg.norm(reached[:3, 3] - T[:3, 3])))
        worst_rad = max(worst_rad, rotation_angle_rad(reached[:3, :3], T[:3, :3]))
        other = np.ones(g1.NUM_JOINTS, bool)
        other[kin.arm_joints] = False
        np.testing.assert_array_equal(r.q_rad[other], seed[other])
        lo, hi = g1.POSITION_LIMITS_RAD.T
        assert np.all((r.q_rad >= lo) & (r.q_rad <= hi))
    print(f"IK {side}: worst {worst_m * 1000:.2f} mm, {np.degrees(worst_rad):.2f} deg")
    assert worst_m < 0.01 and np.degrees(worst_rad) < 3.0


def test_ik_respects_limits_on_unreachable_targets(right_arm):
    r = right_arm.solve(np.array([1.0, -0.2, 0.0]))  # a metre ahead: out of reach
    assert not r.converged and r.position_error_m > 0.3
    lo, hi = g1.POSITION_LIMITS_RAD[g1.RIGHT_ARM].T
    assert np.all((r.q_rad[g1.RIGHT_ARM] >= lo) & (r.q_rad[g1.RIGHT_ARM] <= hi))
    with pytest.raises(IkError):
        right_arm.solve_trajectory(np.array([make_transform(np.eye(3), [1.0, -0.2, 0.0])]),
                                   use_orientation=False)  # fmt: skip


def test_retargeting_keeps_the_grasp_and_ik_follows_it(right_arm):
    # A smooth hand motion from joint space (reachable), an object rigidly held in the hand.
    t = np.linspace(0, 1, 12)[:, None]
    q_path = np.tile(g1.DEFAULT_POSE_RAD, (len(t), 1))
    q_path[:, g1.RIGHT_ARM] += t * np.array([-0.6, -0.2, 0.3, -0.5, 0.2, 0.1, 0.0])
    hand = np.stack([right_arm.forward(q) for q in q_path])
    T_hand_obj = make_transform(Rotation.from_euler("xyz", [0.2, -0.1, 0.3]).as_matrix(),
                                [0.05, 0.0, 0.02])  # fmt: skip
    objects = hand @ T_hand_obj
    grasp = 3
    targets = retarget_object_trajectory(objects, hand[grasp], grasp_index=grasp)
    np.testing.assert_allclose(targets, hand, atol=1e-9)
    q_traj, _ = right_arm.solve_trajectory(targets)
    assert q_traj.shape == (len(t), g1.NUM_JOINTS)
    worst = 0.0
    for q, target in zip(q_traj, targets):
        reached = right_arm.forward(q) @ T_hand_obj
        worst = max(worst, float(np.linalg.norm(reached[:3, 3] - (target @ T_hand_obj)[:3, 3])))
    print(f"retargeted object worst position error {worst * 1000:.2f} mm")
    assert worst < 0.01
    # Continuity: the warm-started solution moves the joints smoothly.
    assert np.abs(np.diff(q_traj[:, g1.RIGHT_ARM], axis=0)).max() < 0.3


def _plan(n=6):
    return np.stack([make_transform(np.eye(3), [0.3 + 0.02 * i, -0.2, 0.1]) for i in range(n)])


def _moved(T, dpos=(0.0, 0.0, 0.0), rot_deg=0.0):
    R = Rotation.from_euler("z", rot_deg, degrees=True).as_matrix() @ T[:3, :3]
    return make_transform(R, T[:3, 3] + np.asarray(dpos))


def test_backtracking_monitor_on_scripted_deviations():
    plan = _plan()
    mon = BacktrackMonitor(plan, MonitorConfig(max_consecutive_backtracks=2))
    script = [
        (_moved(plan[0], (0.01, 0, 0)), Action.ADVANCE, 1),  # 1 cm off: on plan
        (_moved(plan[1], rot_deg=15), Action.ADVANCE, 2),  # 15 degrees: on plan
        (_moved(plan[2], (0, 0.035, 0)), Action.BACKTRACK, 1),  # 3.5 cm: back to waypoint 1
        (plan[1], Action.ADVANCE, 2),
        (_moved(plan[2], rot_deg=25), Action.BACKTRACK, 1),  # 25 degrees: back again
        (plan[1], Action.ADVANCE, 2),
        (plan[2], Action.ADVANCE, 3),
        (plan[3], Action.ADVANCE, 4),
        (plan[4], Action.ADVANCE, 5),
        (plan[5], Action.DONE, 5),
    ]
    for observed, action, waypoint in script:
        checked = mon.waypoint
        d = mon.observe(observed)
        assert (d.action, d.waypoint, d.checked_waypoint) == (action, waypoint, checked)
    with pytest.raises(RuntimeError):
        mon.observe(plan[5])


def test_monitor_aborts_after_repeated_deviations():
    plan = _plan()
    mon = BacktrackMonitor(plan, MonitorConfig(max_consecutive_backtracks=2))
    assert mon.observe(plan[0]).action is Action.ADVANCE
    lost = _moved(plan[1], (0.1, 0, 0))
    actions = [mon.observe(lost).action for _ in range(3)]
    assert actions == [Action.BACKTRACK, Action.BACKTRACK, Action.ABORT]
    assert mon.waypoint == 0  # the last good waypoint


def test_closed_loop_execution_backtracks_then_completes():
    plan = _plan(5)
    state = {"at": None, "knocked": False}

    def move_to(i):
        state["at"] = i

    def observe():
        i = state["at"]
        if i == 3 and not state["knocked"]:  # the object slips once at waypoint 3
            state["knocked"] = True
            return _moved(plan[i], (0.05, 0, 0))
        return plan[i]

    result = execute_with_backtracking(plan, move_to, observe)
    assert result.outcome is Action.DONE
    assert result.waypoints_commanded == (0, 1, 2, 3, 2, 3, 4)
    assert result.backtracks == 1


def test_closed_loop_execution_aborts_when_the_object_is_lost():
    plan = _plan(4)
    result = execute_with_backtracking(
        plan, lambda i: None, lambda: _moved(plan[0], (0.2, 0, 0)),
        MonitorConfig(max_consecutive_backtracks=1),
    )  # fmt: skip
    assert result.outcome is Action.ABORT
    assert result.waypoints_commanded == (0, 0)
