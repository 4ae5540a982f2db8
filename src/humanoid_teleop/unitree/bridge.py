"""G1Bridge: the Robot protocol over DDS to a Unitree G1 (or to ``humanoid-teleop sim-robot``).

Threads: the caller's control loop (50 Hz) calls ``read_state``/``send``; the bridge's own
thread runs at 500 Hz and each tick
  1. takes the newest ``rt/lowstate`` sample, drops (and counts) bad-CRC / invalid ones,
     stamps good ones with the monotonic receive time and remembers ``mode_machine``; the
     accelerometer it reports is the mean over the last control period's samples
     (control/accel.py), as the twin in-process reports it;
  2. checks the watchdog: no valid LowState for ``lowstate_timeout_s`` -> latched fault:
     stop commanding motion, stream damping (kp 0, kd 8, tau 0), report it in ``health``;
  3. writes one ``rt/lowcmd`` with its CRC, echoing ``mode_machine``.
Between 50 Hz targets the stream holds ``q + dq * t`` (t since the target arrived, capped at
two control periods), exactly the law ``sim/robot.py`` (MujocoRobot) applies, so the twin
in-process and the twin over DDS see the same targets.

Connecting shortens the process's GIL switch interval (``timing.share_gil_with_fast_loops``):
at Python's default 5 ms a controller computing in the caller's thread kept the 500 Hz
thread waiting for whole periods.

The stream starts at the first ``send`` (connecting only listens: it does not take the
motors). ``send`` of a damping command (e-stop) is on the wire at the next 2 ms tick.
``disconnect`` streams damping for ``damping_on_exit_s`` before closing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field

from humanoid_teleop import g1
from humanoid_teleop.contracts import ContractError, RobotCommand, RobotState
from humanoid_teleop.control.accel import PeriodMeanAccel
from humanoid_teleop.control.robot import NotConnectedError, RobotError
from humanoid_teleop.timing import share_gil_with_fast_loops
from humanoid_teleop.unitree import convert, dds
from humanoid_teleop.unitree import crc as _crc
from humanoid_teleop.unitree.messages import LOWCMD_TOPIC, LOWSTATE_TOPIC, load

log = logging.getLogger(__name__)


class LowStateLostError(RobotError):
    """No valid LowState arrived in time (at connect, or while running)."""


@dataclass(frozen=True)
class BridgeConfig:
    domain_id: int = 0  # real robot: 0 on 192.168.123.x; simulators: 1 on lo
    network_interface: str | None = None  # e.g. "eth0", "lo"; None: Cyclone default / URI
    lowstate_timeout_s: float = g1.STATE_TIMEOUT_S
    command_rate_hz: float = 500.0
    control_dt_s: float = g1.CONTROL_DT_S
    connect_timeout_s: float = 3.0
    damping_on_exit_s: float = 0.1  # damping streamed on disconnect before the writer closes

    def __post_init__(self):
        if not 0 <= self.domain_id <= 232:
            raise ValueError(f"domain_id: expected 0..232, got {self.domain_id}")
        if self.network_interface is not None:
            dds.loopback_uri(self.network_interface)  # validates the name
        if not 0.05 <= self.lowstate_timeout_s <= g1.STATE_TIMEOUT_S:
            raise ValueError(
                f"lowstate_timeout_s: expected 0.05..{g1.STATE_TIMEOUT_S} s (G1 watchdog), "
                f"got {self.lowstate_timeout_s}"
            )
        if not 50.0 <= self.command_rate_hz <= 1000.0:
            raise ValueError(f"command_rate_hz: expected 50..1000, got {self.command_rate_hz}")
        if not 0.0 < self.control_dt_s <= 0.1:
            raise ValueError(f"control_dt_s: expected 0 < dt <= 0.1 s, got {self.control_dt_s}")
        if self.connect_timeout_s <= 0 or self.damping_on_exit_s < 0:
            raise ValueError("connect_timeout_s must be > 0 and damping_on_exit_s >= 0")

    @property
    def command_period_s(self) -> float:
        return 1.0 / self.command_rate_hz


@dataclass(frozen=True)
class BridgeHealth:
    """A snapshot of the bridge's counters and fault state."""

    connected: bool
    streaming: bool
    fault: str  # "" while healthy; latched until the next connect
    states_received: int
    states_bad_crc: int
    states_invalid: int
    commands_sent: int
    command_mode: str  # the Mode of what is on the wire now
    last_state_age_s: float
    mode_machine: int
    overruns: int  # 500 Hz ticks that started more than half a period late

    @property
    def ok(self) -> bool:
        return self.connected and not self.fault


@dataclass
class _Counters:
    states_received: int = 0
    states_bad_crc: int = 0
    states_invalid: int = 0
    commands_sent: int = 0
    overruns: int = 0
    faults: list[str] = field(default_factory=list)


class G1Bridge:
    name = "g1-dds"
    is_hardware = True  # a real G1 or the simulated one: the same wire, the same rules

    def __init__(self, config: BridgeConfig | None = None):
        self.config = config or BridgeConfig()
        self._lock = threading.Lock()
        self._connected = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._reset_session()

    # -- Robot protocol ------------------------------------------------------------------
    def connect(self) -> None:
        if self._connected:
            return
        M = load()  # ImportError with install instructions when cyclonedds is missing
        from cyclonedds.pub import DataWriter
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        self._reset_session()
        c = self.config
        self._domain, self._participant = dds.open_participant(c.domain_id, c.network_interface)
        self._reader = DataReader(
            self._participant, Topic(self._participant, LOWSTATE_TOPIC, M.LowState_),
            qos=dds.keep_last_qos(1),
        )  # fmt: skip
        self._writer = DataWriter(
            self._participant, Topic(self._participant, LOWCMD_TOPIC, M.LowCmd_)
        )
        self._stop.clear()
        self._connected = True
        share_gil_with_fast_loops()
        self._thread = threading.Thread(target=self._run, name="g1-bridge-500hz", daemon=True)
        self._thread.start()
        if not self._first_state.wait(c.connect_timeout_s):
            self._shutdown(send_damping=False)
            raise LowStateLostError(
                f"no valid {LOWSTATE_TOPIC} on domain {c.domain_id} "
                f"(interface {c.network_interface or 'default'}) within {c.connect_timeout_s} s: "
                "is the robot on and in debug mode, or `humanoid-teleop sim-robot` running?"
            )

    def read_state(self) -> RobotState:
        """The newest valid state (stamped with its monotonic receive time; may be stale)."""
        self._require_connected()
        with self._lock:
            state = self._state
        if state is None:  # pragma: no cover - connect waits for the first state
            raise LowStateLostError("no LowState received yet")
        return state

    def send(self, command: RobotCommand) -> RobotCommand:
        """Set the 500 Hz stream's target; returns it as it goes on the wire (float32)."""
        self._require_connected()
        if not isinstance(command, RobotCommand):
            raise TypeError(f"expected RobotCommand, got {type(command).__name__}")
        with self._lock:
            if self._fault:
                command = RobotCommand.damping(command.timestamp_s, note=f"bridge: {self._fault}")
            applied = convert.wire_round(command)
            self._target = applied
            self._target_set_s = time.monotonic()
            self._streaming = True
        return applied

    def now_s(self) -> float:
        return time.monotonic()

    def disconnect(self) -> None:
        if not self._connected:
            return
        self._shutdown(send_damping=True)

    # -- status -----------------------------------------------------------------------------
    @property
    def health(self) -> BridgeHealth:
        with self._lock:
            n = self._counters
            return BridgeHealth(
                connected=self._connected, streaming=self._streaming, fault=self._fault,
                states_received=n.states_received, states_bad_crc=n.states_bad_crc,
                states_invalid=n.states_invalid, commands_sent=n.commands_sent,
                command_mode=self._target.mode.value if self._target else "none",
                last_state_age_s=time.monotonic() - self._last_rx_s,
                mode_machine=self._mode_machine, overruns=n.overruns,
            )  # fmt: skip

    @property
    def faults(self) -> list[str]:
        with self._lock:
            return list(self._counters.faults)

    # -- internals ------------------------------------------------------------------------
    def _reset_session(self) -> None:
        self._state: RobotState | None = None
        self._first_state = threading.Event()
        self._last_rx_s = float("-inf")
        self._mode_machine = 0
        self._target: RobotCommand | None = None
        self._target_set_s = 0.0
        self._streaming = False
        self._fault = ""
        self._counters = _Counters()
        # LowState arrives at the stream's rate (500 Hz on the G1, as the commands go out):
        # one control period holds this many samples.
        c = self.config
        self._accel = PeriodMeanAccel(max(1, round(c.control_dt_s / c.command_period_s)))
        self._domain = self._participant = self._reader = self._writer = None

    def _require_connected(self) -> None:
        if not self._connected:
            raise NotConnectedError("G1Bridge is not connected; call connect() first")

    def _shutdown(self, send_damping: bool) -> None:
        if send_damping:
            with self._lock:
                self._target = convert.wire_round(
                    RobotCommand.damping(time.monotonic(), note="disconnect")
                )
                self._target_set_s = time.monotonic()
                self._streaming = True
            time.sleep(self.config.damping_on_exit_s)  # the thread streams it meanwhile
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if send_damping and self._writer is not None:
            self._write(self._target)  # the last word on the wire is damping
        with self._lock:
            self._connected = False
        # Dropping the last references deletes the DDS entities (cyclonedds Entity.__del__).
        self._reader = self._writer = self._participant = self._domain = None

    def _run(self) -> None:
        period = self.config.command_period_s
        next_s = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                self._poll_state(now)
                self._watchdog(now)
                if self._streaming:
                    self._write(self._command_at(now))
            except Exception:  # the stream must not die silently; the watchdog still runs
                log.exception("g1 bridge tick failed")
            next_s += period
            delay = next_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif -delay > period / 2:
                self._counters.overruns += 1
                next_s = time.monotonic()  # skip missed ticks instead of bursting

    def _poll_state(self, now: float) -> None:
        good = None
        for msg in self._reader.take(N=4):
            if not hasattr(msg, "motor_state"):  # InvalidSample (instance state change)
                continue
            if not _crc.lowstate_crc_ok(msg):
                self._counters.states_bad_crc += 1
                continue
            try:
                good = (msg, convert.lowstate_to_state(msg, time.monotonic()))
            except ContractError:
                self._counters.states_invalid += 1
                continue
            self._accel.add(good[1].imu.quat_wxyz, good[1].imu.accel_b_mps2)
        if good is not None:
            # The accelerometer as the twin reports it: the control period's mean.
            imu = good[1].imu
            mean = self._accel.mean_b(imu.quat_wxyz, imu.accel_b_mps2)
            state = dataclasses.replace(good[1], imu=dataclasses.replace(imu, accel_b_mps2=mean))
            with self._lock:
                self._state = state
                self._last_rx_s = good[1].timestamp_s
                self._mode_machine = int(good[0].mode_machine)
                self._counters.states_received += 1
            self._first_state.set()

    def _watchdog(self, now: float) -> None:
        if self._fault or not self._first_state.is_set():
            return
        age = now - self._last_rx_s
        if age > self.config.lowstate_timeout_s:
            with self._lock:
                self._fault = (
                    f"{LOWSTATE_TOPIC} lost: no valid state for {age:.2f} s "
                    f"(limit {self.config.lowstate_timeout_s} s)"
                )
                self._counters.faults.append(self._fault)
                self._target = convert.wire_round(RobotCommand.damping(now, note=self._fault))
                self._target_set_s = now
                self._streaming = True
            log.error("g1 bridge: %s -> damping", self._fault)

    def _command_at(self, now: float) -> RobotCommand:
        with self._lock:
            return self._target, now - self._target_set_s  # type: ignore[return-value]

    def _write(self, target_and_age) -> None:
        if isinstance(target_and_age, tuple):
            cmd, held_s = target_and_age
        else:
            cmd, held_s = target_and_age, 0.0
        # Hold q + dq * t between 50 Hz targets, capped like MujocoRobot (2 control periods).
        held_s = min(max(held_s, 0.0), 2 * self.config.control_dt_s)
        q = cmd.q_rad + cmd.dq_radps * held_s if cmd.dq_radps.any() else cmd.q_rad
        s = convert.to_slots
        msg = convert.lowcmd_from_arrays(
            s(q),
            s(cmd.dq_radps),
            s(cmd.tau_ff_nm),
            s(cmd.kp),
            s(cmd.kd),
            cmd.motor_enabled,
            self._mode_machine,
        )
        self._writer.write(msg)
        self._counters.commands_sent += 1


class damp_on_signals:
    """Context manager for CLI paths: SIGINT/SIGTERM (and leaving the block) disconnect the
    bridge, which streams damping before it closes. Main thread only (Python signals)."""

    def __init__(self, bridge: G1Bridge):
        self.bridge = bridge
        self._previous: dict = {}

    def __enter__(self) -> G1Bridge:
        import signal

        def handler(signum, frame):
            self.bridge.disconnect()  # damping first, then raise to unwind the caller
            raise KeyboardInterrupt(f"signal {signum}: robot left in damping")

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, handler)
        return self.bridge

    def __exit__(self, *exc) -> None:
        import signal

        self.bridge.disconnect()
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
