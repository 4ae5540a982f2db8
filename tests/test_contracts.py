"""Contracts reject bad shapes, units, names and modes, and freeze what they accept."""

import subprocess
import sys

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.contracts import (
    ActionChunk,
    BasePose,
    CommandRanges,
    ContractError,
    Frame,
    ImuState,
    Intent,
    JointTargets,
    Mode,
    RobotCommand,
    RobotState,
    VelocityCommand,
)

N = g1.NUM_JOINTS


def imu(quat=(1, 0, 0, 0)):
    return ImuState(quat_wxyz=quat, gyro_b_radps=np.zeros(3), accel_b_mps2=[0, 0, 9.81])


def state(**over):
    kw = dict(timestamp_s=1.0, joint_names=g1.JOINT_NAMES, q_rad=np.zeros(N),
              dq_radps=np.zeros(N), tau_nm=np.zeros(N), imu=imu())  # fmt: skip
    kw.update(over)
    return RobotState(**kw)


def test_robot_state_is_frozen_and_read_only():
    s = state()
    with pytest.raises(AttributeError):
        s.timestamp_s = 2.0
    with pytest.raises(ValueError):
        s.q_rad[0] = 1.0


def test_robot_state_copies_its_input():
    q = np.zeros(N)
    s = state(q_rad=q)
    q[0] = 5.0
    assert s.q_rad[0] == 0.0


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("q_rad", np.zeros(28), "shape"),
        ("dq_radps", np.zeros((N, 1)), "shape"),
        ("tau_nm", np.full(N, np.nan), "NaN"),
        ("timestamp_s", -1.0, "monotonic"),
        ("timestamp_s", float("inf"), "monotonic"),
        ("joint_names", g1.JOINT_NAMES[::-1], "motor order"),
        ("joint_names", g1.JOINT_NAMES[:-1], "missing"),
    ],
)
def test_robot_state_rejects(field, value, match):
    with pytest.raises(ContractError, match=match):
        state(**{field: value})


def test_imu_rejects_non_unit_quaternion_and_reports_tilt():
    with pytest.raises(ContractError, match="unit norm"):
        imu((1, 1, 0, 0))
    assert imu().tilt_rad == pytest.approx(0.0)
    np.testing.assert_allclose(imu().projected_gravity_b, [0, 0, -1])
    half = np.deg2rad(30) / 2  # 30 degrees nose down about +y
    tilted = imu((np.cos(half), 0, np.sin(half), 0))
    assert tilted.tilt_rad == pytest.approx(np.deg2rad(30))
    assert tilted.projected_gravity_b[0] == pytest.approx(np.sin(np.deg2rad(30)))


def test_base_pose_fall_definition():
    up = BasePose([0, 0, 0.78], [1, 0, 0, 0], np.zeros(3), np.zeros(3))
    low = BasePose([0, 0, 0.40], [1, 0, 0, 0], np.zeros(3), np.zeros(3))
    half = 1.1 / 2
    tipped = BasePose([0, 0, 0.7], [np.cos(half), np.sin(half), 0, 0], np.zeros(3), np.zeros(3))
    assert not up.fallen and low.fallen and tipped.fallen


def test_velocity_command_and_ranges():
    with pytest.raises(ContractError):
        VelocityCommand(float("nan"))
    ranges = CommandRanges((-0.2, 0.4), (-0.1, 0.1), (-0.5, 0.5))
    clamped = ranges.clamp(VelocityCommand(1.0, -1.0, 0.2))
    assert (clamped.vx_mps, clamped.vy_mps, clamped.yaw_rate_radps) == (0.4, -0.1, 0.2)
    with pytest.raises(ContractError, match="lo <= 0 <= hi"):
        CommandRanges(vx_mps=(0.1, 0.4))


def test_intent_validation():
    ok = Intent("walk", VelocityCommand(0.3), 0.9, "test", 1.0, latent=np.ones(8))
    assert ok.latent.dtype == np.float32
    with pytest.raises(ContractError, match="skill"):
        Intent("dance", VelocityCommand(), 0.9, "test", 1.0)
    with pytest.raises(ContractError, match="zero velocity"):
        Intent("stand", VelocityCommand(0.3), 0.9, "test", 1.0)
    with pytest.raises(ContractError, match="confidence"):
        Intent("walk", VelocityCommand(), 1.5, "test", 1.0)
    with pytest.raises(ContractError, match="latent"):
        Intent("walk", VelocityCommand(), 0.5, "test", 1.0, latent=np.ones((2, 2)))


def test_frame_validation():
    Frame(0.0, np.zeros((32, 32, 3), np.uint8), "egocentric")
    with pytest.raises(ContractError, match="uint8"):
        Frame(0.0, np.zeros((32, 32, 3), np.float32), "egocentric")
    with pytest.raises(ContractError, match="view"):
        Frame(0.0, np.zeros((32, 32, 3), np.uint8), "sideways")


def test_action_chunk_and_targets():
    chunk = ActionChunk(0.0, 0.02, g1.JOINT_NAMES, np.zeros((8, N)), np.ones(N), np.ones(N))
    assert chunk.horizon == 8 and chunk.end_s == pytest.approx(0.16)
    with pytest.raises(ContractError, match="H, 29"):
        ActionChunk(0.0, 0.02, g1.JOINT_NAMES, np.zeros(N), np.ones(N), np.ones(N))
    with pytest.raises(ContractError, match="dt_s"):
        ActionChunk(0.0, 0.0, g1.JOINT_NAMES, np.zeros((8, N)), np.ones(N), np.ones(N))
    with pytest.raises(ContractError, match="shape"):
        ActionChunk(0.0, 0.02, g1.JOINT_NAMES, np.zeros((8, N)), np.ones(N), np.ones(N),
                    tau_ff_nm=np.zeros((7, N)))  # fmt: skip
    with pytest.raises(ContractError, match="gains"):
        JointTargets.hold(0.0, np.zeros(N), -np.ones(N), np.ones(N))


def test_robot_command_modes_and_motor_law():
    damp = RobotCommand.damping(1.0)
    assert damp.mode is Mode.DAMPING and np.all(damp.kp == 0) and np.all(damp.kd == g1.DAMPING_KD)
    zero = RobotCommand.zero_torque(1.0)
    assert zero.mode is Mode.PASSIVE and not zero.kp.any() and not zero.kd.any()
    with pytest.raises(ContractError, match="mode"):
        RobotCommand(0.0, "active", g1.JOINT_NAMES, *[np.zeros(N)] * 5)
    cmd = RobotCommand(0.0, Mode.ACTIVE, g1.JOINT_NAMES, np.ones(N), np.zeros(N), np.full(N, 2.0),
                       np.full(N, 10.0), np.ones(N))  # fmt: skip
    np.testing.assert_allclose(cmd.torque_nm(np.zeros(N), np.ones(N)), 2.0 + 10.0 - 1.0)


def test_contracts_import_neither_torch_nor_fastapi():
    code = (
        "import sys, humanoid_teleop.contracts, humanoid_teleop.timing;"
        "bad = {'torch', 'fastapi', 'mujoco'} & set(sys.modules); print(sorted(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
