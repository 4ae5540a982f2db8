"""The gait clock replays the walking expert's phase from the command history alone."""

from dataclasses import fields

import numpy as np
import pytest

from humanoid_teleop.contracts import VelocityCommand
from humanoid_teleop.gait import (
    CommandShaping,
    GaitClock,
    GaitTiming,
    clock_phases,
    phase_features,
)


def test_defaults_are_the_experts():
    """The clock and the expert must run one gait: their shared settings agree."""
    from humanoid_teleop.sim.expert.controller import ExpertConfig
    from humanoid_teleop.sim.expert.footsteps import GaitConfig

    gait, timing = GaitConfig(), GaitTiming()
    for f in fields(GaitTiming):
        assert getattr(timing, f.name) == getattr(gait, f.name), f.name
    expert, shaping = ExpertConfig(), CommandShaping()
    assert shaping.accel == expert.command_accel
    assert shaping.max_turn_product == expert.max_turn_product
    assert shaping.max_speed_sum == expert.max_speed_sum
    assert shaping.ranges == expert.command_ranges


def test_walk_then_stop_timeline():
    clock = GaitClock()
    assert clock.step(VelocityCommand()) is None  # standing
    assert clock.step(VelocityCommand(0.3)) is None  # the start tick is still standing
    first = clock.step(VelocityCommand(0.3))
    assert 0.5 < first < 0.52  # forward: the left foot swings first, right stance
    phases = [clock.step(VelocityCommand(0.3)) for _ in range(100)]
    assert all(p is not None for p in phases)
    assert any(p < 0.5 for p in phases) and any(p >= 0.5 for p in phases)  # both stances
    stopped = [clock.step(VelocityCommand()) for _ in range(150)]
    assert stopped[-1] is None and stopped[0] is not None  # finishes its steps, then stands


@pytest.mark.sim
def test_clock_agrees_with_the_expert_in_the_twin():
    from humanoid_teleop.contracts import Mode
    from humanoid_teleop.control.loop import ControlLoop
    from humanoid_teleop.sim.expert import WalkingExpert
    from humanoid_teleop.sim.robot import MujocoRobot

    expert = WalkingExpert()
    robot = MujocoRobot()
    robot.reset("home")
    robot.connect()
    loop = ControlLoop(robot, expert)
    loop.safety.arm(robot.now_s())
    schedule = [(0.0, (0.0, 0.0, 0.0)), (1.0, (0.3, 0.0, 0.0)), (3.5, (0.0, 0.1, 0.3)),
                (6.0, (0.0, 0.0, 0.0))]  # fmt: skip
    commands, phases = [], []
    t = 0.0
    while t < 9.0:
        cmd = VelocityCommand(*[c for s, c in schedule if s <= t][-1])
        record = loop.tick(cmd)
        if record.mode is Mode.ACTIVE:
            commands.append(cmd.as_array())
            phases.append(expert.gait_phase if expert.stepping else None)
            t += 0.02
    replay = clock_phases(np.array(commands))
    same = [(a is None and b is None) or (a is not None and b is not None and
            abs((a - b + 0.5) % 1.0 - 0.5) < 0.02) for a, b in zip(replay, phases)]  # fmt: skip
    assert np.mean(same) > 0.97, np.mean(same)
    assert any(p is not None for p in phases) and phases[-1] is None  # walked, then stood


def test_standing_has_its_own_features():
    np.testing.assert_allclose(phase_features(None), [0.0, 0.0])
    np.testing.assert_allclose(phase_features(0.25), [1.0, 0.0], atol=1e-12)
