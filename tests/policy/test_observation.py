"""The observation builder: term sizes, values, flatten order, spec checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.contracts import ImuState, RobotState, VelocityCommand
from humanoid_teleop.policy import observation as ob
from humanoid_teleop.policy.observation import (
    TERM_SIZES,
    ObservationBuilder,
    ObservationSpec,
    ObservationSpecError,
)

EXPECTED = [
    ("joint_pos_rel_rad", 29),
    ("joint_vel_radps", 29),
    ("base_ang_vel_b_radps", 3),
    ("projected_gravity_b", 3),
    ("last_action_rel_rad", 29),
    ("command", 3),
    ("gait_phase", 2),
    ("base_lin_vel_b_mps", 3),
]


def _state() -> RobotState:
    rng = np.random.default_rng(0)
    half = 0.1  # pitched by 0.2 rad about y
    imu = ImuState(
        quat_wxyz=np.array([math.cos(half), 0.0, math.sin(half), 0.0]),
        gyro_b_radps=np.array([0.1, -0.2, 0.3]),
        accel_b_mps2=np.array([0.0, 0.0, 9.81]),
    )
    return RobotState(
        timestamp_s=1.0,
        joint_names=g1.JOINT_NAMES,
        q_rad=g1.DEFAULT_POSE_RAD + rng.normal(0, 0.1, 29),
        dq_radps=rng.normal(0, 1, 29),
        tau_nm=np.zeros(29),
        imu=imu,
    )


def test_default_spec_terms_sizes_and_order():
    spec = ObservationSpec()
    assert list(spec.terms) == EXPECTED
    assert spec.dim == 101
    assert spec.names == tuple(n for n, _ in EXPECTED)
    assert ObservationSpec.from_dict(spec.to_dict()) == spec


def test_build_values_and_sizes():
    state = _state()
    last = g1.DEFAULT_POSE_RAD + 0.05
    velocity = np.array([0.2, -0.05, 0.01])
    terms = ObservationBuilder().build(state, VelocityCommand(0.3, -0.1, 0.5), last, 0.25, velocity)
    assert list(terms) == [n for n, _ in EXPECTED]
    for name, size in EXPECTED:
        assert terms[name].shape == (size,), name
    np.testing.assert_allclose(terms["joint_pos_rel_rad"], state.q_rad - g1.DEFAULT_POSE_RAD)
    np.testing.assert_array_equal(terms["joint_vel_radps"], state.dq_radps)
    np.testing.assert_array_equal(terms["base_ang_vel_b_radps"], [0.1, -0.2, 0.3])
    np.testing.assert_allclose(
        terms["projected_gravity_b"], [math.sin(0.2), 0, -math.cos(0.2)], atol=1e-12
    )
    np.testing.assert_allclose(terms["last_action_rel_rad"], np.full(29, 0.05))
    np.testing.assert_array_equal(terms["command"], [0.3, -0.1, 0.5])
    np.testing.assert_allclose(terms["gait_phase"], [1.0, 0.0], atol=1e-12)
    np.testing.assert_array_equal(terms["base_lin_vel_b_mps"], velocity)
    # The module-level helpers are the same builder.
    same = ob.build(state, np.array([0.3, -0.1, 0.5]), last, 0.25, base_lin_vel_b_mps=velocity)
    np.testing.assert_array_equal(ob.flatten(same), ObservationBuilder().flatten(terms))


def test_flatten_follows_spec_order_and_batches():
    spec = ObservationSpec.of(["command", "gait_phase", "base_ang_vel_b_radps"])
    builder = ObservationBuilder(spec)
    terms = builder.build(_state(), VelocityCommand(0.1, 0.2, 0.3), g1.DEFAULT_POSE_RAD, 0.0)
    assert list(terms) == ["command", "gait_phase", "base_ang_vel_b_radps"]
    flat = builder.flatten(terms)
    np.testing.assert_allclose(flat, [0.1, 0.2, 0.3, 0.0, 1.0, 0.1, -0.2, 0.3])
    assert spec.slices()["gait_phase"] == slice(3, 5)
    batched = builder.flatten({k: np.stack([v, v]) for k, v in terms.items()})
    assert batched.shape == (2, 8)
    with pytest.raises(ObservationSpecError, match="missing term"):
        builder.flatten({"command": terms["command"]})


def test_spec_validation_and_mismatch():
    with pytest.raises(ObservationSpecError, match="unknown term"):
        ObservationSpec((("joint_torque", 29),))
    with pytest.raises(ObservationSpecError, match="expected size 3"):
        ObservationSpec((("command", 4),))
    with pytest.raises(ObservationSpecError, match="duplicate"):
        ObservationSpec((("command", 3), ("command", 3)))
    spec = ObservationSpec()
    spec.check_matches(spec.to_dict())
    with pytest.raises(ObservationSpecError, match="mismatch"):
        spec.check_matches(ObservationSpec.of(list(reversed(TERM_SIZES))))


def test_build_rejects_bad_inputs():
    builder = ObservationBuilder()
    with pytest.raises(ValueError, match="last_action_q_rad"):
        builder.build(_state(), VelocityCommand(), np.zeros(12), 0.0, np.zeros(3))
    # The odometry filter is the caller's: a spec with the term refuses to guess it.
    with pytest.raises(ValueError, match="BaseVelocityEstimator"):
        builder.build(_state(), VelocityCommand(), g1.DEFAULT_POSE_RAD, 0.0)
    with pytest.raises(ValueError, match="command"):
        builder.build(_state(), np.zeros(2), g1.DEFAULT_POSE_RAD, 0.0, np.zeros(3))
