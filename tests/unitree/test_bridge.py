"""G1Bridge against ``humanoid-teleop sim-robot`` in a separate process, on lo.

End to end: the stand controller holds the robot for 10 s, the shipped policy walks it
(turning while stepping) for 10 s, and so does the walking expert on the encoders and the
IMU (``expert:imu``), with an exact IMU and with one that errs like a real part
(``sim-robot --imu-errors``).
"""

import time

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.contracts import Mode, RobotCommand, VelocityCommand
from humanoid_teleop.control.loop import ControlLoop
from humanoid_teleop.control.safety import Safety
from humanoid_teleop.control.stand import StandController
from humanoid_teleop.timing import Pacer
from humanoid_teleop.unitree import crc, dds
from humanoid_teleop.unitree.bridge import BridgeConfig, G1Bridge, LowStateLostError
from humanoid_teleop.unitree.messages import LOWCMD_TOPIC, load
from tests.control.robot_suite import RobotSuite, hold_command

pytestmark = pytest.mark.sim


def _bridge(domain_id: int, **kw) -> G1Bridge:
    return G1Bridge(BridgeConfig(domain_id=domain_id, network_interface="lo",
                                 connect_timeout_s=15.0, **kw))  # fmt: skip


class _Spy:
    """A reader on rt/lowcmd in the test process: what is actually on the wire."""

    def __init__(self, domain_id: int):
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        _, self._p = dds.open_participant(domain_id, "lo")
        self._r = DataReader(self._p, Topic(self._p, LOWCMD_TOPIC, load().LowCmd_),
                             qos=dds.keep_last_qos(2000))  # fmt: skip
        self.samples: list = []  # (monotonic receive time, msg)

    def drain(self) -> list:
        now = time.monotonic()
        self.samples += [(now, m) for m in self._r.take(N=2000) if hasattr(m, "motor_cmd")]
        return self.samples


def _is_damping(msg) -> bool:
    ms = msg.motor_cmd[: g1.NUM_JOINTS]
    return all(m.kp == 0 and m.kd == pytest.approx(g1.DAMPING_KD) and m.tau == 0 for m in ms)


class TestBridgeSuite(RobotSuite):
    @pytest.fixture
    def robot(self, sim_robot, domain_id):
        bridge = _bridge(domain_id)
        yield bridge
        bridge.disconnect()
        sim_robot.stop()

    def advance(self, robot, seconds, command):
        robot.send(command)
        time.sleep(seconds)


def test_connect_without_a_robot_fails_clearly(domain_id):
    bridge = G1Bridge(BridgeConfig(domain_id=domain_id, network_interface="lo",
                                   connect_timeout_s=0.3))  # fmt: skip
    with pytest.raises(LowStateLostError, match="sim-robot"):
        bridge.connect()
    assert not bridge.health.connected


def test_safety_ramps_and_stand_keeps_it_upright_for_10_s(sim_robot, domain_id):
    bridge = _bridge(domain_id)
    bridge.connect()
    safety = Safety()
    loop = ControlLoop(bridge, StandController(), safety)
    pacer = Pacer(1 / g1.CONTROL_DT_S)
    safety.arm(bridge.now_s())
    worst_tilt = 0.0
    try:
        for i in range(round((2.5 + 10.0) / g1.CONTROL_DT_S)):
            pacer.wait()
            record = loop.tick(VelocityCommand())
            if i > 10:
                worst_tilt = max(worst_tilt, record.state.imu.tilt_rad)
        assert safety.mode is Mode.ACTIVE, safety.last_fault
        assert any(e.to_mode is Mode.ACTIVE for e in safety.log)  # went through the ramp
        assert worst_tilt < 0.3
        health = bridge.health
        assert health.ok and health.states_bad_crc == 0
        assert health.mode_machine == 5  # echoed from LowState_
        np.testing.assert_allclose(bridge.read_state().q_rad[g1.LEG_JOINTS],
                                   g1.DEFAULT_POSE_RAD[g1.LEG_JOINTS], atol=0.15)  # fmt: skip
    finally:
        bridge.disconnect()
    counters = sim_robot.stop()
    assert counters["commands_bad_crc"] == 0
    assert counters["final_pelvis_z_m"] > 0.7  # still standing (ground truth, twin side)
    assert counters["final_tilt_rad"] < 0.2


def test_robot_killed_bridge_goes_to_damping_within_1_s(sim_robot, domain_id):
    bridge = _bridge(domain_id)
    bridge.connect()
    spy = _Spy(domain_id)
    s = bridge.read_state()
    bridge.send(hold_command(s.timestamp_s, s.q_rad))
    time.sleep(0.3)
    sim_robot.kill()
    t_kill = time.monotonic()
    while not bridge.health.fault and time.monotonic() - t_kill < 3.0:
        time.sleep(0.005)
    elapsed = time.monotonic() - t_kill
    health = bridge.health
    assert "lost" in health.fault and health.command_mode == "damping"
    assert elapsed < 1.0 + 0.15  # the 1 s watchdog, plus a tick and scheduling slack
    time.sleep(0.05)
    assert _is_damping(spy.drain()[-1][1])  # and it is on the wire
    applied = bridge.send(hold_command(s.timestamp_s, s.q_rad))  # motion refused, latched
    assert applied.mode is Mode.DAMPING and not applied.kp.any()
    assert bridge.faults == [health.fault]
    bridge.disconnect()


def test_corrupted_crc_commands_are_dropped_and_counted(sim_robot, domain_id):
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic

    from humanoid_teleop.unitree import convert

    bridge = _bridge(domain_id)
    bridge.connect()
    s = bridge.read_state()
    bridge.send(hold_command(s.timestamp_s, s.q_rad))
    time.sleep(0.2)
    k = g1.JOINT_INDEX["waist_yaw_joint"]
    before = bridge.read_state().q_rad[k]
    # A second publisher sends a big waist motion with a wrong CRC.
    _, p = dds.open_participant(domain_id, "lo")
    writer = DataWriter(p, Topic(p, LOWCMD_TOPIC, load().LowCmd_))
    target = s.q_rad.copy()
    target[k] -= 0.5
    bad = convert.command_to_lowcmd(hold_command(s.timestamp_s, target), 5)
    bad.crc ^= 0x1
    assert not crc.lowcmd_crc_ok(bad)
    time.sleep(0.1)  # discovery
    for _ in range(50):
        writer.write(bad)
        time.sleep(0.004)
    time.sleep(0.1)
    assert bridge.read_state().q_rad[k] == pytest.approx(before, abs=0.02)  # never applied
    bridge.disconnect()
    counters = sim_robot.stop()
    assert counters["commands_bad_crc"] >= 45  # the listener sees (nearly) every sample
    assert counters["commands_applied"] > 100


def test_estop_damping_is_on_the_wire_at_the_next_tick(sim_robot, domain_id):
    bridge = _bridge(domain_id)
    bridge.connect()
    spy = _Spy(domain_id)
    s = bridge.read_state()
    bridge.send(hold_command(s.timestamp_s, s.q_rad))
    time.sleep(0.3)
    spy.drain()
    sent0 = bridge.health.commands_sent
    estop = RobotCommand.damping(bridge.now_s(), Mode.ESTOP, note="e-stop")
    t_estop_ns = time.time_ns()  # source timestamps are Cyclone's wall clock
    applied = bridge.send(estop)
    t_set_ns = time.time_ns()  # the stream's target is the damping from here on
    assert applied.mode is Mode.ESTOP and not applied.kp.any()
    time.sleep(0.1)
    after = [m for _, m in spy.drain() if m.sample_info.source_timestamp >= t_estop_ns]
    first = next(i for i, m in enumerate(after) if _is_damping(m))
    # Once send returned, at most the tick already being written went out before it (how
    # many went out while this thread waited to call send depends on the machine's load).
    late = [m for m in after[:first] if m.sample_info.source_timestamp >= t_set_ns]
    assert len(late) <= 1
    assert all(_is_damping(m) for m in after[first:])
    delay_ms = (after[first].sample_info.source_timestamp - t_set_ns) / 1e6
    assert delay_ms < 2.0 + 8.0  # the next 2 ms tick, plus scheduling slack on a busy box
    assert bridge.health.commands_sent > sent0
    bridge.disconnect()
    sim_robot.stop()


def test_sim_robot_keeps_the_wall_clock_through_a_stall(sim_robot, domain_id):
    """A real G1's physics never waits: when sim-robot is held off the CPU (here stopped for
    60 ms), it steps the missed ticks on resuming instead of letting simulated time fall
    behind the controller's clock. LowState's tick counts 500 Hz ticks."""
    import os
    import signal

    bridge = _bridge(domain_id)
    try:
        bridge.connect()
        s = bridge.read_state()
        bridge.send(hold_command(s.timestamp_s, s.q_rad))  # off the gantry: physics runs
        time.sleep(0.3)
        s0 = bridge.read_state()
        os.kill(sim_robot.proc.pid, signal.SIGSTOP)
        time.sleep(0.06)
        os.kill(sim_robot.proc.pid, signal.SIGCONT)
        time.sleep(0.5)
        s1 = bridge.read_state()
    finally:
        bridge.disconnect()
    counters = sim_robot.stop()
    simulated_s = (s1.tick - s0.tick) * g1.PHYSICS_DT_S
    assert simulated_s == pytest.approx(s1.timestamp_s - s0.timestamp_s, abs=0.015)
    assert counters["unpublished_ticks"] >= 25  # the stall's 30 ticks, stepped late
    assert counters["slipped_ticks"] == 0


def test_sim_robot_holds_until_commanded_and_publishes_valid_states(sim_robot, domain_id):
    """Held on its "gantry" while nobody commands it and while it is streamed passive zero
    torque (what a service sends before it is armed); a position hold lowers it."""
    proc = sim_robot  # the fixture kills it if an assertion below fails first
    bridge = _bridge(domain_id)
    try:
        bridge.connect()
        s0 = bridge.read_state()
        bridge.send(RobotCommand.zero_torque(s0.timestamp_s, note="passive"))
        deadline = time.monotonic() + 3.0  # 0.2 s at 500 Hz; a loaded machine may lag
        while bridge.health.states_received <= 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        s1 = bridge.read_state()
        assert s1.tick > s0.tick  # publishing at 500 Hz while held
        np.testing.assert_array_equal(s1.q_rad, s0.q_rad)  # physics frozen: no collapse
        assert bridge.health.states_received > 100
        k = g1.JOINT_INDEX["waist_yaw_joint"]
        target = s1.q_rad.copy()
        target[k] -= 0.3
        bridge.send(hold_command(s1.timestamp_s, target))
        time.sleep(0.5)
        assert bridge.read_state().q_rad[k] == pytest.approx(target[k], abs=0.05)
    finally:
        bridge.disconnect()
    counters = proc.stop()
    assert counters["states_published"] > 150
    assert counters["held_ticks"] > 100


def test_shipped_policy_walks_the_dds_robot_for_10_s(sim_robot, domain_id):
    """The full hardware path: sim-robot process <- DDS <- bridge <- Safety <- the shipped
    policy in its worker thread, paced at 50 Hz. It turns while stepping and stays upright."""
    pytest.importorskip("torch")
    from humanoid_teleop.policy import load_policy
    from humanoid_teleop.policy.controller import ThreadedPolicyController

    bridge = _bridge(domain_id)
    bridge.connect()
    safety = Safety()
    controller = ThreadedPolicyController(load_policy())
    loop = ControlLoop(bridge, controller, safety)
    pacer = Pacer(1 / g1.CONTROL_DT_S)
    safety.arm(bridge.now_s())
    yaw_start = yaw_prev = None
    turned = 0.0
    try:
        for _ in range(round((2.5 + 10.0) / g1.CONTROL_DT_S)):
            pacer.wait()
            active = safety.mode is Mode.ACTIVE
            record = loop.tick(VelocityCommand(0.1, 0.0, 0.4) if active else VelocityCommand())
            w, x, y, z = record.state.imu.quat_wxyz
            yaw = float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
            if active:
                if yaw_start is None:
                    yaw_start = yaw_prev = yaw
                turned += (yaw - yaw_prev + np.pi) % (2 * np.pi) - np.pi
                yaw_prev = yaw
        assert safety.mode is Mode.ACTIVE, safety.last_fault
        # It stands its first 1.5 s (START_STAND_S), then turns at about 0.27 of 0.4 rad/s.
        assert turned > 1.0, turned
        assert pacer.stats.on_time_fraction > 0.9
    finally:
        controller.close()
        bridge.disconnect()
    counters = sim_robot.stop()
    assert counters["final_pelvis_z_m"] > 0.6 and counters["final_tilt_rad"] < 0.3


def _imu_expert_walk(domain_id: int, stand_s: float) -> None:
    """expert:imu through the bridge and Safety, paced at 50 Hz: ``stand_s`` standing after
    the ramp, then 10 s at vx 0.25."""
    from humanoid_teleop.controllers import make_controller

    bridge = _bridge(domain_id)
    bridge.connect()
    safety = Safety()
    expert = make_controller("expert:imu")
    loop = ControlLoop(bridge, expert, safety)
    pacer = Pacer(1 / g1.CONTROL_DT_S)
    safety.arm(bridge.now_s())
    active_s = 0.0
    try:
        for _ in range(round((2.5 + stand_s + 10.0) / g1.CONTROL_DT_S)):
            pacer.wait()
            walk = safety.mode is Mode.ACTIVE and active_s >= stand_s
            record = loop.tick(VelocityCommand(0.25, 0.0, 0.0) if walk else VelocityCommand())
            active_s += g1.CONTROL_DT_S if safety.mode is Mode.ACTIVE else 0.0
            assert record.state.base is None  # the bridge knows nothing of the twin's base
        assert safety.mode is Mode.ACTIVE, (safety.last_fault, loop.controller_error)
        assert pacer.stats.on_time_fraction > 0.9
    finally:
        bridge.disconnect()


def test_the_imu_expert_walks_the_dds_robot_for_10_s(sim_robot, domain_id):
    """The walking expert on what the hardware path gives it (LowState: encoders and the IMU,
    no base): through the bridge and Safety, paced at 50 Hz, it walks forward upright."""
    _imu_expert_walk(domain_id, stand_s=0.0)
    counters = sim_robot.stop()
    assert counters["final_pelvis_z_m"] > 0.6 and counters["final_tilt_rad"] < 0.3
    x, y = counters["final_pelvis_xy_m"]  # from the origin, heading +x: measured 2.3 m, -0.03 m
    assert x > 1.5 and abs(y) < 0.5


def test_the_imu_expert_walks_the_dds_robot_on_an_erring_imu(sim_robot_with_imu_errors, domain_id):
    """The same on an IMU with a real part's biases, noise and attitude error; the expert
    stands 2 s first, in which it learns the accelerometer's error."""
    _imu_expert_walk(domain_id, stand_s=2.0)
    counters = sim_robot_with_imu_errors.stop()
    assert counters["final_pelvis_z_m"] > 0.6 and counters["final_tilt_rad"] < 0.3
    x, y = counters["final_pelvis_xy_m"]  # measured 2.25-2.29 m, 0.11-0.18 m (three runs)
    assert x > 1.5 and abs(y) < 0.5
