"""Pacer keeps absolute deadlines and counts overruns; LatestSlot keeps only the newest value."""

import threading

import pytest

from humanoid_teleop.timing import LatestSlot, Pacer


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, dt):
        self.t += dt


def test_pacer_sleeps_to_absolute_deadlines():
    clock = FakeClock()
    pacer = Pacer(50.0, clock=clock, sleep=clock.sleep)
    deadlines = []
    for _ in range(5):
        deadlines.append(pacer.wait())
        clock.t += 0.005  # work shorter than the period
    assert deadlines == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08])
    assert pacer.stats.overruns == 0 and pacer.stats.on_time_fraction == 1.0


def test_pacer_counts_overruns_and_skips_missed_ticks():
    clock = FakeClock()
    pacer = Pacer(50.0, clock=clock, sleep=clock.sleep)
    pacer.wait()  # tick 0 at t=0
    clock.t = 0.075  # work overran: ticks at 0.02, 0.04, 0.06 are gone
    late = pacer.wait()
    assert late == pytest.approx(0.02)
    assert pacer.stats.overruns == 1
    assert pacer.stats.max_lateness_s == pytest.approx(0.055)
    nxt = pacer.wait()  # no burst: the next deadline is after now
    assert nxt == pytest.approx(0.08)
    assert pacer.stats.ticks == 3
    with pytest.raises(ValueError):
        Pacer(0)


def test_latest_slot_newest_wins_and_staleness():
    clock = FakeClock()
    slot = LatestSlot(clock=clock)
    assert slot.read() is None
    slot.publish(1)
    slot.publish(2)
    assert slot.read() == 2
    clock.t = 0.5
    assert slot.read(max_age_s=1.0) == 2
    assert slot.read(max_age_s=0.1) is None
    value, version, stamp = slot.read_versioned()
    assert (value, version, stamp) == (2, 2, 0.0)
    slot.clear()
    assert slot.read() is None


def test_latest_slot_wait_newer_wakes_on_publish():
    slot = LatestSlot()
    _, v0, _ = slot.read_versioned()
    threading.Timer(0.05, slot.publish, args=("x",)).start()
    value, version = slot.wait_newer(v0, timeout_s=2.0)
    assert value == "x" and version == v0 + 1
    value, version2 = slot.wait_newer(version, timeout_s=0.01)  # nothing newer: times out
    assert version2 == version
