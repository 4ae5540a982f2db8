"""The diffusion policy as a Controller (receding horizon).

``PolicyController`` must be called every control tick (``ControlLoop`` with
``act_every_ticks=1``, as ``validate`` and ``sim`` do): every call appends an observation to
the history, and every ``infer_every_ticks``-th call samples a new H-tick chunk starting at
that state's time. In between it returns the chunk it already has; the ChunkExecutor blends
each newly submitted chunk into the one executing and never replays a tick whose time has
passed. Inference runs on the calling thread, so runs are deterministic (lockstep sim,
validation, tests).

``ThreadedPolicyController`` is the real-time variant: ``act`` only records the observation
and, every k ticks, hands the newest history to a worker thread (one slot, the newest job
wins, nothing queues); it returns the newest finished chunk, stamped with the time of the
state it was computed from, so the executor drops the ticks that passed while it was being
computed. Only the very first call after ``reset`` waits for inference.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

import numpy as np

from humanoid_teleop.contracts import ActionChunk, Intent, RobotState, VelocityCommand
from humanoid_teleop.gait import GaitClock, GaitClockConfig, phase_features
from humanoid_teleop.odometry import BaseVelocityEstimator
from humanoid_teleop.policy.inference import DiffusionPolicy, intent_from_command


# Every recorded episode starts with at least 1.5 s of standing (validate's schedules), in
# which the expert lowers the pelvis to its walking height. A policy asked to walk at the
# first tick after the Safety ramp, from the ramp's posture, never saw that and stood still
# (vx 0.2 from tick 0: 0.01 m in 14 s; after 1.5 s of standing: 2.1 m). So it stands first.
START_STAND_S = 1.5


class PolicyController:
    """Controller protocol implementation; see the module docstring. For ``start_stand_s``
    after ``reset`` it is given a zero command whatever it is asked (``START_STAND_S``)."""

    name = "policy"

    def __init__(
        self,
        policy: DiffusionPolicy,
        *,
        infer_every_ticks: int | None = None,
        intent_source: Callable[[VelocityCommand, float], Intent] | None = None,
        start_stand_s: float = START_STAND_S,
    ):
        k = infer_every_ticks if infer_every_ticks is not None else policy.config.infer_every_ticks
        if not isinstance(k, int) or not 1 <= k <= policy.horizon:
            raise ValueError(
                f"infer_every_ticks: expected an int in 1..{policy.horizon}, got {k!r}"
            )
        self.policy = policy
        self.infer_every_ticks = k
        self.control_dt_s = policy.control_dt_s
        self.command_ranges = policy.robot.ranges
        # Maps the loop's velocity command to an intent; the server can inject one that adds
        # the estimator's skill and latent.
        self.intent_source = intent_source or intent_from_command
        self._history: collections.deque = collections.deque(maxlen=policy.n_obs_steps)
        self._chunk: ActionChunk | None = None
        self.clock = GaitClock(GaitClockConfig(dt_s=policy.control_dt_s))
        if start_stand_s < 0:
            raise ValueError(f"start_stand_s: expected >= 0, got {start_stand_s}")
        self.start_stand_s = start_stand_s
        self._t0_s: float | None = None
        self.velocity = (BaseVelocityEstimator()
                         if "base_lin_vel_b_mps" in policy.config.observation_terms else None)  # fmt: skip
        self._ticks = 0
        self.inferences = 0

    def reset(self, state: RobotState) -> None:
        self._history.clear()
        self._chunk = None
        self.clock.reset()
        self._t0_s = None
        if self.velocity is not None:
            self.velocity.reset()
        self._ticks = 0
        self.policy.reset()

    def command_now(self, state: RobotState, command: VelocityCommand) -> VelocityCommand:
        """``command``, or standing during the first ``start_stand_s`` of an episode."""
        if self._t0_s is None:
            self._t0_s = state.timestamp_s
        if state.timestamp_s - self._t0_s < self.start_stand_s:
            return VelocityCommand()
        return command

    def observe(self, state: RobotState, command: VelocityCommand) -> np.ndarray:
        """Append this state's observation to the history and advance the gait clock (once
        per tick); returns the (n_obs, D) history."""
        b = self.policy.builder
        velocity = None
        if self.velocity is not None:
            velocity = self.velocity.update(state.q_rad, state.dq_radps, state.imu.gyro_b_radps,
                                            state.imu.projected_gravity_b)  # fmt: skip
        # last action: refused by config
        terms = b.build(state, command, b.default_pose_rad, base_lin_vel_b_mps=velocity)
        if "gait_phase" in terms:  # the clock's phase of the previous tick, as in training
            terms["gait_phase"] = phase_features(self.clock.phase)
        self.clock.step(command)
        self._history.append(b.flatten(terms).astype(np.float32))
        return self.policy.history_array(list(self._history))

    def act(self, state: RobotState, command: VelocityCommand) -> ActionChunk:
        command = self.command_now(state, command)
        history = self.observe(state, command)
        due = self._ticks % self.infer_every_ticks == 0
        self._ticks += 1
        if due or self._chunk is None:
            intent = self.intent_source(command, state.timestamp_s)
            self._chunk = self.policy.predict(history, intent, t0_s=state.timestamp_s)
            self.inferences += 1
        return self._chunk


class ThreadedPolicyController(PolicyController):
    """Inference off the control thread; see the module docstring. Call ``close`` when done
    (or use it as a context manager); a worker failure is re-raised by the next ``act``."""

    name = "policy"

    def __init__(self, policy: DiffusionPolicy, *, infer_every_ticks: int | None = None,
                 intent_source=None, start_stand_s: float = START_STAND_S,
                 latency_window: int = 1000):  # fmt: skip
        super().__init__(policy, infer_every_ticks=infer_every_ticks, intent_source=intent_source,
                         start_stand_s=start_stand_s)  # fmt: skip
        self._cv = threading.Condition()
        self._job: tuple | None = None  # (history, intent, t0_s, epoch): the newest request
        self._result: ActionChunk | None = None
        self._error: BaseException | None = None
        self._epoch = 0  # bumped by reset: results of an older episode are dropped
        self._stop = False
        self._thread: threading.Thread | None = None
        self.latencies_s: collections.deque = collections.deque(maxlen=latency_window)
        self.dropped_jobs = 0  # requests replaced by a newer one before the worker took them

    def __enter__(self) -> ThreadedPolicyController:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def reset(self, state: RobotState) -> None:
        with self._cv:
            self._epoch += 1
            self._job = None
            self._result = None
            self._error = None
        super().reset(state)

    def act(self, state: RobotState, command: VelocityCommand) -> ActionChunk:
        command = self.command_now(state, command)
        history = self.observe(state, command)
        due = self._ticks % self.infer_every_ticks == 0
        self._ticks += 1
        intent = self.intent_source(command, state.timestamp_s) if due else None
        with self._cv:
            if self._error is not None:
                err, self._error = self._error, None
                raise RuntimeError(f"policy worker failed: {err}") from err
            result = self._result
        if result is None:  # first call of an episode: nothing to execute yet, so wait
            intent = intent or self.intent_source(command, state.timestamp_s)
            result = self._infer(history, intent, state.timestamp_s)
            with self._cv:
                self._result = result
            return result
        if due:
            self._ensure_thread()
            with self._cv:
                if self._job is not None:
                    self.dropped_jobs += 1
                self._job = (history, intent, state.timestamp_s, self._epoch)
                self._cv.notify()
        return result

    def _infer(self, history, intent, t0_s) -> ActionChunk:
        start = time.perf_counter()
        chunk = self.policy.predict(history, intent, t0_s=t0_s)
        self.latencies_s.append(time.perf_counter() - start)
        self.inferences += 1
        return chunk

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="policy-worker", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._job is None and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                history, intent, t0_s, epoch = self._job
                self._job = None
            try:
                result = self._infer(history, intent, t0_s)
            except BaseException as exc:  # surfaced to the control thread by act()
                with self._cv:
                    if epoch == self._epoch:
                        self._error = exc
                continue
            with self._cv:
                if epoch == self._epoch:
                    self._result = result
