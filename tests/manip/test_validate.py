import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.manip.arm import ArmKinematics
from humanoid_teleop.manip.validate import (
    ArmTrajectoryController,
    ArmValidationConfig,
    validate_arm_trajectory,
)


def _reach_motion(n=41):
    """The right arm out in front of the body, then a 2 s loop through all seven joints."""
    t = np.linspace(0, 1, n)[:, None]
    q = np.tile(g1.DEFAULT_POSE_RAD, (n, 1))
    q[:, g1.RIGHT_ARM] += np.array([-0.5, -0.3, 0, -0.3, 0, 0, 0]) + np.sin(2 * np.pi * t) * (
        np.array([-0.4, -0.2, 0.3, -0.4, 0.3, 0.2, 0.2])
    )
    return q


def test_reference_blends_in_then_interpolates_and_holds():
    q = _reach_motion(5)
    c = ArmTrajectoryController(q, 0.5, lead_in_s=1.0, arm_joints=g1.RIGHT_ARM)
    start = g1.DEFAULT_POSE_RAD[g1.RIGHT_ARM]
    np.testing.assert_allclose(c.reference(0.0), start)
    np.testing.assert_allclose(c.reference(1.0), q[0, g1.RIGHT_ARM])
    np.testing.assert_allclose(c.reference(1.25), (q[0] + q[1])[g1.RIGHT_ARM] / 2)
    np.testing.assert_allclose(c.reference(10.0), q[-1, g1.RIGHT_ARM])
    assert c.duration_s == pytest.approx(3.0)
    bad = q.copy()
    bad[2, g1.RIGHT_ARM.start + 3] = 3.0  # elbow beyond its limit
    with pytest.raises(ValueError):
        ArmTrajectoryController(bad, 0.5)


@pytest.mark.sim
def test_reachable_arm_motion_validates_standing():
    report = validate_arm_trajectory(_reach_motion(), 0.05)
    print(report.to_dict())
    assert report.upright and report.fall_time_s is None
    assert report.max_tracking_error_rad < ArmValidationConfig().tracking_tolerance_rad
    assert report.max_torque_ratio < 1.0
    assert report.passed and not report.safety_fault
    assert report.q_measured_rad.shape[1] == g1.NUM_JOINTS


@pytest.mark.sim
def test_ik_plan_runs_in_the_twin():
    """Palm targets -> IK -> twin: the executed palm ends within 2 cm of the last target."""
    kin = ArmKinematics("right")
    q_goal = g1.DEFAULT_POSE_RAD.copy()
    q_goal[g1.RIGHT_ARM] += [-0.8, -0.3, 0.2, -0.5, 0.0, 0.0, 0.0]
    start, goal = kin.forward(_reach_motion()[0]), kin.forward(q_goal)
    targets = np.stack([start] * 10)
    targets[:, :3, 3] = np.linspace(start[:3, 3], goal[:3, 3], 10)
    q_traj, _ = kin.solve_trajectory(targets, _reach_motion()[0], use_orientation=False)
    report = validate_arm_trajectory(q_traj, 0.2)
    assert report.passed, report.to_dict()
    measured = report.q_measured_rad[-1]
    arm_only = q_traj[-1].copy()
    arm_only[g1.RIGHT_ARM] = measured[g1.RIGHT_ARM]
    arm_err_m = float(np.linalg.norm(kin.forward(arm_only)[:3, 3] - goal[:3, 3]))
    # The waist is balancing too (a few hundredths of a radian of pitch), which moves the
    # shoulder; in the pelvis frame the palm is still within 2 cm.
    body_err_m = float(np.linalg.norm(kin.forward(measured)[:3, 3] - goal[:3, 3]))
    print(f"twin palm error at the end: arm {arm_err_m * 1000:.1f} mm, "
          f"whole body {body_err_m * 1000:.1f} mm")  # fmt: skip
    assert arm_err_m < 0.01
    assert body_err_m < 0.02


@pytest.mark.sim
def test_too_fast_motion_fails_tracking_but_reports():
    q = np.tile(g1.DEFAULT_POSE_RAD, (3, 1))
    q[:, g1.RIGHT_ARM] += [-0.5, -0.3, 0, -0.3, 0, 0, 0]
    q[1, g1.RIGHT_ARM.start] -= 1.5  # a 1.5 rad shoulder swing within 0.04 s and back
    report = validate_arm_trajectory(q, 0.02)
    assert not report.passed
    assert report.max_tracking_error_rad > ArmValidationConfig().tracking_tolerance_rad


@pytest.mark.sim
def test_validation_writes_a_preview_video(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "preview" / "arm.mp4"
    report = validate_arm_trajectory(_reach_motion(), 0.05, video=path)
    assert report.passed
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == pytest.approx(report.duration_s * 25, abs=2)
