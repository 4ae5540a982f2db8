"""The gait clock replays the walking expert's phase from the command history alone."""

from dataclasses import fields

import numpy as np
import pytest

from humanoid_teleop.contracts import CommandRanges, VelocityCommand
from humanoid_teleop.gait import (
    CommandShaping,
    GaitClock,
    GaitClockConfig,
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


WIDE = CommandRanges((-0.2, 0.6), (-0.15, 0.15), (-0.6, 0.6))


def test_faster_walking_quickens_the_cycle():
    timing = GaitTiming()
    assert timing.fast.timing(0.4, 0.15, 0.35) == (0.15, 0.35)  # the default envelope
    assert timing.fast.timing(-0.6, 0.15, 0.35) == pytest.approx((0.12, 0.28))
    assert timing.fast.timing(0.5, 0.15, 0.35) == pytest.approx((0.135, 0.315))
    # The clock, its envelope widened like the expert's, cycles faster at 0.6 m/s.
    config = GaitClockConfig(shaping=CommandShaping(ranges=WIDE))
    for vx, cycle_s in ((0.3, 0.5), (0.6, 0.4)):
        phases = clock_phases(np.tile([vx, 0.0, 0.0], (500, 1)), config)
        # The phase wraps once per left + right step: every 2 cycles in steady walking.
        wraps = [i for i in range(200, 499) if phases[i + 1] < phases[i]]
        assert len(wraps) >= 3
        assert np.diff(wraps) * 0.02 == pytest.approx(2 * cycle_s, abs=0.021)


@pytest.mark.sim
@pytest.mark.parametrize("fast", [False, True], ids=["default", "vx_0.6"])
def test_clock_agrees_with_the_expert_in_the_twin(fast):
    from humanoid_teleop.contracts import Mode
    from humanoid_teleop.control.loop import ControlLoop
    from humanoid_teleop.sim.expert import ExpertConfig, WalkingExpert
    from humanoid_teleop.sim.robot import MujocoRobot

    expert = WalkingExpert(ExpertConfig(command_ranges=WIDE) if fast else None)
    robot = MujocoRobot()
    robot.reset("home")
    robot.connect()
    loop = ControlLoop(robot, expert)
    loop.safety.arm(robot.now_s())
    schedule = [(0.0, (0.0, 0.0, 0.0)), (1.0, (0.3, 0.0, 0.0)), (3.5, (0.0, 0.1, 0.3)),
                (6.0, (0.0, 0.0, 0.0))]  # fmt: skip
    if fast:  # the quicker cycles of faster walking
        schedule = [(0.0, (0.0, 0.0, 0.0)), (1.0, (0.6, 0.0, 0.0)), (5.0, (0.0, 0.0, 0.0))]
    config = GaitClockConfig(shaping=CommandShaping(ranges=WIDE)) if fast else None
    commands, phases = [], []
    t = 0.0
    while t < 9.0:
        cmd = VelocityCommand(*[c for s, c in schedule if s <= t][-1])
        record = loop.tick(cmd)
        if record.mode is Mode.ACTIVE:
            commands.append(cmd.as_array())
            phases.append(expert.gait_phase if expert.stepping else None)
            t += 0.02
    replay = clock_phases(np.array(commands), config)
    same = [(a is None and b is None) or (a is not None and b is not None and
            abs((a - b + 0.5) % 1.0 - 0.5) < 0.02) for a, b in zip(replay, phases)]  # fmt: skip
    assert np.mean(same) > 0.97, np.mean(same)
    assert any(p is not None for p in phases) and phases[-1] is None  # walked, then stood


def test_standing_has_its_own_features():
    np.testing.assert_allclose(phase_features(None), [0.0, 0.0])
    np.testing.assert_allclose(phase_features(0.25), [1.0, 0.0], atol=1e-12)
