import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from humanoid_teleop.manip.geometry import apply_transform, make_transform
from humanoid_teleop.manip.track import (
    IcpConfig,
    TrackingError,
    icp,
    kabsch,
    track_object,
)
from tests.manip.synthetic import K, object_points, render_depth


def _trajectory(n):
    """A smooth 6D path: ~5 mm and ~2 degrees per frame."""
    t = np.arange(n)
    rotvecs = np.stack([0.02 * t, 0.035 * np.sin(0.3 * t), 0.025 * t], axis=1)
    trans = np.stack([0.004 * t, -0.002 * t, 0.6 + 0.003 * np.sin(0.5 * t)], axis=1)
    return [make_transform(Rotation.from_rotvec(r).as_matrix(), p) for r, p in zip(rotvecs, trans)]


def test_kabsch_recovers_a_rigid_transform():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(30, 3))
    T = make_transform(Rotation.from_rotvec([0.3, -1.0, 2.0]).as_matrix(), [1.0, 2.0, -0.5])
    np.testing.assert_allclose(kabsch(src, apply_transform(T, src)), T, atol=1e-10)


def test_icp_converges_from_a_perturbed_start():
    model = object_points()[::5]
    T = make_transform(Rotation.from_rotvec([0.05, -0.04, 0.08]).as_matrix(), [0.01, -0.008, 0.006])
    result = icp(model, apply_transform(T, model), config=IcpConfig(max_iterations=100))
    np.testing.assert_allclose(result.T_target_source, T, atol=1e-4)
    assert result.inlier_fraction > 0.99
    with pytest.raises(TrackingError):
        icp(model, model + 1.0)  # nothing within the correspondence distance


@pytest.fixture(scope="module")
def synthetic_video():
    obj = object_points()
    truth = _trajectory(12)
    depths = np.stack([render_depth(apply_transform(T, obj)) for T in truth])
    return depths, truth


def test_tracking_recovers_known_6d_trajectory(synthetic_video):
    depths, truth = synthetic_video
    first_mask = depths[0] < 1.0  # the object is everything in front of the wall
    track = track_object(depths, K, first_mask)
    assert track.T_cam_obj.shape == (len(truth), 4, 4)
    motion = track.relative_motion()
    T0_inv = np.linalg.inv(truth[0])
    trans_err, rot_err = [], []
    for t, T in enumerate(truth):
        expected = T @ T0_inv
        trans_err.append(np.linalg.norm(motion[t, :3, 3] - expected[:3, 3]))
        dR = motion[t, :3, :3] @ expected[:3, :3].T
        rot_err.append(np.degrees(np.linalg.norm(Rotation.from_matrix(dR).as_rotvec())))
    print(f"ICP max error: {max(trans_err) * 1000:.2f} mm, {max(rot_err):.2f} deg")
    assert max(trans_err) < 0.005
    assert max(rot_err) < 2.0
    # The object's origin moves like the true object's centre of the first frame's points.
    assert track.rms_m[1:].max() < 0.003
