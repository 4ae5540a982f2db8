import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from humanoid_teleop.manip.geometry import (
    GeometryError,
    GripperConfig,
    GripperStateEstimator,
    align_depth_scale_shift,
    apply_transform,
    finger_centroid_distance_m,
    fuse_poses,
    gripper_config_for_object,
    gripper_preset,
    make_transform,
    pointmap_from_depth,
    project_points,
    reproject_pixels,
)

K = np.array([[120.0, 0.0, 31.5], [0.0, 110.0, 23.5], [0.0, 0.0, 1.0]])


def test_pointmap_projects_back_to_its_pixels():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 2.0, (48, 64))
    depth[3, 4] = 0.0
    depth[5, 6] = np.nan
    pm = pointmap_from_depth(depth, K)
    assert pm.shape == (48, 64, 3)
    assert np.all(np.isnan(pm[3, 4])) and np.all(np.isnan(pm[5, 6]))
    np.testing.assert_allclose(pm[10, 20, 2], depth[10, 20])
    v, u = np.mgrid[0:48, 0:64]
    uv = project_points(pm.reshape(-1, 3), K).reshape(48, 64, 2)
    ok = np.isfinite(depth) & (depth > 0)
    np.testing.assert_allclose(uv[ok][:, 0], u[ok], atol=1e-9)
    np.testing.assert_allclose(uv[ok][:, 1], v[ok], atol=1e-9)


def test_reprojection_between_calibrated_views():
    rng = np.random.default_rng(2)
    T_b_a = make_transform(Rotation.from_euler("xyz", [0.05, -0.2, 0.1]).as_matrix(),
                           [0.3, -0.05, 0.1])  # fmt: skip
    K_b = np.array([[200.0, 0.0, 40.0], [0.0, 200.0, 30.0], [0.0, 0.0, 1.0]])
    points_a = np.stack([rng.uniform(-0.3, 0.3, 50), rng.uniform(-0.2, 0.2, 50),
                         rng.uniform(1.0, 2.0, 50)], axis=1)  # fmt: skip
    uv_a = project_points(points_a, K)
    uv_b, points_b = reproject_pixels(uv_a, points_a[:, 2], K, K_b, T_b_a)
    np.testing.assert_allclose(points_b, apply_transform(T_b_a, points_a), atol=1e-9)
    np.testing.assert_allclose(uv_b, project_points(points_b, K_b), atol=1e-9)
    # Identity extrinsics and equal intrinsics: every pixel maps to itself.
    uv_same, _ = reproject_pixels(uv_a, points_a[:, 2], K, K, np.eye(4))
    np.testing.assert_allclose(uv_same, uv_a, atol=1e-9)


def test_depth_alignment_recovers_known_scale_and_shift():
    rng = np.random.default_rng(3)
    metric = rng.uniform(0.6, 1.5, (40, 50))
    scale, shift = 2.5, -0.3
    predicted = (metric - shift) / scale
    # Outside the mask the prediction is garbage: the fit must only use masked pixels.
    mask = np.zeros_like(metric, dtype=bool)
    mask[10:30, 15:35] = True
    predicted[~mask] = rng.uniform(0, 10, (~mask).sum())
    fit = align_depth_scale_shift(predicted, metric, mask)
    assert fit.scale == pytest.approx(scale, rel=1e-9)
    assert fit.shift_m == pytest.approx(shift, abs=1e-9)
    assert fit.num_pixels == mask.sum() and fit.rms_residual_m < 1e-9
    np.testing.assert_allclose(fit.apply(predicted)[mask], metric[mask])
    noisy = align_depth_scale_shift(predicted, metric + rng.normal(0, 0.005, metric.shape), mask)
    assert noisy.scale == pytest.approx(scale, rel=0.02)
    with pytest.raises(GeometryError):
        align_depth_scale_shift(np.ones((5, 5)), metric[:5, :5])


def test_pose_fusion_weights_by_confidence():
    Ra = Rotation.from_euler("z", 0.0)
    Rb = Rotation.from_euler("z", 0.4)
    Ta = make_transform(Ra.as_matrix(), [0.0, 0.0, 1.0])
    Tb = make_transform(Rb.as_matrix(), [0.4, 0.0, 1.0])
    fused = fuse_poses(Ta, 3.0, Tb, 1.0)
    np.testing.assert_allclose(fused[:3, 3], [0.1, 0.0, 1.0])
    yaw = Rotation.from_matrix(fused[:3, :3]).as_euler("xyz")[2]
    assert yaw == pytest.approx(0.1, abs=2e-3)  # chordal mean ~ weighted angle for small spread
    np.testing.assert_allclose(fuse_poses(Ta, 0.0, Tb, 2.0), Tb, atol=1e-12)
    with pytest.raises(GeometryError):
        fuse_poses(Ta, 0.0, Tb, 0.0)


def test_gripper_hysteresis():
    a = np.array([[0.0, 0.0, 0.0], [0.0, 0.02, 0.0]])
    assert finger_centroid_distance_m(a, a + [0.08, 0, 0]) == pytest.approx(0.08)
    est = GripperStateEstimator(GripperConfig(threshold_m=0.04, hysteresis_m=0.01))
    # Open -> closes only below 0.035; stays closed in the band; opens only above 0.045.
    distances = [0.08, 0.039, 0.036, 0.034, 0.041, 0.044, 0.039, 0.046, 0.037, 0.03]
    closed = est.run(np.array(distances))
    expected = [False, False, False, True, True, True, True, False, False, True]
    np.testing.assert_array_equal(closed, expected)
    with pytest.raises(ValueError):
        GripperConfig(threshold_m=0.01, hysteresis_m=0.05)


def test_gripper_presets_are_per_task():
    """Holding a mug, the finger centroids are ~9.5 cm apart: closed for the mug task, but
    for a pinch task that is an open hand. A pinched pen (2.5 cm) is closed for both."""
    holding_mug = 0.08 + 0.015
    holding_pen = 0.01 + 0.015
    open_hand = 0.15
    mug, pinch = gripper_preset("mug"), gripper_preset("pinch")
    assert GripperStateEstimator(mug).run(np.array([open_hand, holding_mug]))[-1]
    assert not GripperStateEstimator(pinch).run(np.array([open_hand, holding_mug]))[-1]
    for config in (mug, pinch):
        assert GripperStateEstimator(config).run(np.array([open_hand, holding_pen]))[-1]
        assert not GripperStateEstimator(config, closed=True).update(open_hand)
    assert gripper_config_for_object(0.05).threshold_m == pytest.approx(0.075)
    with pytest.raises(ValueError, match="expected one of"):
        gripper_preset("juggle")
    with pytest.raises(ValueError):
        gripper_config_for_object(0.05, margin_m=0.0)
