"""ChunkExecutor: turns overlapping ActionChunks into one JointTargets per control tick.

A policy worker thread ``submit``s chunks; the control loop calls ``targets_at`` every tick.
Times are whatever clock the loop runs on (monotonic seconds, or simulation seconds).

- Tick index of a chunk at ``now``: ``floor((now - t0) / dt + 1e-9)``; the chunk covers
  ``now`` when ``0 <= index < H``. Past ticks are never executed: a late chunk starts at
  the index for ``now``.
- An accepted chunk replaces the future of whatever was executing. From the first tick at or
  after its submission that both cover (its own t0 if that lies in the future), the output
  crossfades linearly: the k-th blended tick (k = 0 .. blend_ticks-1) gives the new chunk
  weight (k+1)/(blend_ticks+1); after that it is the new chunk alone. q, dq, tau_ff, kp and
  kd are all blended.
- When nothing covers ``now``, the last emitted target is held (dq zeroed) for ``hold_s``
  after it ran out, then ``targets_at`` returns None and Safety damps.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import ActionChunk, JointTargets

_EPS = 1e-9  # absorbs float error in times such as 0.1 + 0.2


@dataclass(frozen=True)
class ExecutorConfig:
    control_dt_s: float = g1.CONTROL_DT_S
    blend_ticks: int = 4  # length of the crossfade into a newly submitted chunk (0: switch)
    hold_s: float = 0.1  # keep the last target this long after the last chunk ran out
    max_start_delay_s: float | None = None  # reject chunks whose t0 is longer ago than this
    # Send each tick the chunk's target for this much later: the loop's delay from reading
    # the state to the command acting in the motors, so a multi-tick chunk's plan lands on
    # time. Whole ticks only (the index is floored); never past the newest chunk's last
    # tick, so a one-tick chunk is unaffected.
    lookahead_s: float = 0.0

    def __post_init__(self):
        if not (math.isfinite(self.control_dt_s) and 0 < self.control_dt_s <= 1.0):
            raise ValueError(f"control_dt_s: expected 0 < dt <= 1 s, got {self.control_dt_s}")
        if not isinstance(self.blend_ticks, int) or self.blend_ticks < 0:
            raise ValueError(f"blend_ticks: expected an int >= 0, got {self.blend_ticks!r}")
        if not (math.isfinite(self.hold_s) and self.hold_s >= 0):
            raise ValueError(f"hold_s: expected a finite value >= 0 s, got {self.hold_s}")
        if not (math.isfinite(self.lookahead_s) and self.lookahead_s >= 0):
            raise ValueError(f"lookahead_s: expected a finite value >= 0 s, got {self.lookahead_s}")
        if self.max_start_delay_s is not None and not self.max_start_delay_s >= 0:
            raise ValueError(
                f"max_start_delay_s: expected None or >= 0 s, got {self.max_start_delay_s}"
            )


@dataclass
class ExecutorStats:
    submitted: int = 0
    accepted: int = 0
    rejected_stale: int = 0  # whole span already passed, or started too long ago
    rejected_out_of_order: int = 0  # t0 before the newest accepted chunk's
    rejected_dt_mismatch: int = 0
    ticks: int = 0  # targets_at calls answered from a chunk
    held_ticks: int = 0  # answered by holding the last target
    empty_ticks: int = 0  # answered None


def tick_index(chunk: ActionChunk, now_s: float) -> int:
    return math.floor((now_s - chunk.t0_s) / chunk.dt_s + _EPS)


class _Segment:
    """An accepted chunk with dq and tau_ff resolved, and what it crossfades out of."""

    def __init__(self, chunk: ActionChunk, prev: _Segment | None, blend_start: int):
        self.chunk = chunk
        self.prev = prev
        self.blend_start = blend_start  # this chunk's tick index where the crossfade begins
        q = chunk.q_rad
        if chunk.dq_radps is not None:
            self.dq = chunk.dq_radps
        elif len(q) == 1:
            self.dq = np.zeros_like(q)
        else:  # finite differences; the last tick repeats the previous velocity
            d = np.diff(q, axis=0) / chunk.dt_s
            self.dq = np.vstack([d, d[-1:]])
        self.tau = chunk.tau_ff_nm if chunk.tau_ff_nm is not None else np.zeros_like(q)

    def sample(self, now_s: float, blend_ticks: int) -> tuple[np.ndarray, ...] | None:
        """(q, dq, tau_ff, kp, kd) at ``now_s``, or None when this chunk has run out."""
        i = tick_index(self.chunk, now_s)
        if i < 0:  # not started yet: whatever it replaces keeps running until then
            return self.prev.sample(now_s, blend_ticks) if self.prev else None
        if i >= self.chunk.horizon:
            return None  # never fall back to the chunk this one replaced
        c = self.chunk
        own = (c.q_rad[i], self.dq[i], self.tau[i], c.kp, c.kd)
        k = max(0, i - self.blend_start)
        if self.prev is None or k >= blend_ticks:
            self.prev = None  # crossfade over: let the old chain go
            return own
        old = self.prev.sample(now_s, blend_ticks)
        if old is None:
            return own
        w = (k + 1) / (blend_ticks + 1)
        return tuple((1.0 - w) * a + w * b for a, b in zip(old, own))


class ChunkExecutor:
    """Times and blends ActionChunks into per-tick JointTargets. Thread-safe."""

    def __init__(self, config: ExecutorConfig | None = None):
        self.config = config or ExecutorConfig()
        self._lock = threading.Lock()
        self._stats = ExecutorStats()
        self._head: _Segment | None = None  # the newest accepted chunk
        self._last: JointTargets | None = None  # last target emitted from a chunk
        self._hold_until_s = -math.inf

    @property
    def stats(self) -> ExecutorStats:
        """A snapshot of the counters."""
        with self._lock:
            return dataclasses.replace(self._stats)

    def reset(self) -> None:
        """Forget all chunks, the held target and the counters."""
        with self._lock:
            self._stats = ExecutorStats()
            self._head = None
            self._last = None
            self._hold_until_s = -math.inf

    def submit(self, chunk: ActionChunk, now_s: float) -> bool:
        """Accept ``chunk`` (True) or reject it (False, counted in ``stats``).

        Rejected: a dt other than ``control_dt_s``; a chunk whose whole span is before
        ``now_s`` (or whose t0 is more than ``max_start_delay_s`` ago); a chunk whose t0 is
        before the newest accepted chunk's.
        """
        with self._lock:
            s = self._stats
            s.submitted += 1
            if abs(chunk.dt_s - self.config.control_dt_s) > _EPS:
                s.rejected_dt_mismatch += 1
                return False
            start = tick_index(chunk, now_s)
            delay = self.config.max_start_delay_s
            if start >= chunk.horizon or (delay is not None and now_s - chunk.t0_s > delay + _EPS):
                s.rejected_stale += 1
                return False
            if self._head is not None and chunk.t0_s < self._head.chunk.t0_s:
                s.rejected_out_of_order += 1
                return False
            s.accepted += 1
            self._head = _Segment(chunk, self._head, blend_start=max(0, start))
            return True

    def targets_at(self, now_s: float) -> JointTargets | None:
        """Targets for the control tick at ``now_s`` (stamped ``now_s``), or None."""
        with self._lock:
            sample = None
            if self._head is not None:
                chunk = self._head.chunk
                last_tick_s = chunk.t0_s + (chunk.horizon - 1) * chunk.dt_s
                at_s = max(now_s, min(now_s + self.config.lookahead_s, last_tick_s))
                sample = self._head.sample(at_s, self.config.blend_ticks)
            if sample is not None:
                q, dq, tau, kp, kd = sample
                self._last = JointTargets(now_s, g1.JOINT_NAMES, q, dq, tau, kp, kd)
                # The target's slot ends one tick later; the hold runs from there.
                self._hold_until_s = now_s + self.config.control_dt_s + self.config.hold_s
                self._stats.ticks += 1
                return self._last
            if self._last is not None and now_s < self._hold_until_s - _EPS:
                self._stats.held_ticks += 1
                last = self._last
                return JointTargets(
                    now_s, g1.JOINT_NAMES, last.q_rad, np.zeros(g1.NUM_JOINTS),
                    last.tau_ff_nm, last.kp, last.kd,
                )  # fmt: skip
            self._stats.empty_ticks += 1
            return None

    def pending_horizon_s(self, now_s: float) -> float:
        """Seconds from ``now_s`` until the newest accepted chunk runs out (0 when none)."""
        with self._lock:
            return max(0.0, self._head.chunk.end_s - now_s) if self._head else 0.0
