"""Leg odometry: the pelvis velocity from encoders + IMU against the twin's ground truth."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.contracts import Mode, RobotCommand, VelocityCommand
from humanoid_teleop.odometry import BaseVelocityEstimator, LegOdometry
from humanoid_teleop.sim.expert import WalkingExpert
from humanoid_teleop.sim.robot import MujocoRobot


def _walk(command: VelocityCommand, seconds: float):
    """The expert walks the twin; returns per-tick (sensor tuples, true pelvis-frame velocity)."""
    robot = MujocoRobot()
    robot.connect()
    state = robot.read_state()
    expert = WalkingExpert()
    expert.reset(state)
    sensors, truth = [], []
    for k in range(round(seconds / expert.control_dt_s)):
        chunk = expert.act(state, VelocityCommand() if k < 25 else command)
        robot.send(RobotCommand(state.timestamp_s, Mode.ACTIVE, g1.JOINT_NAMES, chunk.q_rad[0],
                                chunk.dq_radps[0], chunk.tau_ff_nm[0], chunk.kp, chunk.kd))  # fmt: skip
        state = robot.read_state()
        sensors.append((state.q_rad, state.dq_radps, state.imu.gyro_b_radps,
                        state.imu.projected_gravity_b))  # fmt: skip
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, state.base.quat_wxyz)
        truth.append(rot.reshape(3, 3).T @ state.base.lin_vel_w_mps)
    assert state.base.pos_w_m[2] > 0.6, "the expert fell: the comparison means nothing"
    return sensors, np.array(truth)


def test_standing_still_reads_zero():
    sensors, truth = _walk(VelocityCommand(), 2.0)
    v = BaseVelocityEstimator().series(*map(np.array, zip(*sensors)))
    assert np.abs(v[-25:]).max() < 0.03
    assert np.abs(truth[-25:]).max() < 0.03


@pytest.mark.sim
@pytest.mark.parametrize("command", [VelocityCommand(0.3, 0.0, 0.0), VelocityCommand(0.0, 0.15, 0.0)])
def test_walking_velocity_matches_the_twin(command):
    sensors, truth = _walk(command, 6.0)
    estimator = BaseVelocityEstimator()
    v = np.array([estimator.update(*s) for s in sensors])
    window = slice(150, None)  # walking at speed
    mean_err = np.abs(v[window].mean(axis=0) - truth[window].mean(axis=0))
    # Measured: 0.21 against 0.27 m/s forward (blending the trailing sole in during push-off
    # pulls the estimate down; a 2 mm blend gave 0.25 but follows the steps less well), and
    # within 0.01 sideways.
    assert mean_err[:2].max() < 0.08, (v[window].mean(axis=0), truth[window].mean(axis=0))
    # Tick by tick it follows the step rhythm, not just the mean.
    axis = 0 if command.vx_mps else 1
    assert np.corrcoef(v[window, axis], truth[window, axis])[0, 1] > 0.5
    # ``series`` is the same filter run over a recording (how datasets derive the term).
    np.testing.assert_allclose(BaseVelocityEstimator().series(*map(np.array, zip(*sensors))), v)


def test_rejects_bad_shapes_and_settings():
    with pytest.raises(ValueError, match="alpha"):
        BaseVelocityEstimator(alpha=0.0)
    with pytest.raises(ValueError, match="blend_m"):
        LegOdometry(blend_m=0.0)
    with pytest.raises(ValueError, match="expected"):
        BaseVelocityEstimator().series(np.zeros((5, 12)), np.zeros((5, 12)), np.zeros((5, 3)),
                                       np.zeros((5, 3)))  # fmt: skip
