"""The live pipeline: video frames -> intent -> velocity command -> 50 Hz control loop.

Threads, each publishing its newest value into a ``LatestSlot`` (nothing queues; a slow
stage drops what it could not take):

- the aiortc receive coroutine (event loop) only moves each decoded frame into its session's
  frame slot (``VideoSession.on_frame``);
- one estimator thread per video session converts the newest frame to a small RGB array,
  runs the embedded estimator for the session's view (smoothing included) and publishes an
  ``IntentSample`` into the pipeline's intent slot;
- the control thread runs ``ControlLoop.tick`` at 50 Hz on a ``Pacer`` (which records
  overruns) against the robot. Its command: the operator's override while fresh (0.5 s),
  else the newest intent while fresh (1 s) and a video session is connected, else zero
  (stand). Operator requests (arm, stop, e-stop, re-arm) run between ticks under a lock
  (``Safety`` is single-threaded), so they wait at most one tick;
- a telemetry thread builds the 30 Hz telemetry message and hands it to the event loop.
Mode changes are reported by the control thread the tick they happen (``on_mode``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import (
    CommandRanges,
    Frame,
    Intent,
    Mode,
    RobotCommand,
    RobotState,
    VelocityCommand,
)
from humanoid_teleop.control.controller import Controller
from humanoid_teleop.control.loop import ControlLoop, Monitor
from humanoid_teleop.control.robot import Robot, RobotError
from humanoid_teleop.control.safety import Safety, SafetyRefusal
from humanoid_teleop.timing import LatestSlot, Pacer, now_s
from humanoid_teleop.vlm.estimator import WORK_HEIGHT_PX, WORK_WIDTH_PX, IntentEstimator

log = logging.getLogger(__name__)

ZERO = VelocityCommand()


@dataclass(frozen=True)
class LiveConfig:
    control_hz: float = 50.0
    telemetry_hz: float = 30.0
    override_stale_s: float = 0.5
    intent_stale_s: float = 1.0

    def __post_init__(self):
        if not (0 < self.control_hz <= 1000 and 0 < self.telemetry_hz <= 120):
            raise ValueError(f"rates out of range: {self.control_hz}, {self.telemetry_hz}")


def make_estimator(view: str, subject: str = "person") -> IntentEstimator:
    """The embedded estimator for a view (smoothing with hysteresis is built in).

    ``subject``: ``person`` (a human operator: the defaults) or ``g1`` (video of the simulated
    G1: its head camera's optics, its height, and the body-orientation CNN that was trained
    on twin renders only and misreads real people)."""
    if subject not in ("person", "g1"):
        raise ValueError(f"subject: expected 'person' or 'g1', got {subject!r}")
    g1_video = subject == "g1"
    if view == "egocentric":
        from humanoid_teleop.vlm.egocentric import EgocentricEstimator, g1_head_camera_config

        return EgocentricEstimator(g1_head_camera_config() if g1_video else None)
    if view == "third_person":
        from humanoid_teleop.vlm.third_person import ThirdPersonEstimator, g1_fixed_camera_config

        return ThirdPersonEstimator(g1_fixed_camera_config() if g1_video else None)
    raise ValueError(f"view: expected 'egocentric' or 'third_person', got {view!r}")


@dataclass(frozen=True)
class IntentSample:
    """An intent with where its frame's time went."""

    intent: Intent
    frame_seq: int
    arrival_s: float  # monotonic: the frame reached the server
    capture_to_server_s: float
    capture_estimated: bool  # False: no browser clock yet, capture_to_server_s is 0
    estimator_s: float


class CaptureClock:
    """Capture -> server delay of each frame from the browser's clock messages.

    ``clock`` messages carry the browser's wall clock (ms); the smallest seen
    ``server_wall - client_wall`` is the clock offset plus the fastest one-way transit
    (on one machine, or NTP-synced machines, the offset is ~0 and this is the transit). A
    frame's RTP media time advances with its capture time, so the frame whose
    ``arrival - media time`` is smallest was delivered fastest; every other frame was
    delayed by the excess over it. Estimate = base transit + excess. Without clock messages
    the estimate is 0 and flagged as such.
    """

    def __init__(self):
        self._base_s: float | None = None
        self._min_lag_s = math.inf
        self._lock = threading.Lock()

    def on_clock(self, client_ms: float, server_wall_s: float | None = None) -> None:
        wall = time.time() if server_wall_s is None else server_wall_s
        one_way = wall - client_ms / 1000.0
        with self._lock:
            self._base_s = one_way if self._base_s is None else min(self._base_s, one_way)

    def on_frame(self, media_time_s: float | None, arrival_wall_s: float) -> tuple[float, bool]:
        with self._lock:
            if self._base_s is None:
                return 0.0, False
            base = max(0.0, self._base_s)
            if media_time_s is None:
                return base, True
            lag = arrival_wall_s - media_time_s
            self._min_lag_s = min(self._min_lag_s, lag)
            return base + (lag - self._min_lag_s), True


class FrameCounters:
    """Frames received / estimated / dropped (each field written by one thread only)."""

    def __init__(self):
        self.received = 0
        self.estimated = 0
        self.dropped = 0

    def as_dict(self) -> dict[str, int]:
        return {"received": self.received, "estimated": self.estimated, "dropped": self.dropped}


class VideoSession:
    """One connected video source: its newest frame, its estimator thread, its counters."""

    def __init__(self, session_id: str, view: str, pipeline: LivePipeline):
        self.session_id = session_id
        self.view = view
        self.pipeline = pipeline
        self.counters = FrameCounters()
        self.capture_clock = CaptureClock()
        self._frames: LatestSlot[tuple[Any, float, float, int]] = LatestSlot(pipeline.clock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._estimator: IntentEstimator | None = None

    # -- event loop side: only moves references ----------------------------------------------
    def on_frame(self, frame: Any) -> None:
        """Called by the receive coroutine with a decoded ``av.VideoFrame``."""
        self.counters.received += 1
        self._frames.publish((frame, self.pipeline.clock(), time.time(), self.counters.received))

    # -- estimator thread ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"estimator-{self.session_id[:6]}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        try:
            self._estimator = make_estimator(self.view)
        except Exception:
            log.exception("cannot build the %s estimator", self.view)
            return
        seen = 0
        last_t = -math.inf
        while not self._stop.is_set():
            item, version = self._frames.wait_newer(seen, timeout_s=0.2)
            if item is None or version == seen:
                continue
            frame, arrival_s, arrival_wall_s, seq = item
            # Versions published while we were busy were never looked at: dropped.
            self.counters.dropped += max(0, version - seen - 1)
            seen = version
            try:
                sample, last_t = self._estimate(frame, arrival_s, arrival_wall_s, seq, last_t)
            except Exception:  # a bad frame must not end the session
                log.exception("estimator failed on a frame")
                self.counters.dropped += 1
                continue
            self.counters.estimated += 1
            if sample is not None:
                self.pipeline.publish_intent(sample)

    def _estimate(self, frame, arrival_s, arrival_wall_s, seq, last_t):
        t0 = time.perf_counter()
        image = frame_to_rgb(frame)
        # Frame times must increase strictly; arrival time is the frame's time on our clock.
        t = max(arrival_s, last_t + 1e-4)
        intent = self._estimator.update(Frame(t, image, self.view, index=seq, source="webrtc"))
        estimator_s = time.perf_counter() - t0
        media_s = None
        if getattr(frame, "pts", None) is not None and getattr(frame, "time_base", None):
            media_s = float(frame.pts * frame.time_base)
        c2s, estimated = self.capture_clock.on_frame(media_s, arrival_wall_s)
        if intent is None:
            return None, t
        return IntentSample(intent, seq, arrival_s, c2s, estimated, estimator_s), t


def frame_to_rgb(frame: Any) -> np.ndarray:
    """An ``av.VideoFrame`` (or an RGB array) scaled to fit the estimators' working size.

    Scaling inside the YUV -> RGB conversion (swscale) is cheaper than converting the full
    frame and resizing afterwards.
    """
    if isinstance(frame, np.ndarray):
        return frame
    w, h = frame.width, frame.height
    scale = min(1.0, WORK_WIDTH_PX / w, WORK_HEIGHT_PX / h)
    if scale < 0.9:
        w2, h2 = max(16, round(w * scale) // 2 * 2), max(16, round(h * scale) // 2 * 2)
        return frame.reformat(width=w2, height=h2, format="rgb24").to_ndarray()
    return frame.to_ndarray(format="rgb24")


@dataclass(frozen=True)
class ControlSnapshot:
    """What the control thread publishes every tick (the telemetry thread reads it)."""

    t_s: float
    tick: int
    mode: Mode
    state: RobotState | None
    command: VelocityCommand
    source: str  # override | video | none | stale
    sample: IntentSample | None
    policy_s: float
    reflect_latency_s: float | None  # frame arrival -> first tick whose targets reflect it


class LivePipeline:
    """Owns the control thread, the robot's Safety and the video sessions."""

    def __init__(
        self,
        robot: Robot,
        controller: Controller,
        *,
        config: LiveConfig | None = None,
        clock: Callable[[], float] = now_s,
        on_mode: Callable[[dict], None] | None = None,
        on_telemetry: Callable[[str, float], None] | None = None,  # (JSON text, t_s)
        arm_gate: Callable[[], str] | None = None,  # "" or why the robot may not be armed
        monitor: Monitor | None = None,  # e.g. the shadow twin of a hardware robot
    ):
        self.robot = robot
        self.controller = controller
        self.config = config or LiveConfig()
        self.clock = clock
        self.safety = Safety()
        self.arm_gate = arm_gate
        self.loop = ControlLoop(robot, controller, self.safety, monitor=monitor)
        self.ranges: CommandRanges = getattr(controller, "command_ranges", CommandRanges())
        self.on_mode = on_mode
        self.on_telemetry = on_telemetry
        self.pacer = Pacer(self.config.control_hz)
        self.sessions: dict[str, VideoSession] = {}
        self._sessions_lock = threading.Lock()
        self._override: LatestSlot[VelocityCommand] = LatestSlot(clock)
        self._intent: LatestSlot[IntentSample] = LatestSlot(clock)
        self.snapshot: LatestSlot[ControlSnapshot] = LatestSlot(clock)
        self._safety_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.mode = Mode.PASSIVE
        # frame arrival -> first joint target reflecting it, seconds (for the benchmark)
        self.reflect_latencies_s: deque[float] = deque(maxlen=10_000)
        self.policy_times_s: deque[float] = deque(maxlen=10_000)
        self.estimator_times_s: deque[float] = deque(maxlen=10_000)
        self.ticks_by_mode: Counter[str] = Counter()
        self._telemetry_seq = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.robot.connect()
        for target, name in (
            (self._control_run, "control-50hz"),
            (self._telemetry_run, "telemetry"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self.sessions = list(self.sessions.values()), {}
        for s in sessions:
            s.stop()
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2.0)
        self._threads.clear()
        self.robot.disconnect()

    # -- sessions, intents, overrides -------------------------------------------------------
    def add_session(self, session_id: str, view: str) -> VideoSession:
        session = VideoSession(session_id, view, self)
        with self._sessions_lock:
            self.sessions[session_id] = session
        session.start()
        return session

    def remove_session(self, session_id: str) -> None:
        with self._sessions_lock:
            session = self.sessions.pop(session_id, None)
        if session is not None:
            session.stop()

    def publish_intent(self, sample: IntentSample) -> None:
        self.estimator_times_s.append(sample.estimator_s)
        self._intent.publish(sample)

    def set_override(self, command: VelocityCommand | None) -> None:
        """A keyboard / gamepad command, stale after ``override_stale_s`` without a repeat."""
        if command is None:
            self._override.clear()
        else:
            self._override.publish(command)

    def frame_counters(self) -> dict[str, int]:
        with self._sessions_lock:
            sessions = list(self.sessions.values())
        total = FrameCounters()
        for s in sessions:
            total.received += s.counters.received
            total.estimated += s.counters.estimated
            total.dropped += s.counters.dropped
        return total.as_dict()

    def intent_source(self) -> str:
        if self._override.read(self.config.override_stale_s) is not None:
            return "override"
        if self.sessions and self._intent.read(self.config.intent_stale_s) is not None:
            return "video"
        return "none"

    # -- operator requests ---------------------------------------------------------------------
    def apply(self, action: str) -> Mode:
        """``arm`` | ``stop`` | ``estop`` | ``rearm``, now; raises ``SafetyRefusal``.

        ``Safety`` is not thread-safe: the control thread holds ``_safety_lock`` for each
        tick and requests take it in between, so Safety sees one caller at a time and a
        request waits at most one tick -- not for the pacer's next deadline. An e-stop also
        damps the motors at once instead of at the next tick. An arm waits for the tick that
        starts the ramp or refuses it (``_await_arm``).
        """
        if action not in ("arm", "stop", "estop", "rearm"):
            raise ValueError(f"unknown request {action!r}")
        if action == "arm" and self.arm_gate is not None:
            refused = self.arm_gate()  # reads files: outside the lock the control tick takes
            if refused:
                raise SafetyRefusal(refused)
        with self._safety_lock:
            now = self.robot.now_s()
            if action == "estop":
                self.safety.estop(now, "e-stop requested")
                with contextlib.suppress(RobotError):  # not connected: nothing to damp
                    self.robot.send(RobotCommand.damping(now, Mode.ESTOP, note="e-stop"))
            elif action == "stop":
                self.safety.stop(now, "operator stop")
            else:
                getattr(self.safety, action)(now)
            if action == "rearm":
                self._lift_twin()
            mode = self._note_mode()  # the page hears of it before the requester's answer
        if action == "arm":
            self._await_arm()
            return self.mode
        return mode

    def _await_arm(self) -> None:
        """Safety takes an arm request at the next control tick, where it may refuse it (a
        joint moving too fast, a tilted robot): wait for that tick, so the requester hears a
        refusal as one, not as a mode that stays passive (with no tick in 3 periods it
        returns; the request stays pending)."""
        deadline = time.monotonic() + 3 * self.pacer.period_s
        while self.safety.arm_pending:
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)
        if self.safety.arm_refusal:
            raise SafetyRefusal(self.safety.arm_refusal)

    def _note_mode(self) -> Mode:
        """Publish a mode change the moment Safety makes it (control thread only)."""
        mode = self.safety.mode
        if mode is not self.mode:
            self.mode = mode
            reason = self.safety.log[-1].reason if self.safety.log else ""
            if self.on_mode is not None:
                self.on_mode(self.mode_message(reason))
        return mode

    def _lift_twin(self) -> None:
        """Re-arming puts a twin back on its gantry (see ``server.robots``); hardware has none."""
        lift = getattr(self.robot, "put_on_gantry", None)
        if lift is not None:
            lift()

    # -- the control thread -------------------------------------------------------------------
    def select_command(self) -> tuple[VelocityCommand, str, IntentSample | None]:
        override = self._override.read(self.config.override_stale_s)
        if override is not None:
            return self.ranges.clamp(override), "override", None
        if not self.sessions:
            return ZERO, "none", None
        sample = self._intent.read(self.config.intent_stale_s)
        if sample is None:
            return ZERO, "stale", None
        intent = sample.intent
        command = intent.command if intent.skill == "walk" else ZERO
        return self.ranges.clamp(command), "video", sample

    def _control_run(self) -> None:
        tick = 0
        reflected_seq = -1
        while not self._stop.is_set():
            self.pacer.wait()
            command, source, sample = self.select_command()
            t0 = time.perf_counter()
            try:
                with self._safety_lock:
                    record = self.loop.tick(command)
                    mode = self._note_mode()
            except Exception:  # keep ticking: Safety turns missing targets into damping
                log.exception("control tick failed")
                continue
            policy_s = time.perf_counter() - t0
            self.policy_times_s.append(policy_s)
            self.ticks_by_mode[mode.value] += 1
            latency = None
            if (
                sample is not None
                and sample.frame_seq != reflected_seq
                and record.targets is not None
            ):
                reflected_seq = sample.frame_seq
                latency = self.clock() - sample.arrival_s
                self.reflect_latencies_s.append(latency)
            self.snapshot.publish(ControlSnapshot(
                self.clock(), tick, mode, record.state, command, source, sample, policy_s, latency,
            ))  # fmt: skip
            tick += 1

    # -- telemetry ---------------------------------------------------------------------------
    def telemetry_message(self) -> dict | None:
        snap = self.snapshot.read()
        if snap is None:
            return None
        self._telemetry_seq += 1
        state, sample = snap.state, snap.sample
        base = None
        if state is not None and state.base is not None:
            base = {"pos_m": _r(state.base.pos_w_m), "quat_wxyz": _r(state.base.quat_wxyz)}
        intent = None
        latency = {"capture_to_server": 0.0, "estimator": 0.0, "policy": snap.policy_s * 1e3,
                   "total": 0.0, "capture_to_server_estimated": False}  # fmt: skip
        if sample is not None:
            i = sample.intent
            intent = {"skill": i.skill, "vx": i.command.vx_mps, "vy": i.command.vy_mps,
                      "yaw_rate": i.command.yaw_rate_radps, "confidence": i.confidence,
                      "source": i.source}  # fmt: skip
            pipeline_s = snap.reflect_latency_s
            if pipeline_s is None:
                pipeline_s = snap.t_s - sample.arrival_s
            latency.update(
                capture_to_server=sample.capture_to_server_s * 1e3,
                estimator=sample.estimator_s * 1e3,
                total=(sample.capture_to_server_s + pipeline_s) * 1e3,
                capture_to_server_estimated=sample.capture_estimated,
            )
        c = snap.command
        return {
            "type": "telemetry",
            "t_s": snap.t_s,
            "seq": self._telemetry_seq,
            "mode": snap.mode.value,
            "base": base,
            "q_rad": _r(state.q_rad) if state is not None else None,
            "intent": intent,
            "intent_source": snap.source,
            "command": {"vx": c.vx_mps, "vy": c.vy_mps, "yaw_rate": c.yaw_rate_radps},
            "latency_ms": {
                k: (round(v, 2) if isinstance(v, float) else v) for k, v in latency.items()
            },
            "frames": self.frame_counters(),
        }

    def _telemetry_run(self) -> None:
        import json

        pacer = Pacer(self.config.telemetry_hz)
        while not self._stop.is_set():
            pacer.wait()
            if self.on_telemetry is None:
                continue
            message = self.telemetry_message()
            if message is not None:
                self.on_telemetry(json.dumps(message), message["t_s"])

    def mode_message(self, reason: str) -> dict:
        return {"type": "mode", "mode": self.mode.value, "reason": reason, "t_s": self.clock()}

    def hello(self, session_id: str) -> dict:
        return {"type": "hello", "joint_names": list(g1.JOINT_NAMES),
                "control_hz": self.config.control_hz, "session_id": session_id}  # fmt: skip


def _r(values) -> list[float]:
    return [round(float(v), 5) for v in values]
