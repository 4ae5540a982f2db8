"""The MuJoCo G1 twin as a separate process speaking the G1's DDS protocol.

It behaves like a G1 in debug mode on the robot network:
- consumes ``rt/lowcmd``: every sample's CRC is checked, a bad one is dropped and counted
  (the real firmware drops it silently); the newest valid command is the motors' command;
- runs the motor law tau = tau + kp (q - q_meas) + kd (dq - dq_meas) at the physics rate
  (500 Hz) through ``MujocoRobot`` (one source of truth for the law and torque limits);
  a motor whose ``mode`` is 0 produces no torque; with no valid command yet, zero torque;
- publishes ``rt/lowstate`` at 500 Hz with a valid CRC: mode_machine 5, a tick counter, the
  encoders, applied torque as ``tau_est`` and the pelvis IMU (quaternion w,x,y,z, gyro,
  accelerometer, rpy).

Like a G1 hanging on its gantry, the twin starts *held*: physics does not advance until the
first valid command that holds position (a kp > 0: the Safety ramp, a stand) arrives
(``hold_until_command``), so a robot that nobody commands yet, or that a service streams
passive zero torque or damping to, does not collapse before it is armed. States are
published while held.

Receiving happens in Cyclone's listener thread (every sample is timestamped and checked);
the 500 Hz loop steps physics and publishes. Simulated time keeps the wall clock: a late
loop steps the ticks it missed at once and publishes only the newest state. Counters print
as one JSON line on exit.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.timing import share_gil_with_fast_loops
from humanoid_teleop.unitree import convert, dds
from humanoid_teleop.unitree import crc as _crc
from humanoid_teleop.unitree.messages import LOWCMD_TOPIC, LOWSTATE_TOPIC, load

_MAX_CATCH_UP_TICKS = 50  # 0.1 s at 500 Hz; beyond that the simulated clock slips


@dataclass(frozen=True)
class SimRobotConfig:
    domain_id: int = 1  # Unitree's simulators use domain 1 on lo
    network_interface: str | None = "lo"
    rate_hz: float = 1.0 / g1.PHYSICS_DT_S  # physics and LowState rate
    mode_machine: int = convert.MODE_MACHINE_G1_29DOF
    hold_until_command: bool = True
    seconds: float | None = None  # stop after this long (None: until stopped)
    keyframe: str = "home"
    # The IMU reports with a real part's errors (sim/imu_errors.py), drawn from imu_seed.
    imu_errors: bool = False
    imu_seed: int = 0

    def __post_init__(self):
        if not 0 <= self.domain_id <= 232:
            raise ValueError(f"domain_id: expected 0..232, got {self.domain_id}")
        if self.network_interface is not None:
            dds.loopback_uri(self.network_interface)
        if abs(self.rate_hz * g1.PHYSICS_DT_S - 1.0) > 1e-9:
            raise ValueError(
                f"rate_hz must equal the physics rate {1 / g1.PHYSICS_DT_S:.0f} Hz "
                f"(one physics step per LowState), got {self.rate_hz}"
            )
        if not 0 <= self.mode_machine <= 255:
            raise ValueError(f"mode_machine: expected an octet, got {self.mode_machine}")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError(f"seconds: expected > 0, got {self.seconds}")


@dataclass
class SimRobotCounters:
    commands_received: int = 0
    commands_bad_crc: int = 0
    commands_applied: int = 0  # valid commands that became the motors' command
    states_published: int = 0
    physics_steps: int = 0
    # 500 Hz ticks stepped late to keep the wall clock, whose LowState was never published
    unpublished_ticks: int = 0
    slipped_ticks: int = 0  # ticks dropped altogether after a stall of > 0.1 s
    held_ticks: int = 0  # ticks while held on the gantry
    interarrival_ms_p50: float = float("nan")  # of valid commands, in the listener
    interarrival_ms_p99: float = float("nan")
    interarrival_ms_max: float = float("nan")
    cpu_s: float = 0.0
    wall_s: float = 0.0
    final_pelvis_z_m: float = float("nan")
    final_tilt_rad: float = float("nan")
    final_pelvis_xy_m: tuple[float, float] = (float("nan"), float("nan"))  # it starts at 0, 0
    arrivals: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("arrivals")
        return d


class SimRobot:
    """Run with ``run(stop_event)``; ``counters`` is readable while it runs."""

    def __init__(self, config: SimRobotConfig | None = None):
        self.config = config or SimRobotConfig()
        self.counters = SimRobotCounters()
        self._lock = threading.Lock()
        self._command = None  # newest valid RobotCommand
        self._fresh = False

    def run(self, stop: threading.Event) -> SimRobotCounters:
        from cyclonedds.core import Listener
        from cyclonedds.pub import DataWriter
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        from humanoid_teleop.sim.imu_errors import ImuErrors
        from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

        c, n = self.config, self.counters
        M = load()
        # One physics step per send: the 500 Hz stream is the motors' command; no
        # extrapolation here (the controller side already holds q + dq t between targets).
        robot = MujocoRobot(
            MujocoRobotConfig(clock="lockstep", control_dt_s=g1.PHYSICS_DT_S,
                              keyframe=c.keyframe, extrapolate_targets=False,
                              imu_errors=ImuErrors() if c.imu_errors else None)
        )  # fmt: skip
        robot.reset(imu_seed=c.imu_seed)
        robot.connect()
        share_gil_with_fast_loops()
        domain, participant = dds.open_participant(c.domain_id, c.network_interface)
        writer = DataWriter(participant, Topic(participant, LOWSTATE_TOPIC, M.LowState_))
        reader = DataReader(
            participant, Topic(participant, LOWCMD_TOPIC, M.LowCmd_), qos=dds.keep_last_qos(8),
            listener=Listener(on_data_available=self._on_lowcmd),
        )  # fmt: skip
        period = 1.0 / c.rate_hz
        t0 = time.monotonic()
        cpu0 = time.process_time()
        next_s = t0
        held = c.hold_until_command
        tick = 0  # LowState's tick counts 500 Hz ticks, published or not
        try:
            while not stop.is_set():
                if c.seconds is not None and time.monotonic() - t0 >= c.seconds:
                    break
                with self._lock:
                    command, fresh = self._command, self._fresh
                    self._fresh = False
                if command is not None:
                    # Lowered from the gantry once a controller holds position: passive
                    # (zero torque) and damping leave it hanging, as on a real gantry.
                    held = held and not command.kp.any()
                    n.commands_applied += fresh
                # A real G1's physics never slows down: when this process is late (a busy
                # machine), the ticks it missed are stepped now on the newest command and
                # only the last one's LowState is published, as if the others were lost.
                # Slowing simulated time instead would let the controller's wall clock run
                # ahead of the robot.
                due = 1 + max(0, int((time.monotonic() - next_s) / period))
                if due > _MAX_CATCH_UP_TICKS:  # far behind (a stall): slip the clock
                    n.slipped_ticks += due - _MAX_CATCH_UP_TICKS
                    next_s += (due - _MAX_CATCH_UP_TICKS) * period
                    due = _MAX_CATCH_UP_TICKS
                n.unpublished_ticks += due - 1
                for _ in range(due):
                    if held:
                        n.held_ticks += 1
                    else:
                        # zero torque until a valid command exists (a G1 in debug mode)
                        robot.send(command if command is not None else _zero(robot.sim_time_s))
                        n.physics_steps += 1
                tick += due
                state = robot.read_state()
                writer.write(convert.state_to_lowstate(state, tick, c.mode_machine))
                n.states_published += 1
                next_s += due * period
                delay = next_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        finally:
            n.wall_s = time.monotonic() - t0
            n.cpu_s = time.process_time() - cpu0
            s = robot.read_state()
            n.final_pelvis_z_m = float(s.base.pos_w_m[2])
            n.final_tilt_rad = float(s.base.tilt_rad)
            n.final_pelvis_xy_m = (float(s.base.pos_w_m[0]), float(s.base.pos_w_m[1]))
            self._finish_stats()
            del reader, writer, participant, domain
        return n

    def _on_lowcmd(self, reader) -> None:
        """Cyclone's listener thread: check every sample, keep the newest valid one."""
        now = time.monotonic()
        n = self.counters
        for msg in reader.take(N=8):
            if not hasattr(msg, "motor_cmd"):
                continue
            n.commands_received += 1
            if not _crc.lowcmd_crc_ok(msg):
                n.commands_bad_crc += 1  # the G1 drops it; so do we
                continue
            if len(n.arrivals) < 2_000_000:  # ~67 min at 500 Hz; bounded memory
                n.arrivals.append(now)
            cmd = convert.targets_to_command(convert.lowcmd_to_targets(msg), now)
            with self._lock:
                self._command = cmd
                self._fresh = True

    def _finish_stats(self) -> None:
        n = self.counters
        if len(n.arrivals) > 2:
            gaps_ms = np.diff(np.array(n.arrivals)) * 1e3
            n.interarrival_ms_p50 = float(np.percentile(gaps_ms, 50))
            n.interarrival_ms_p99 = float(np.percentile(gaps_ms, 99))
            n.interarrival_ms_max = float(gaps_ms.max())


def _zero(t: float):
    from humanoid_teleop.contracts import RobotCommand

    return RobotCommand.zero_torque(max(t, 0.0), note="no valid command")


def format_counters(counters: SimRobotCounters) -> str:
    """One JSON line, prefixed so a parent process can find it in the output."""
    return "sim-robot counters " + json.dumps(counters.summary())
