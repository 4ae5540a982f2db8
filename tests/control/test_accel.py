"""PeriodMeanAccel: the accelerometer averaged over the control period."""

import math

import numpy as np
import pytest

from humanoid_teleop.control.accel import PeriodMeanAccel, quat_matrix


def _yaw_quat(yaw_rad: float) -> np.ndarray:
    return np.array([math.cos(yaw_rad / 2), 0.0, 0.0, math.sin(yaw_rad / 2)])


def test_the_mean_is_taken_in_the_world_frame_over_the_last_period():
    mean = PeriodMeanAccel(samples=2)
    assert np.allclose(mean.mean_b(_yaw_quat(0.0), [0.0, 0.0, 9.0]), [0.0, 0.0, 9.0])  # none yet
    # The IMU turns by 90 degrees between two samples of the same world-frame force (+x).
    mean.add(_yaw_quat(0.0), np.array([1.0, 0.0, 9.81]))
    mean.add(_yaw_quat(math.pi / 2), np.array([0.0, -1.0, 9.81]))
    assert np.allclose(mean.mean_b(_yaw_quat(0.0), None), [1.0, 0.0, 9.81])
    assert np.allclose(mean.mean_b(_yaw_quat(math.pi / 2), None), [0.0, -1.0, 9.81])
    mean.add(_yaw_quat(0.0), np.array([3.0, 0.0, 9.81]))  # the oldest sample drops out
    assert np.allclose(mean.mean_b(_yaw_quat(0.0), None), [2.0, 0.0, 9.81])
    mean.reset()
    assert np.allclose(mean.mean_b(_yaw_quat(0.0), [0.0, 0.0, 1.0]), [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="samples"):
        PeriodMeanAccel(samples=0)


def test_quat_matrix_is_a_rotation():
    q = np.array([0.9, 0.1, -0.3, 0.2])
    R = quat_matrix(q / np.linalg.norm(q))
    assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
    assert np.allclose(quat_matrix(_yaw_quat(math.pi / 2)) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
