"""PolicyController (receding horizon) and its threaded variant; a closed-loop episode."""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from humanoid_teleop import g1
from humanoid_teleop.contracts import VelocityCommand
from humanoid_teleop.control.controller import Controller
from humanoid_teleop.control.executor import ChunkExecutor, ExecutorConfig
from humanoid_teleop.policy.controller import (
    PolicyController,
    ThreadedPolicyController,
)
from tests.policy.helpers import make_state, tiny_policy

DT = g1.CONTROL_DT_S


def test_implements_the_controller_protocol():
    c = PolicyController(tiny_policy())
    assert isinstance(c, Controller)
    assert c.name == "policy" and c.control_dt_s == DT
    assert c.command_ranges.vx_mps[1] > 0


def test_infers_every_k_ticks_and_keeps_the_history():
    policy = tiny_policy()
    c = PolicyController(policy, infer_every_ticks=2)
    c.reset(make_state())
    chunks = [c.act(make_state(k * DT, 0.001 * k), VelocityCommand(0.2)) for k in range(5)]
    assert c.inferences == 3  # ticks 0, 2, 4
    assert chunks[0] is chunks[1] and chunks[1] is not chunks[2]
    assert [ch.t0_s for ch in chunks] == pytest.approx([0, 0, 2 * DT, 2 * DT, 4 * DT])
    assert all(ch.horizon == policy.horizon for ch in chunks)
    assert len(c._history) == policy.n_obs_steps
    with pytest.raises(ValueError, match="infer_every_ticks"):
        PolicyController(policy, infer_every_ticks=policy.horizon + 1)


def test_reset_makes_episodes_repeat():
    c = PolicyController(tiny_policy(), infer_every_ticks=1)

    def episode():
        c.reset(make_state())
        return [c.act(make_state(k * DT), VelocityCommand(0.1)).q_rad for k in range(3)]

    for a, b in zip(episode(), episode()):
        np.testing.assert_array_equal(a, b)


def test_executor_blends_and_drops_past_ticks():
    c = PolicyController(tiny_policy(), infer_every_ticks=2)
    ex = ChunkExecutor(ExecutorConfig(control_dt_s=DT, blend_ticks=2))
    c.reset(make_state())
    for k in range(6):
        now = k * DT
        ex.submit(c.act(make_state(now), VelocityCommand()), now)
        assert ex.targets_at(now) is not None
    s = ex.stats
    assert s.accepted == 6 and s.rejected_stale == 0 and s.ticks == 6


def test_threaded_controller_infers_off_the_control_thread():
    policy = tiny_policy()
    with ThreadedPolicyController(policy, infer_every_ticks=2) as c:
        c.reset(make_state())
        first = c.act(make_state(0.0), VelocityCommand(0.2))  # waits: nothing to run yet
        assert first.t0_s == 0.0 and c.inferences == 1
        newest = first
        for k in range(1, 40):
            newest = c.act(make_state(k * DT), VelocityCommand(0.2))
            time.sleep(0.002)
        deadline = time.monotonic() + 5.0
        while c.inferences < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert c.inferences >= 5
        newest = c.act(make_state(40 * DT), VelocityCommand(0.2))
        assert newest.t0_s > 0.0  # a chunk computed by the worker from a later state
        assert c._thread is not None and c._thread.is_alive()
        assert len(c.latencies_s) == c.inferences
    assert c._thread is None  # closed


def test_threaded_controller_surfaces_worker_errors():
    policy = tiny_policy()
    with ThreadedPolicyController(policy, infer_every_ticks=1) as c:
        c.reset(make_state())
        c.act(make_state(0.0), VelocityCommand())

        def broken(*args, **kwargs):
            raise RuntimeError("boom")

        policy.predict = broken
        c.act(make_state(DT), VelocityCommand())  # queues a job for the worker
        deadline = time.monotonic() + 5.0
        with pytest.raises(RuntimeError, match="policy worker failed: boom"):
            while time.monotonic() < deadline:
                c.act(make_state(2 * DT), VelocityCommand())
                time.sleep(0.01)


@pytest.mark.sim
def test_closed_loop_episode_runs(stand_dataset, tmp_path):
    """A smoke-trained policy drives the twin through ControlLoop + Safety without error
    (staying upright is not expected of a few hundred steps on two stand episodes)."""
    from humanoid_teleop.contracts import Mode
    from humanoid_teleop.control.loop import ControlLoop
    from humanoid_teleop.control.safety import Safety
    from humanoid_teleop.controllers import make_controller
    from humanoid_teleop.policy.train import train
    from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig
    from tests.policy.test_train import tiny_train_config

    train(tiny_train_config(steps=150), stand_dataset, tmp_path / "ck", progress=False)
    controller = make_controller(f"policy:{tmp_path / 'ck'}")
    assert isinstance(controller, PolicyController)
    robot = MujocoRobot(MujocoRobotConfig(control_dt_s=controller.control_dt_s))
    robot.reset("home")
    robot.connect()
    try:
        safety = Safety()
        loop = ControlLoop(robot, controller, safety)
        safety.arm(robot.now_s())
        for _ in range(200):
            loop.tick(VelocityCommand())
            if safety.mode is not Mode.RAMP:
                break
        assert safety.mode is Mode.ACTIVE
        modes = [loop.tick(VelocityCommand(0.2)).mode for _ in range(50)]
    finally:
        robot.disconnect()
    assert loop.controller_error == ""
    assert modes[0] is Mode.ACTIVE
    assert controller.inferences >= 50 // controller.infer_every_ticks
    assert loop.executor.stats.accepted >= 1


def test_clock_policy_observes_the_gait_clock_of_the_previous_tick():
    """gait_clock policies see the clock's phase after the previous tick, as in training."""
    from humanoid_teleop.gait import phase_features

    policy = tiny_policy(gait_clock=True)
    assert policy.config.observation_terms[-1] == "gait_phase"
    c = PolicyController(policy, infer_every_ticks=4, start_stand_s=0.0)
    c.reset(make_state())
    walk = VelocityCommand(0.3)
    c.act(make_state(0.0), walk)
    np.testing.assert_allclose(c._history[-1][-2:], [0.0, 0.0])  # standing before tick 0
    assert c.clock.phase is None  # the start tick itself is still standing, as in the expert
    c.act(make_state(DT), walk)
    c.act(make_state(2 * DT), walk)
    phase = c.clock.phase
    assert phase is not None and 0.5 < phase < 0.6  # a right-stance cycle has begun
    c.act(make_state(3 * DT), walk)
    np.testing.assert_allclose(c._history[-1][-2:], phase_features(phase), atol=1e-6)


def test_gait_phase_needs_the_gait_clock():
    from humanoid_teleop.policy.inference import policy_config

    with pytest.raises(ValueError, match="gait_clock"):
        policy_config(observation_terms=("joint_pos_rel_rad", "gait_phase"))
    with pytest.raises(ValueError, match="last_action"):
        policy_config(observation_terms=("joint_pos_rel_rad", "last_action_rel_rad"))


def test_odometry_policy_observes_the_filtered_leg_odometry():
    """A policy with base_lin_vel_b_mps runs its own BaseVelocityEstimator, reset per episode."""
    from humanoid_teleop.odometry import BaseVelocityEstimator
    from humanoid_teleop.policy.inference import DEFAULT_OBSERVATION_TERMS

    policy = tiny_policy(observation_terms=DEFAULT_OBSERVATION_TERMS + ("base_lin_vel_b_mps",))
    c = PolicyController(policy, infer_every_ticks=2)
    states = [make_state(k * DT, 0.002 * k) for k in range(4)]
    reference = BaseVelocityEstimator()
    for episode in range(2):  # the second episode repeats the first: the filter was reset
        c.reset(states[0])
        reference.reset()
        for s in states:
            c.act(s, VelocityCommand(0.2))
            want = reference.update(s.q_rad, s.dq_radps, s.imu.gyro_b_radps,
                                    s.imu.projected_gravity_b)  # fmt: skip
            np.testing.assert_allclose(c._history[-1][-3:], want, atol=1e-6)


def test_q_pd_chunks_are_sent_without_velocity_targets():
    """q_pd actions are complete PD targets: the chunk says dq = 0, so the executor does not
    differentiate them (that would add kd d(q)/dt torque the expert never asked for)."""
    pd = tiny_policy(action="q_pd").predict(np.zeros((2, 64), np.float32), _walk_intent())
    assert pd.dq_radps is not None and not pd.dq_radps.any()
    eff = tiny_policy(action="q_eff").predict(np.zeros((2, 64), np.float32), _walk_intent())
    assert eff.dq_radps is None


def _walk_intent():
    from humanoid_teleop.policy.inference import intent_from_command

    return intent_from_command(VelocityCommand(0.2))


def test_stands_for_the_first_start_stand_s_of_an_episode():
    """The training episodes all begin standing; asked to walk at once, the policy first
    stands for start_stand_s (the gait clock too), then follows the command."""
    policy = tiny_policy(gait_clock=True)
    c = PolicyController(policy, infer_every_ticks=1, start_stand_s=0.1)
    walk = VelocityCommand(0.3)
    for episode in range(2):  # reset restarts the stand
        c.reset(make_state())
        for k in range(5):  # 0.00 .. 0.08 s
            c.act(make_state(k * DT), walk)
            assert c.clock.phase is None and not c._history[-1][-2:].any()
        for k in range(5, 8):
            c.act(make_state(k * DT), walk)
        assert c.clock.phase is not None
    with pytest.raises(ValueError, match="start_stand_s"):
        PolicyController(policy, start_stand_s=-1.0)
