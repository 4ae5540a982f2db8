import numpy as np
import pytest

from humanoid_teleop.manip.arm import rotation_angle_rad
from humanoid_teleop.manip.rigvid import imitate_object_motion
from humanoid_teleop.manip.validate import validate_arm_trajectory
from tests.manip.synthetic import K, carried_object_scene


@pytest.fixture(scope="module")
def scene():
    return carried_object_scene()


def test_object_video_to_arm_trajectory(scene):
    kin, q_path, hand, _, T_pelvis_cam, depths = scene
    mask = depths[0] < 1.0
    # A monocular model's depth: right up to an unknown scale and shift.
    relative = (depths - 0.2) / 3.0
    result = imitate_object_motion(
        relative, K, mask, T_pelvis_cam, hand[0], q_path[0], metric_first_depth_m=depths[0]
    )
    assert result.depth_alignment.scale == pytest.approx(3.0, rel=1e-6)
    assert result.depth_alignment.shift_m == pytest.approx(0.2, abs=1e-6)
    pos_err, rot_err = [], []
    for q, T in zip(result.q_traj_rad, hand):
        reached = kin.forward(q)
        pos_err.append(np.linalg.norm(reached[:3, 3] - T[:3, 3]))
        rot_err.append(np.degrees(rotation_angle_rad(reached[:3, :3], T[:3, :3])))
    print(f"object video -> palm: max {max(pos_err) * 1000:.1f} mm, {max(rot_err):.2f} deg")
    assert max(pos_err) < 0.01  # the retargeting + IK tolerance
    assert max(rot_err) < 5.0


@pytest.mark.sim
def test_imitated_motion_validates_in_the_twin(scene):
    _, q_path, hand, _, T_pelvis_cam, depths = scene
    result = imitate_object_motion(depths, K, depths[0] < 1.0, T_pelvis_cam, hand[0], q_path[0])
    report = validate_arm_trajectory(result.q_traj_rad, 0.1)
    print(report.to_dict())
    assert report.passed, report.to_dict()


def test_success_filter_regenerates_until_accepted():
    from humanoid_teleop.manip.rigvid import NoAcceptableVideoError, generate_until_accepted

    def generate(attempt):
        return [np.full((4, 4, 3), attempt, np.uint8) for _ in range(8)]

    seen = []

    def accept(summary):
        seen.append(summary.shape)
        return summary[0, 0, 0] == 2  # the third video is the good one

    video = generate_until_accepted(generate, accept)
    assert video.attempts == 3 and seen == [(8, 8, 3)] * 3
    with pytest.raises(NoAcceptableVideoError):
        generate_until_accepted(generate, lambda s: False)  # 1 + 5 attempts, all rejected
