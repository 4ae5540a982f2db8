"""Contracts <-> hg messages, by joint name."""

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.contracts import ImuState, Mode, RobotCommand, RobotState
from humanoid_teleop.unitree import convert, crc
from humanoid_teleop.unitree.messages import load

N = g1.NUM_JOINTS


def _command(motor_enabled=True) -> RobotCommand:
    q = np.linspace(-0.5, 0.5, N) + 0.1234567891  # not float32-representable
    return RobotCommand(1.0, Mode.ACTIVE, g1.JOINT_NAMES, q, np.full(N, 0.3), np.full(N, -1.1),
                        g1.STAND_KP, g1.STAND_KD, motor_enabled=motor_enabled)  # fmt: skip


def test_motor_slots_follow_unitree_order_by_name():
    slot = convert.MOTOR_SLOT
    assert slot["left_hip_pitch_joint"] == 0 and slot["left_knee_joint"] == 3
    assert slot["right_hip_pitch_joint"] == 6 and slot["right_ankle_roll_joint"] == 11
    assert slot["waist_yaw_joint"] == 12 and slot["waist_pitch_joint"] == 14
    assert slot["left_shoulder_pitch_joint"] == 15 and slot["left_elbow_joint"] == 18
    assert slot["right_wrist_yaw_joint"] == 28


def test_command_to_lowcmd_by_joint_name():
    cmd = _command()
    msg = convert.command_to_lowcmd(cmd, mode_machine=5)
    assert msg.mode_pr == 0 and msg.mode_machine == 5
    assert crc.lowcmd_crc_ok(msg)
    for name, i in convert.MOTOR_SLOT.items():
        j = g1.JOINT_INDEX[name]
        m = msg.motor_cmd[i]
        assert m.mode == 1
        assert m.q == pytest.approx(cmd.q_rad[j], abs=1e-6)
        assert (m.kp, m.kd) == (pytest.approx(cmd.kp[j]), pytest.approx(cmd.kd[j]))
    for i in range(29, 35):  # unused slots: all zero, motor disabled
        m = msg.motor_cmd[i]
        assert (m.mode, m.q, m.dq, m.tau, m.kp, m.kd) == (0, 0, 0, 0, 0, 0)


def test_disabled_motors_go_out_with_mode_zero():
    msg = convert.command_to_lowcmd(_command(motor_enabled=False), mode_machine=4)
    assert msg.mode_machine == 4
    assert all(m.mode == 0 for m in msg.motor_cmd)


def test_wire_round_is_what_the_motors_see():
    cmd = _command()
    wired = convert.wire_round(cmd)
    assert not np.array_equal(wired.q_rad, cmd.q_rad)
    np.testing.assert_array_equal(wired.q_rad, cmd.q_rad.astype(np.float32))
    back = convert.lowcmd_to_targets(load().LowCmd_.deserialize(
        convert.command_to_lowcmd(cmd, 5).serialize()))  # fmt: skip
    np.testing.assert_array_equal(back.q_rad, wired.q_rad)
    np.testing.assert_array_equal(back.kp, wired.kp)


def test_lowcmd_to_command_for_the_sim_side():
    t = convert.lowcmd_to_targets(convert.command_to_lowcmd(_command(), 5))
    cmd = convert.targets_to_command(t, 2.0)
    assert cmd.mode is Mode.ACTIVE and cmd.motor_enabled
    np.testing.assert_allclose(cmd.kp, g1.STAND_KP, rtol=1e-6)
    damp = convert.targets_to_command(
        convert.lowcmd_to_targets(convert.command_to_lowcmd(RobotCommand.damping(0.0), 5)), 0.0
    )
    assert damp.mode is Mode.DAMPING and not damp.kp.any() and np.all(damp.kd == g1.DAMPING_KD)
    off = convert.targets_to_command(
        convert.lowcmd_to_targets(convert.command_to_lowcmd(_command(False), 5)), 0.0
    )
    assert off.mode is Mode.PASSIVE and not off.motor_enabled
    assert not (off.kp.any() or off.kd.any() or off.tau_ff_nm.any())


def test_one_disabled_motor_gives_no_torque():
    msg = convert.command_to_lowcmd(_command(), 5)
    k = convert.MOTOR_SLOT["left_knee_joint"]
    msg.motor_cmd[k].mode = 0
    cmd = convert.targets_to_command(convert.lowcmd_to_targets(msg), 0.0)
    j = g1.JOINT_INDEX["left_knee_joint"]
    assert cmd.kp[j] == 0 and cmd.kd[j] == 0 and cmd.tau_ff_nm[j] == 0
    assert cmd.kp[g1.JOINT_INDEX["right_knee_joint"]] > 0


def _state(tick=0) -> RobotState:
    half = 0.1 / 2  # 0.1 rad pitch
    imu = ImuState(np.array([np.cos(half), 0, np.sin(half), 0]), np.array([0.1, -0.2, 0.3]),
                   np.array([0.5, 0.0, 9.7]))  # fmt: skip
    return RobotState(3.0, g1.JOINT_NAMES, np.asarray(g1.HOME_POSE_RAD), np.linspace(-1, 1, N),
                      np.linspace(-5, 5, N), imu, tick=tick)  # fmt: skip


def test_state_round_trip_through_lowstate():
    s = _state(tick=41)
    msg = convert.state_to_lowstate(s, tick=41)
    assert crc.lowstate_crc_ok(msg) and msg.mode_machine == 5 and msg.tick == 41
    assert msg.imu_state.rpy[1] == pytest.approx(0.1, abs=1e-6)  # pitch
    knee = msg.motor_state[convert.MOTOR_SLOT["left_knee_joint"]]
    assert knee.q == pytest.approx(0.3) and knee.mode == 1
    wire = load().LowState_.deserialize(msg.serialize())
    back = convert.lowstate_to_state(wire, timestamp_s=9.5)
    assert back.timestamp_s == 9.5 and back.tick == 41 and back.base is None
    assert back.joint_names == g1.JOINT_NAMES
    np.testing.assert_allclose(back.q_rad, s.q_rad, atol=1e-6)
    np.testing.assert_allclose(back.dq_radps, s.dq_radps, atol=1e-6)
    np.testing.assert_allclose(back.tau_nm, s.tau_nm, atol=1e-5)
    np.testing.assert_allclose(back.imu.quat_wxyz, s.imu.quat_wxyz, atol=1e-6)
    np.testing.assert_allclose(back.imu.gyro_b_radps, s.imu.gyro_b_radps, atol=1e-6)
    np.testing.assert_allclose(back.imu.accel_b_mps2, s.imu.accel_b_mps2, atol=1e-5)


def test_zero_quaternion_is_refused():
    from humanoid_teleop.contracts import ContractError

    with pytest.raises(ContractError, match="quat"):
        convert.lowstate_to_state(load().LowState_(), 0.0)


def test_wrong_joint_names_are_refused():
    with pytest.raises(ValueError, match="motor order"):
        convert.wire_round(_command()) and convert._check_names(tuple(reversed(g1.JOINT_NAMES)))
