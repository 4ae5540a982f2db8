"""The shadow twin: follows a healthy robot, damps when the twin falls or the robot diverges."""

import numpy as np
import pytest

from humanoid_teleop.contracts import Mode, VelocityCommand
from humanoid_teleop.control.loop import ControlLoop
from humanoid_teleop.control.stand import StandController
from humanoid_teleop.sim.robot import MujocoRobot
from humanoid_teleop.sim.shadow import ShadowConfig, ShadowTwin

pytestmark = pytest.mark.sim


def _armed_loop(monitor, seconds: float = 4.0):
    robot = MujocoRobot()
    robot.reset("home", base_yaw_rad=0.7)  # the twin must take the real heading
    robot.connect()
    loop = ControlLoop(robot, StandController(), monitor=monitor)
    loop.safety.arm(robot.now_s())
    for _ in range(round(seconds / 0.02)):
        loop.tick(VelocityCommand())
    return robot, loop


def test_a_healthy_robot_keeps_its_shadow_close():
    shadow = ShadowTwin()
    _, loop = _armed_loop(shadow, seconds=5.0)
    assert loop.safety.mode is Mode.ACTIVE, loop.safety.last_fault
    assert shadow.fault == ""
    assert shadow.joint_rms_rad < 0.05 and shadow.tilt_gap_rad < 0.05
    np.testing.assert_allclose(shadow.robot.read_state().base.yaw_rad, 0.7, atol=0.05)


def test_a_pushed_robot_diverges_and_is_damped():
    # The real robot is shoved hard; its shadow, commanded the same, stays upright.
    shadow = ShadowTwin(ShadowConfig(grace_s=0.1))
    robot, loop = _armed_loop(shadow, seconds=3.5)
    assert loop.safety.mode is Mode.ACTIVE
    robot.push(np.array([600.0, 0.0, 0.0]), 0.2)
    for _ in range(100):
        record = loop.tick(VelocityCommand())
        if record.mode is Mode.DAMPING:
            break
    assert record.mode is Mode.DAMPING
    assert "shadow twin" in loop.safety.last_fault and "diverged" in loop.safety.last_fault
    assert record.command.mode is Mode.DAMPING  # what was sent this very tick


def test_a_falling_twin_damps_the_robot():
    shadow = ShadowTwin()
    _, loop = _armed_loop(shadow, seconds=3.5)
    shadow.robot.push(np.array([0.0, 900.0, 0.0]), 0.3)  # only the twin is knocked over
    for _ in range(150):
        record = loop.tick(VelocityCommand())
        if record.mode is Mode.DAMPING:
            break
    assert record.mode is Mode.DAMPING
    assert "shadow twin" in loop.safety.last_fault


def test_check_before_sync_is_an_error():
    from humanoid_teleop.contracts import RobotCommand

    with pytest.raises(RuntimeError, match="before sync"):
        ShadowTwin().check(None, RobotCommand.damping(0.0))
