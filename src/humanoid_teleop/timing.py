"""Monotonic time, fixed-rate pacing and the newest-value slot every stage publishes into."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

T = TypeVar("T")

now_s: Callable[[], float] = time.monotonic

# A thread that wants the GIL waits up to Python's switch interval (5 ms by default) while
# another thread computes: a 500 Hz DDS thread beside a controller would lose whole periods.
FAST_LOOP_SWITCH_INTERVAL_S = 0.0005


def share_gil_with_fast_loops() -> None:
    """Shorten this process's GIL switch interval so a 500 Hz thread keeps its period while
    other threads compute (the DDS bridge beside a controller, the sim-robot's loop beside
    its DDS listener). Process-wide; never lengthens an interval set shorter already."""
    if sys.getswitchinterval() > FAST_LOOP_SWITCH_INTERVAL_S:
        sys.setswitchinterval(FAST_LOOP_SWITCH_INTERVAL_S)


@dataclass
class PacerStats:
    ticks: int = 0
    overruns: int = 0  # ticks that started later than one period after their deadline
    max_lateness_s: float = 0.0

    @property
    def on_time_fraction(self) -> float:
        return 1.0 if self.ticks == 0 else 1.0 - self.overruns / self.ticks


class Pacer:
    """Sleeps until the next tick of a fixed-rate loop and records overruns.

    Deadlines are absolute (t0 + k * period) so jitter does not accumulate. A tick that
    starts more than ``tolerance`` periods late is an overrun; after an overrun the schedule
    skips the missed ticks instead of bursting to catch up.
    """

    def __init__(
        self,
        rate_hz: float,
        *,
        tolerance: float = 0.5,
        clock: Callable[[], float] = now_s,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
        self.period_s = 1.0 / rate_hz
        self.tolerance = tolerance
        self._clock = clock
        self._sleep = sleep
        self._next_s: float | None = None
        self.stats = PacerStats()

    def wait(self) -> float:
        """Block until the next tick; return its scheduled time."""
        t = self._clock()
        if self._next_s is None:
            self._next_s = t
        elif t < self._next_s:
            self._sleep(self._next_s - t)
        lateness = max(0.0, self._clock() - self._next_s)
        self.stats.ticks += 1
        self.stats.max_lateness_s = max(self.stats.max_lateness_s, lateness)
        deadline = self._next_s
        if lateness > self.tolerance * self.period_s:
            self.stats.overruns += 1
            missed = int(lateness // self.period_s)
            self._next_s += missed * self.period_s
        self._next_s += self.period_s
        return deadline


class LatestSlot(Generic[T]):
    """Holds only the newest value with its publish time; readers never block, nothing queues."""

    def __init__(self, clock: Callable[[], float] = now_s):
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._stamp_s = float("-inf")
        self._version = 0
        self._changed = threading.Condition(self._lock)

    def publish(self, value: T) -> None:
        with self._lock:
            self._value = value
            self._stamp_s = self._clock()
            self._version += 1
            self._changed.notify_all()

    def read(self, max_age_s: float | None = None) -> T | None:
        """Newest value, or None when empty or older than ``max_age_s``."""
        with self._lock:
            if max_age_s is not None and self._clock() - self._stamp_s > max_age_s:
                return None
            return self._value

    def read_versioned(self) -> tuple[T | None, int, float]:
        """(value, version, publish time): a consumer skips a version it has already seen."""
        with self._lock:
            return self._value, self._version, self._stamp_s

    def wait_newer(self, version: int, timeout_s: float) -> tuple[T | None, int]:
        """Block until a version newer than ``version`` arrives or the timeout passes."""
        with self._changed:
            self._changed.wait_for(lambda: self._version > version, timeout=timeout_s)
            return self._value, self._version

    def clear(self) -> None:
        with self._lock:
            self._value = None
            self._stamp_s = float("-inf")
            self._version += 1
