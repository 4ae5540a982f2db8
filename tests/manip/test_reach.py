import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.manip.arm import ArmKinematics, IkError
from humanoid_teleop.manip.reach import ReachConfig, palm_path, plan_reach, ready_pose_rad


def test_palm_path_is_straight_and_ends_on_the_points():
    path = palm_path(np.zeros(3), np.array([[0.1, 0, 0], [0.1, 0.1, 0]]), 0.5, 0.1)
    np.testing.assert_allclose(path[0], 0)
    np.testing.assert_allclose(path[-1], [0.1, 0.1, 0])
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    assert steps.max() <= 0.05 + 1e-12


def test_ready_poses_are_mirrored_and_in_limits():
    right, left = ready_pose_rad("right"), ready_pose_rad("left")
    lo, hi = g1.POSITION_LIMITS_RAD.T
    assert np.all((right >= lo) & (right <= hi)) and np.all((left >= lo) & (left <= hi))
    kin_r = ArmKinematics("right")
    kin_l = ArmKinematics("left", model=kin_r.model)
    p_r, p_l = kin_r.forward(right)[:3, 3], kin_l.forward(left)[:3, 3]
    np.testing.assert_allclose(p_r * [1, -1, 1], p_l, atol=0.01)  # mirror images in y


@pytest.mark.sim
def test_plan_reach_validates_in_the_twin():
    start = ArmKinematics("right").forward(ready_pose_rad("right"))[:3, 3]
    points = start + np.array([[0.08, 0.0, 0.10], [0.08, 0.08, 0.10]])
    report = plan_reach(points, ReachConfig())
    assert report["ik_max_position_error_m"] < 0.01
    assert report["passed"], report["validation"]
    assert np.asarray(report["q_traj_rad"]).shape[1] == g1.NUM_JOINTS


def test_plan_reach_refuses_unreachable_points():
    with pytest.raises(IkError):
        plan_reach(np.array([[1.0, -0.2, 0.0]]))
