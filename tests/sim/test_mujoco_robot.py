"""MujocoRobot passes the Robot suite in both clocks, and behaves like the G1's motors."""

import time

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.contracts import Mode, RobotCommand, VelocityCommand
from humanoid_teleop.control.loop import ControlLoop
from humanoid_teleop.control.safety import Safety
from humanoid_teleop.control.stand import StandController
from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig
from tests.control.robot_suite import RobotSuite, hold_command

N = g1.NUM_JOINTS


class TestLockstep(RobotSuite):
    @pytest.fixture
    def robot(self):
        return MujocoRobot(MujocoRobotConfig(clock="lockstep"))

    def advance(self, robot, seconds, command):
        for _ in range(round(seconds / robot.config.control_dt_s)):
            robot.send(command)


class TestRealtime(RobotSuite):
    @pytest.fixture
    def robot(self):
        robot = MujocoRobot(MujocoRobotConfig(clock="realtime"))
        yield robot
        robot.disconnect()

    def advance(self, robot, seconds, command):
        robot.send(command)
        time.sleep(seconds)


def test_lockstep_send_advances_one_control_period():
    robot = MujocoRobot()
    robot.connect()
    s = robot.read_state()
    robot.send(hold_command(s.timestamp_s, s.q_rad))
    assert robot.now_s() == pytest.approx(0.02)
    assert robot.read_state().tick == 10


def test_torque_is_clamped_to_the_limit_and_saturation_is_reported():
    robot = MujocoRobot()
    robot.connect()
    s = robot.read_state()
    k = g1.JOINT_INDEX["left_wrist_yaw_joint"]
    q = s.q_rad.copy()
    q[k] += 1.0
    kp = np.zeros(N)
    kp[k] = 100.0  # asks for 100 N m from a 5 N m motor
    robot.send(
        RobotCommand(0.0, Mode.ACTIVE, g1.JOINT_NAMES, q, np.zeros(N), np.zeros(N), kp, np.zeros(N))
    )
    applied = robot.read_state().tau_nm[k]
    assert abs(applied) == pytest.approx(5.0, rel=1e-6)
    assert robot.motor_stats.max_ratio == pytest.approx(20.0, rel=0.05)
    assert robot.motor_stats.saturated_steps > 0


def _feedforward_only(tau_nm: float, joint: int) -> RobotCommand:
    tau = np.zeros(N)
    tau[joint] = tau_nm
    zero = np.zeros(N)
    return RobotCommand(0.0, Mode.ACTIVE, g1.JOINT_NAMES, g1.DEFAULT_POSE_RAD, zero, tau, zero, zero)


@pytest.mark.parametrize("delay_s", [0.0, 0.03])
def test_a_command_delay_keeps_the_previous_command_in_the_motors(delay_s):
    """With command_delay_s 30 ms (1.5 control periods) a command reaches the motors in the
    middle of the period after next; without, at once. A reset drops what was in flight."""
    k = g1.JOINT_INDEX["left_wrist_yaw_joint"]
    robot = MujocoRobot(MujocoRobotConfig(command_delay_s=delay_s))
    robot.connect()
    in_motor = []
    for tau in (1.0, 2.0, 3.0):
        robot.send(_feedforward_only(tau, k))
        in_motor.append(robot.read_state().tau_nm[k])
    assert in_motor == ([1.0, 2.0, 3.0] if delay_s == 0 else [0.0, 1.0, 2.0])
    robot.reset()
    robot.send(_feedforward_only(4.0, k))
    assert robot.read_state().tau_nm[k] == (4.0 if delay_s == 0 else 0.0)
    with pytest.raises(ValueError, match="command_delay_s"):
        MujocoRobotConfig(command_delay_s=-0.01)


def test_disabled_motors_apply_no_torque():
    robot = MujocoRobot()
    robot.connect()
    s = robot.read_state()
    cmd = hold_command(s.timestamp_s, s.q_rad + 0.5)
    off = RobotCommand(cmd.timestamp_s, cmd.mode, g1.JOINT_NAMES, cmd.q_rad, cmd.dq_radps,
                       cmd.tau_ff_nm, cmd.kp, cmd.kd, motor_enabled=False)  # fmt: skip
    applied = robot.send(off)
    assert applied.mode is Mode.PASSIVE
    assert not np.any(robot.read_state().tau_nm)


def test_reset_puts_the_soles_on_the_floor_with_a_heading():
    robot = MujocoRobot()
    robot.reset("home", base_yaw_rad=1.0, base_xy_m=(2.0, -1.0))
    robot.connect()
    s = robot.read_state()
    assert s.base.yaw_rad == pytest.approx(1.0)
    np.testing.assert_allclose(s.base.pos_w_m[:2], [2.0, -1.0])
    assert s.base.pos_w_m[2] == pytest.approx(g1.HOME_PELVIS_HEIGHT_M, abs=0.01)


def test_zero_torque_robot_collapses_and_safety_damps_it():
    """Nothing valid -> the loop must end in damping, never keep pushing."""
    robot = MujocoRobot()
    robot.connect()
    safety = Safety()
    loop = ControlLoop(robot, StandController(), safety)
    safety.arm(robot.now_s())
    for _ in range(150):
        loop.tick(VelocityCommand())
    assert safety.mode is Mode.ACTIVE
    robot.push(np.array([400.0, 0.0, 0.0]), 0.3)  # a shove no stance survives
    for _ in range(150):
        record = loop.tick(VelocityCommand())
    assert (
        safety.mode is Mode.DAMPING and "tilt" in safety.last_fault or "speed" in safety.last_fault
    )
    assert record.command.mode is Mode.DAMPING and not record.command.kp.any()


def test_the_accelerometer_integrates_to_the_imus_velocity_change():
    """The accelerometer reports the mean specific force over the control period: over each
    tick it accounts for the IMU's velocity change even while the pushed robot collapses
    onto the floor (a single sample per tick: median error 0.058 m/s, worst 0.60)."""
    import mujoco

    from humanoid_teleop.sim.model import IMU_SITE

    robot = MujocoRobot()
    robot.connect()
    m, d = robot.model, robot.data
    site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, IMU_SITE)

    def imu_velocity_w():
        out = np.zeros(6)
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_SITE, site, out, 0)
        return out[3:]

    state, before, errors = robot.read_state(), imu_velocity_w(), []
    robot.push(np.array([150.0, 80.0, 0.0]), 0.1)
    for _ in range(100):
        robot.send(RobotCommand.damping(state.timestamp_s, Mode.DAMPING))
        state = robot.read_state()
        R = np.zeros(9)
        mujoco.mju_quat2Mat(R, state.imu.quat_wxyz)
        predicted = (R.reshape(3, 3) @ state.imu.accel_b_mps2 - [0.0, 0.0, 9.81]) * 0.02
        after = imu_velocity_w()
        errors.append(np.linalg.norm(after - before - predicted))
        before = after
    # The rest is the integrator's implicit joint damping at the impacts: 0.0028 / 0.10.
    assert np.median(errors) < 0.01 and max(errors) < 0.2


@pytest.mark.sim
def test_stand_controller_keeps_the_g1_upright_for_20_s():
    robot = MujocoRobot()
    robot.connect()
    safety = Safety()
    loop = ControlLoop(robot, StandController(), safety)
    safety.arm(robot.now_s())
    start_xy = robot.read_state().base.pos_w_m[:2]
    for _ in range(round((2.5 + 20.0) / 0.02)):
        record = loop.tick(VelocityCommand())
        assert not record.state.base.fallen
    s = robot.read_state()
    assert safety.mode is Mode.ACTIVE
    assert s.imu.tilt_rad < 0.1
    assert np.linalg.norm(s.base.pos_w_m[:2] - start_xy) < 0.1  # stands, does not wander
    assert robot.motor_stats.max_ratio < 1.0
