"""Safety: the whole transition table, the arm/ramp/active sequence, terminations, clamps."""

import itertools

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.contracts import ImuState, JointTargets, Mode, RobotState
from humanoid_teleop.control.safety import (
    TRANSITIONS,
    Event,
    Safety,
    SafetyConfig,
    SafetyRefusal,
    next_mode,
)

N = g1.NUM_JOINTS
DEFAULT = np.array(g1.DEFAULT_POSE_RAD)

# The expected table, written out independently of the implementation's dict.
EXPECTED = {
    Mode.PASSIVE: {Event.ARM: Mode.RAMP, Event.FAULT: Mode.DAMPING, Event.ESTOP: Mode.ESTOP},
    Mode.RAMP: {Event.RAMP_DONE: Mode.ACTIVE, Event.FAULT: Mode.DAMPING, Event.STOP: Mode.DAMPING,
                Event.ESTOP: Mode.ESTOP},
    Mode.ACTIVE: {Event.FAULT: Mode.DAMPING, Event.STOP: Mode.DAMPING, Event.ESTOP: Mode.ESTOP},
    Mode.DAMPING: {Event.ARM: Mode.RAMP, Event.ESTOP: Mode.ESTOP},
    Mode.ESTOP: {Event.REARM: Mode.DAMPING},
}  # fmt: skip


@pytest.mark.parametrize("mode,event", list(itertools.product(Mode, Event)))
def test_transition_table(mode, event):
    expected = EXPECTED[mode].get(event, mode)  # anything not listed leaves the mode unchanged
    assert next_mode(mode, event) is expected


def test_table_is_complete():
    assert set(TRANSITIONS) == set(itertools.product(Mode, Event))


def make_state(t, q=None, quat=(1, 0, 0, 0), dq=None, gyro=(0, 0, 0)):
    return RobotState(
        timestamp_s=t, joint_names=g1.JOINT_NAMES,
        q_rad=DEFAULT if q is None else q, dq_radps=np.zeros(N) if dq is None else dq,
        tau_nm=np.zeros(N), imu=ImuState(np.array(quat, float), np.array(gyro, float), [0, 0, 9.81]),
    )  # fmt: skip


def targets(t, q=None, kp=None, kd=None, tau=None):
    return JointTargets(t, g1.JOINT_NAMES, DEFAULT if q is None else q, np.zeros(N),
                        np.zeros(N) if tau is None else tau,
                        g1.STAND_KP if kp is None else kp, g1.STAND_KD if kd is None else kd)  # fmt: skip


def run_to_active(safety, start_q=None):
    t = 0.0
    safety.arm(t)
    while True:
        cmd = safety.step(t, make_state(t, start_q), None)
        if safety.mode is Mode.ACTIVE:
            return t, cmd
        assert safety.mode is Mode.RAMP
        t += 0.02


def test_passive_sends_zero_torque_until_armed():
    safety = Safety()
    cmd = safety.step(0.0, make_state(0.0), None)
    assert (
        cmd.mode is Mode.PASSIVE
        and not cmd.kp.any()
        and not cmd.kd.any()
        and not cmd.tau_ff_nm.any()
    )


def test_ramp_goes_from_measured_pose_to_default_in_2_5_s():
    start = DEFAULT + 0.3
    safety = Safety()
    safety.arm(0.0)
    first = safety.step(0.0, make_state(0.0, start), None)
    assert first.mode is Mode.RAMP
    np.testing.assert_allclose(first.q_rad, start)  # no jump at the start
    t_active, last = run_to_active(Safety(), start)
    assert t_active == pytest.approx(2.5, abs=0.021)
    np.testing.assert_allclose(last.q_rad, DEFAULT)  # the last ramp tick holds the default pose


def test_active_forwards_targets_and_faults_to_damping_without_them():
    safety = Safety()
    t, _ = run_to_active(safety)
    t += 0.02
    cmd = safety.step(t, make_state(t), targets(t))
    assert cmd.mode is Mode.ACTIVE
    np.testing.assert_allclose(cmd.kp, g1.STAND_KP)
    t += 0.02
    cmd = safety.step(t, make_state(t), None)
    assert cmd.mode is Mode.DAMPING and safety.mode is Mode.DAMPING
    assert not cmd.kp.any() and np.all(cmd.kd == g1.DAMPING_KD) and not cmd.tau_ff_nm.any()
    assert "no targets" in safety.last_fault


@pytest.mark.parametrize(
    "state_kw,reason",
    [
        (dict(quat=(np.cos(0.55), np.sin(0.55), 0, 0)), "tilt"),  # 1.1 rad roll
        (dict(dq=np.r_[np.zeros(N - 1), 11.0]), "speed"),
        (dict(gyro=(0, 6.5, 0)), "gyro"),
    ],
)
def test_terminations_go_to_damping(state_kw, reason):
    safety = Safety()
    t, _ = run_to_active(safety)
    t += 0.02
    cmd = safety.step(t, make_state(t, **state_kw), targets(t))
    assert cmd.mode is Mode.DAMPING and reason in safety.last_fault


def test_stale_state_and_stale_targets_go_to_damping():
    safety = Safety()
    t, _ = run_to_active(safety)
    t += 2.0
    cmd = safety.step(t, make_state(t - 1.5), targets(t))
    assert cmd.mode is Mode.DAMPING and "stale" in safety.last_fault
    safety = Safety()
    t, _ = run_to_active(safety)
    t += 0.02
    cmd = safety.step(t, make_state(t), targets(t - 0.5))
    assert cmd.mode is Mode.DAMPING and "targets are stale" in safety.last_fault
    assert safety.step(t + 0.02, None, None).mode is Mode.DAMPING


def test_gains_beyond_the_envelope_are_refused_not_clipped():
    safety = Safety()
    t, _ = run_to_active(safety)
    t += 0.02
    cmd = safety.step(t, make_state(t), targets(t, kp=np.full(N, 301.0)))
    assert cmd.mode is Mode.DAMPING and "gains refused" in safety.last_fault
    safety = Safety()
    t, _ = run_to_active(safety)
    cmd = safety.step(t + 0.02, make_state(t + 0.02), targets(t + 0.02, kd=np.full(N, 10.5)))
    assert cmd.mode is Mode.DAMPING


def test_clamps_position_step_and_feedforward():
    safety = Safety()
    t, _ = run_to_active(safety)
    t += 0.02
    far = DEFAULT.copy()
    far[g1.JOINT_INDEX["left_knee_joint"]] = 5.0  # beyond the 2.88 rad limit and a huge step
    tau = np.full(N, 1000.0)
    cmd = safety.step(t, make_state(t), targets(t, q=far, tau=tau))
    k = g1.JOINT_INDEX["left_knee_joint"]
    assert cmd.mode is Mode.ACTIVE and cmd.note == "clamped"
    assert cmd.q_rad[k] == pytest.approx(DEFAULT[k] + safety.config.max_step_rad)
    np.testing.assert_allclose(cmd.tau_ff_nm, g1.TORQUE_LIMIT_NM)
    for _ in range(40):  # many ticks later the position limit still holds
        t += 0.02
        cmd = safety.step(t, make_state(t), targets(t, q=far))
    assert cmd.q_rad[k] == pytest.approx(g1.POSITION_LIMITS_RAD[k, 1])


def test_estop_latches_until_rearm_and_rearm_only_damps():
    safety = Safety()
    t, _ = run_to_active(safety)
    safety.estop(t)
    assert safety.step(t, make_state(t), targets(t)).mode is Mode.ESTOP
    with pytest.raises(SafetyRefusal):
        safety.arm(t)
    safety.stop(t)
    assert safety.mode is Mode.ESTOP
    safety.rearm(t)
    assert safety.mode is Mode.DAMPING
    cmd = safety.step(t, make_state(t), targets(t))
    assert cmd.mode is Mode.DAMPING  # targets are ignored until armed again
    safety.arm(t)
    assert safety.step(t, make_state(t), None).mode is Mode.RAMP


def test_arm_is_refused_while_a_termination_holds():
    safety = Safety()
    safety.arm(0.0)
    cmd = safety.step(0.0, make_state(0.0, quat=(np.cos(0.6), np.sin(0.6), 0, 0)), None)
    assert cmd.mode is Mode.PASSIVE and safety.mode is Mode.PASSIVE
    assert "arm refused" in safety.log[-1].reason


def test_config_rejects_gains_beyond_hardware():
    with pytest.raises(ValueError):
        SafetyConfig(kp_max=400.0)
    with pytest.raises(ValueError):
        SafetyConfig(ramp_duration_s=1.0)
