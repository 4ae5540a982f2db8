"""The behavioural suite every Robot implementation passes (twin, DDS bridge, ...).

Subclass ``RobotSuite`` and provide a ``robot`` fixture returning an unconnected robot and
a ``advance`` method that lets robot time pass by about ``seconds``.
"""

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.contracts import Mode, RobotCommand, RobotState
from humanoid_teleop.control.robot import NotConnectedError, Robot

N = g1.NUM_JOINTS


def hold_command(t: float, q: np.ndarray) -> RobotCommand:
    return RobotCommand(t, Mode.ACTIVE, g1.JOINT_NAMES, q, np.zeros(N), np.zeros(N),
                        g1.STAND_KP, g1.STAND_KD)  # fmt: skip


class RobotSuite:
    def advance(self, robot, seconds: float, command: RobotCommand) -> None:
        raise NotImplementedError

    def test_satisfies_protocol(self, robot):
        assert isinstance(robot, Robot)

    def test_read_state_needs_connect(self, robot):
        with pytest.raises(NotConnectedError):
            robot.read_state()
        with pytest.raises(NotConnectedError):
            robot.send(RobotCommand.damping(0.0))

    def test_state_carries_g1_joints_and_a_sane_imu(self, robot):
        robot.connect()
        s0 = robot.read_state()
        self.advance(robot, 0.2, hold_command(s0.timestamp_s, s0.q_rad))
        s = robot.read_state()
        assert isinstance(s, RobotState)
        assert s.joint_names == g1.JOINT_NAMES
        assert s.imu.tilt_rad < 0.2
        assert np.linalg.norm(s.imu.accel_b_mps2) == pytest.approx(9.81, abs=1.5)
        assert robot.now_s() >= s.timestamp_s
        robot.disconnect()

    def test_time_moves_forward(self, robot):
        robot.connect()
        s0 = robot.read_state()
        self.advance(robot, 0.1, hold_command(s0.timestamp_s, s0.q_rad))
        s1 = robot.read_state()
        assert s1.timestamp_s > s0.timestamp_s
        assert s1.tick > s0.tick
        robot.disconnect()

    def test_send_returns_applied_command(self, robot):
        robot.connect()
        s = robot.read_state()
        cmd = hold_command(s.timestamp_s, s.q_rad)
        applied = robot.send(cmd)
        assert isinstance(applied, RobotCommand)
        np.testing.assert_allclose(applied.q_rad, cmd.q_rad, atol=1e-6)
        np.testing.assert_allclose(applied.kp, cmd.kp, atol=1e-6)
        damp = robot.send(RobotCommand.damping(s.timestamp_s))
        assert damp.mode is Mode.DAMPING and not damp.kp.any()
        with pytest.raises(TypeError):
            robot.send("stand still")
        robot.disconnect()

    def test_motor_law_pulls_a_joint_toward_its_target(self, robot):
        robot.connect()
        s = robot.read_state()
        k = g1.JOINT_INDEX["waist_yaw_joint"]  # vertical axis: no gravity load on it
        target = s.q_rad.copy()
        target[k] -= 0.3
        self.advance(robot, 0.5, hold_command(s.timestamp_s, target))
        after = robot.read_state()
        assert after.q_rad[k] == pytest.approx(target[k], abs=0.03)
        robot.disconnect()

    def test_disconnect_is_idempotent(self, robot):
        robot.connect()
        robot.disconnect()
        robot.disconnect()
        with pytest.raises(NotConnectedError):
            robot.read_state()
