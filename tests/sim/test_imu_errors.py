"""The twin's IMU with a real part's errors (sim/imu_errors.py): what it reports at rest."""

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.contracts import Mode, RobotCommand
from humanoid_teleop.control.accel import quat_matrix
from humanoid_teleop.sim.imu_errors import ImuErrors
from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

NO_NOISE = {"gyro_noise_radps": 0.0, "accel_noise_mps2": 0.0, "tilt_noise_rad": 0.0}


def _twins(errors: ImuErrors | None, seconds: float, imu_seed: int = 0):
    """The exact twin and one with IMU errors, driven alike (the errors touch only what the
    IMU reports, not the physics); returns both last states."""
    states = []
    for config in (MujocoRobotConfig(), MujocoRobotConfig(imu_errors=errors)):
        robot = MujocoRobot(config)
        robot.reset(imu_seed=imu_seed)
        robot.connect()
        hold = RobotCommand(0.0, Mode.ACTIVE, g1.JOINT_NAMES, np.array(g1.HOME_POSE_RAD),
                            np.zeros(g1.NUM_JOINTS), np.zeros(g1.NUM_JOINTS),
                            np.array(g1.STAND_KP), np.array(g1.STAND_KD))  # fmt: skip
        for _ in range(round(seconds / config.control_dt_s)):
            robot.send(hold)
        states.append(robot.read_state())
    return states, robot._imu_errors


def test_rejects_negative_or_non_finite_errors():
    with pytest.raises(ValueError, match="tilt_bias_rad"):
        ImuErrors(tilt_bias_rad=-0.01)
    with pytest.raises(ValueError, match="gyro_noise_radps"):
        ImuErrors(gyro_noise_radps=float("nan"))


def test_the_imu_reports_its_biases_and_attitude_error():
    errors = ImuErrors(**NO_NOISE, gyro_bias_radps=0.01, accel_bias_mps2=0.1, tilt_bias_rad=0.02)
    (exact, off), drawn = _twins(errors, 1.0, imu_seed=7)
    assert np.array_equal(exact.q_rad, off.q_rad)  # the same physics
    assert np.allclose(off.imu.gyro_b_radps - exact.imu.gyro_b_radps, drawn.gyro_bias, atol=1e-9)
    # The reported attitude is off by the drawn tilt, and its yaw drifted with the z bias.
    error = quat_matrix(exact.imu.quat_wxyz).T @ quat_matrix(off.imu.quat_wxyz)
    assert np.arccos(error[2, 2]) == pytest.approx(np.linalg.norm(drawn.tilt_bias), rel=1e-3)
    yaw_drift = np.arctan2(error[1, 0], error[0, 0])
    assert yaw_drift == pytest.approx(drawn.gyro_bias[2] * exact.timestamp_s, abs=1e-4)
    assert np.allclose(off.imu.accel_b_mps2 - exact.imu.accel_b_mps2, drawn.accel_bias, atol=2e-3)


def test_errors_are_drawn_per_seed_and_repeat_for_the_same_seed():
    reports = [_twins(ImuErrors(), 0.1, imu_seed=seed)[0][1].imu for seed in (1, 2, 1)]
    assert np.array_equal(reports[0].accel_b_mps2, reports[2].accel_b_mps2)
    assert np.array_equal(reports[0].gyro_b_radps, reports[2].gyro_b_radps)
    assert not np.array_equal(reports[0].accel_b_mps2, reports[1].accel_b_mps2)


def test_before_any_physics_step_the_accelerometer_is_biased_too():
    """A held robot (sim-robot before its first command) publishes states without stepping."""
    errors = ImuErrors(**NO_NOISE)
    exact, off = MujocoRobot(), MujocoRobot(MujocoRobotConfig(imu_errors=errors))
    for robot in (exact, off):
        robot.reset(imu_seed=4)
        robot.connect()
    bias = off.read_state().imu.accel_b_mps2 - exact.read_state().imu.accel_b_mps2
    assert np.allclose(bias, off._imu_errors.accel_bias, atol=1e-9)
