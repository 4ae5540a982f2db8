"""ChunkExecutor: timing, crossfades, staleness, holding and thread safety (no sim)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.contracts import ActionChunk
from humanoid_teleop.control.executor import ChunkExecutor, ExecutorConfig, tick_index

DT = g1.CONTROL_DT_S
N = g1.NUM_JOINTS
J = np.arange(N) * 1e-3  # per-joint offset, so joints are told apart too


def chunk(t0, horizon=10, base=0.0, *, dt=DT, kp=10.0, kd=1.0, tau=None, dq="auto"):
    """q[i, j] = base + i + j/1000; tau[i, j] = tau + i; dq[i, j] = -(base + i) (if given)."""
    i = np.arange(horizon)[:, None]
    q = base + i + J
    return ActionChunk(
        t0_s=t0,
        dt_s=dt,
        joint_names=g1.JOINT_NAMES,
        q_rad=q,
        kp=np.full(N, kp),
        kd=np.full(N, kd),
        tau_ff_nm=None if tau is None else tau + i + 0 * J,
        dq_radps=None if dq is None else (-(base + i) + 0 * J if dq == "auto" else dq),
    )


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12)


def executor(**kw) -> ChunkExecutor:
    return ChunkExecutor(ExecutorConfig(**kw))


# -- single chunk and timing ---------------------------------------------------------------


def test_single_chunk_plays_tick_by_tick():
    ex = executor()
    assert ex.submit(chunk(1.0, 5, base=10.0, tau=3.0, kp=50.0, kd=2.0), now_s=1.0)
    for k in range(5):
        now = 1.0 + k * DT
        t = ex.targets_at(now)
        assert t.timestamp_s == now
        close(t.q_rad, 10.0 + k + J)
        close(t.dq_radps, -(10.0 + k))
        close(t.tau_ff_nm, 3.0 + k)
        close(t.kp, 50.0)
        close(t.kd, 2.0)
    assert ex.stats.ticks == 5


def test_lookahead_sends_each_tick_the_target_planned_for_one_tick_later():
    """With lookahead_s one tick (a loop whose commands act a tick late) every tick gets the
    next row, stamped now; the chunk's last row then holds to its end, and a one-tick chunk
    (the expert's) plays as without lookahead."""
    ex = executor(lookahead_s=DT)
    assert ex.submit(chunk(1.0, 4, base=10.0), now_s=1.0)
    rows = []
    for k in range(4):
        t = ex.targets_at(1.0 + k * DT)
        assert t.timestamp_s == 1.0 + k * DT
        rows.append(float(t.q_rad[0]))
    assert rows == [11.0, 12.0, 13.0, 13.0]
    one_tick = executor(lookahead_s=DT)
    assert one_tick.submit(chunk(2.0, 1, base=5.0), now_s=2.0)
    close(one_tick.targets_at(2.0).q_rad, 5.0 + J)
    with pytest.raises(ValueError, match="lookahead_s"):
        ExecutorConfig(lookahead_s=-DT)


def test_tau_ff_defaults_to_zero():
    ex = executor()
    ex.submit(chunk(0.0, 3, tau=None), 0.0)
    close(ex.targets_at(0.0).tau_ff_nm, 0.0)


def test_late_chunk_skips_past_ticks():
    ex = executor()
    assert ex.submit(chunk(0.0, 10), now_s=3 * DT)
    close(ex.targets_at(3 * DT).q_rad, 3.0 + J)
    close(ex.targets_at(4 * DT).q_rad, 4.0 + J)
    # A loop that skipped ticks also skips the chunk's ticks: time decides, not call count.
    close(ex.targets_at(7 * DT).q_rad, 7.0 + J)


def test_future_chunk_waits_for_its_t0():
    ex = executor()
    ex.submit(chunk(0.5, 4, base=20.0), now_s=0.0)
    assert ex.targets_at(0.0) is None
    assert ex.targets_at(0.5 - DT) is None
    close(ex.targets_at(0.5).q_rad, 20.0 + J)


def test_tick_boundaries_with_float_times():
    # 0.1 + 0.2 = 0.30000000000000004 and 0.3 - 0.1 = 0.19999999999999998: both are tick 2.
    c = chunk(0.1, 5, dt=0.1)
    assert tick_index(c, 0.1 + 0.2) == 2
    assert tick_index(c, 0.3) == 2
    assert tick_index(c, 0.3 - 1e-6) == 1
    assert tick_index(c, 0.1 - 1e-6) == -1
    ex = executor(control_dt_s=0.1)
    ex.submit(c, 0.1)
    close(ex.targets_at(0.3).q_rad, 2.0 + J)
    close(ex.targets_at(0.1 + 0.2).q_rad, 2.0 + J)


def test_accumulated_float_clock_hits_every_tick():
    ex = executor()
    t0 = 0.1
    ex.submit(chunk(t0, 60), t0)
    now = t0
    for k in range(60):
        close(ex.targets_at(now).q_rad, k + J)
        now += DT  # accumulates rounding error, as a real loop does


# -- crossfades ----------------------------------------------------------------------------


def w(k, blend_ticks=4):
    return (k + 1) / (blend_ticks + 1)


def test_crossfade_uses_documented_weights_then_new_chunk_only():
    ex = executor(blend_ticks=4)
    old = chunk(0.0, 20, base=100.0, kp=10.0, kd=1.0, tau=5.0)
    new = chunk(2 * DT, 20, base=200.0, kp=60.0, kd=3.0, tau=None)
    ex.submit(old, 0.0)
    close(ex.targets_at(0.0).q_rad, 100.0 + J)
    close(ex.targets_at(DT).q_rad, 101.0 + J)
    assert ex.submit(new, 2 * DT)
    for k in range(4):
        t = ex.targets_at((2 + k) * DT)
        a, b = w(k), 1 - w(k)  # new chunk index k, old chunk index 2 + k
        close(t.q_rad, b * (102.0 + k) + a * (200.0 + k) + J)
        close(t.dq_radps, b * -(102.0 + k) + a * -(200.0 + k))
        close(t.tau_ff_nm, b * (5.0 + 2 + k) + a * 0.0)
        close(t.kp, b * 10.0 + a * 60.0)
        close(t.kd, b * 1.0 + a * 3.0)
    for k in range(4, 8):
        t = ex.targets_at((2 + k) * DT)
        close(t.q_rad, 200.0 + k + J)
        close(t.tau_ff_nm, 0.0)
        close(t.kp, 60.0)
        close(t.kd, 3.0)


def test_future_chunk_keeps_old_running_then_crossfades_from_its_t0():
    ex = executor(blend_ticks=4)
    ex.submit(chunk(0.0, 20, base=100.0), 0.0)
    ex.submit(chunk(5 * DT, 20, base=200.0), DT)
    for k in range(1, 5):
        close(ex.targets_at(k * DT).q_rad, 100.0 + k + J)
    # First tick both cover is the new chunk's t0 (its index 0, the old one's index 5).
    close(ex.targets_at(5 * DT).q_rad, (1 - w(0)) * 105.0 + w(0) * 200.0 + J)


def test_late_chunk_crossfades_from_its_index_for_now():
    ex = executor(blend_ticks=2)
    ex.submit(chunk(0.0, 20, base=100.0), 0.0)
    ex.submit(chunk(0.0, 20, base=200.0), 3 * DT)  # same t0, computed from an old state
    w2 = lambda k: (k + 1) / 3  # noqa: E731
    close(ex.targets_at(3 * DT).q_rad, (1 - w2(0)) * 103.0 + w2(0) * 203.0 + J)
    close(ex.targets_at(4 * DT).q_rad, (1 - w2(1)) * 104.0 + w2(1) * 204.0 + J)
    close(ex.targets_at(5 * DT).q_rad, 205.0 + J)


def test_blend_ticks_zero_switches_at_once():
    ex = executor(blend_ticks=0)
    ex.submit(chunk(0.0, 20, base=100.0), 0.0)
    ex.submit(chunk(DT, 20, base=200.0), DT)
    close(ex.targets_at(DT).q_rad, 200.0 + J)


def test_old_chunk_running_out_mid_blend_leaves_the_new_one():
    ex = executor(blend_ticks=4)
    ex.submit(chunk(0.0, 3, base=100.0), 0.0)  # ticks 0, 1, 2
    ex.submit(chunk(DT, 20, base=200.0), DT)
    close(ex.targets_at(DT).q_rad, (1 - w(0)) * 101.0 + w(0) * 200.0 + J)
    close(ex.targets_at(2 * DT).q_rad, (1 - w(1)) * 102.0 + w(1) * 201.0 + J)
    close(ex.targets_at(3 * DT).q_rad, 202.0 + J)


def test_new_chunk_mid_crossfade_blends_from_what_was_playing():
    # Constant chunks: A = 0, B = C = 100.
    ex = executor(blend_ticks=4)
    a = ActionChunk(0.0, DT, g1.JOINT_NAMES, np.zeros((20, N)), np.ones(N), np.ones(N))
    b = ActionChunk(DT, DT, g1.JOINT_NAMES, np.full((20, N), 100.0), np.ones(N), np.ones(N))
    c = ActionChunk(3 * DT, DT, g1.JOINT_NAMES, np.full((20, N), 100.0), np.ones(N), np.ones(N))
    ex.submit(a, 0.0)
    ex.submit(b, DT)
    close(ex.targets_at(DT).q_rad, 20.0)  # A -> B at weight 1/5
    close(ex.targets_at(2 * DT).q_rad, 40.0)
    ex.submit(c, 3 * DT)
    # C fades in from the A->B mix (60, 80, 100...), not from B alone: no jump.
    close(ex.targets_at(3 * DT).q_rad, (1 - w(0)) * 60.0 + w(0) * 100.0)
    close(ex.targets_at(4 * DT).q_rad, (1 - w(1)) * 80.0 + w(1) * 100.0)
    close(ex.targets_at(5 * DT).q_rad, 100.0)


def test_replaced_chunk_is_not_resumed_after_the_new_one_ends():
    ex = executor(blend_ticks=0, hold_s=0.0)
    ex.submit(chunk(0.0, 20, base=100.0), 0.0)
    ex.submit(chunk(DT, 2, base=200.0), DT)
    close(ex.targets_at(2 * DT).q_rad, 201.0 + J)
    assert ex.targets_at(3 * DT) is None


# -- staleness, ordering, dt and holding ---------------------------------------------------


def test_chunk_entirely_in_the_past_is_rejected_and_counted():
    ex = executor()
    c = chunk(0.0, 5)  # end_s = 5 * DT
    assert not ex.submit(c, now_s=5 * DT)
    assert not ex.submit(c, now_s=1.0)
    assert ex.submit(c, now_s=4 * DT)  # its last tick is still due
    s = ex.stats
    assert (s.submitted, s.accepted, s.rejected_stale) == (3, 1, 2)


def test_max_start_delay_rejects_chunks_from_old_states():
    ex = executor(max_start_delay_s=2 * DT)
    assert ex.submit(chunk(0.0, 10), now_s=2 * DT)
    assert not ex.submit(chunk(0.0, 10), now_s=3 * DT)
    assert ex.stats.rejected_stale == 1


def test_out_of_order_chunk_is_rejected():
    ex = executor()
    assert ex.submit(chunk(0.1, 10, base=1.0), 0.1)
    assert not ex.submit(chunk(0.08, 10, base=2.0), 0.1)
    assert ex.submit(chunk(0.1, 10, base=3.0), 0.1)  # same t0: a newer plan replaces it
    s = ex.stats
    assert (s.accepted, s.rejected_out_of_order) == (2, 1)


def test_dt_mismatch_is_rejected():
    ex = executor()
    assert not ex.submit(chunk(0.0, 10, dt=0.01), 0.0)
    assert ex.stats.rejected_dt_mismatch == 1
    assert ex.targets_at(0.0) is None


def test_hold_last_target_for_hold_s_then_none():
    ex = executor(hold_s=0.1)
    ex.submit(chunk(0.0, 3, base=7.0, tau=2.0, kp=30.0, kd=4.0), 0.0)
    for k in range(3):
        ex.targets_at(k * DT)
    # The chunk's last slot ends at 3 * DT; hold 0.1 s = 5 ticks from there.
    for k in range(3, 8):
        t = ex.targets_at(k * DT)
        assert t.timestamp_s == k * DT
        close(t.q_rad, 9.0 + J)
        close(t.dq_radps, 0.0)
        close(t.tau_ff_nm, 4.0)
        close(t.kp, 30.0)
        close(t.kd, 4.0)
    assert ex.targets_at(8 * DT) is None
    s = ex.stats
    assert (s.ticks, s.held_ticks, s.empty_ticks) == (3, 5, 1)


def test_nothing_submitted_gives_none():
    ex = executor()
    assert ex.targets_at(0.0) is None
    assert ex.stats.empty_ticks == 1


def test_chunk_after_a_hold_starts_without_blending():
    ex = executor(hold_s=0.1)
    ex.submit(chunk(0.0, 2, base=100.0), 0.0)
    ex.targets_at(0.0), ex.targets_at(DT)
    assert ex.targets_at(2 * DT) is not None  # holding
    ex.submit(chunk(3 * DT, 5, base=200.0), 3 * DT)
    close(ex.targets_at(3 * DT).q_rad, 200.0 + J)


def test_reset_forgets_chunks_hold_and_stats():
    ex = executor()
    ex.submit(chunk(0.5, 10), 0.5)
    ex.targets_at(0.5)
    ex.reset()
    assert ex.targets_at(0.5 + DT) is None
    assert ex.pending_horizon_s(0.5) == 0.0
    assert ex.stats.submitted == 0 and ex.stats.empty_ticks == 1
    assert ex.submit(chunk(0.1, 10), 0.1)  # ordering forgotten too


def test_pending_horizon():
    ex = executor()
    assert ex.pending_horizon_s(0.0) == 0.0
    ex.submit(chunk(0.0, 10), 0.0)
    assert ex.pending_horizon_s(0.0) == pytest.approx(10 * DT)
    assert ex.pending_horizon_s(4 * DT) == pytest.approx(6 * DT)
    assert ex.pending_horizon_s(1.0) == 0.0


# -- dq ------------------------------------------------------------------------------------


def test_dq_from_finite_differences_when_missing():
    ex = executor()
    q = (np.arange(5.0) ** 2)[:, None] + J  # 0, 1, 4, 9, 16
    c = ActionChunk(0.0, DT, g1.JOINT_NAMES, q, np.ones(N), np.ones(N))
    ex.submit(c, 0.0)
    expected = [1 / DT, 3 / DT, 5 / DT, 7 / DT, 7 / DT]  # last tick repeats the previous
    for k, dq in enumerate(expected):
        close(ex.targets_at(k * DT).dq_radps, dq)


def test_dq_of_a_one_tick_chunk_is_zero():
    ex = executor()
    ex.submit(chunk(0.0, 1, base=3.0, dq=None), 0.0)
    close(ex.targets_at(0.0).dq_radps, 0.0)


# -- config and threads --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"control_dt_s": 0.0},
        {"control_dt_s": float("nan")},
        {"blend_ticks": -1},
        {"blend_ticks": 1.5},
        {"hold_s": -0.1},
        {"max_start_delay_s": -1.0},
    ],
)
def test_config_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        ExecutorConfig(**kw)


def test_submit_from_a_thread_while_the_loop_reads():
    # q of every chunk equals the time of its tick, so whatever is blended, a correct
    # executor emits q == now (or holds an earlier value): never ahead, never backwards.
    ex = executor(blend_ticks=4, hold_s=0.1)
    clock = {"now": 0.0}
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker():
        try:
            while not stop.is_set():
                t0 = clock["now"]
                horizon = 8
                q = (t0 + np.arange(horizon) * DT)[:, None] + np.zeros(N)
                ex.submit(ActionChunk(t0, DT, g1.JOINT_NAMES, q, np.ones(N), np.ones(N)), t0)
                time.sleep(0)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    last_q = -np.inf
    emitted = 0
    try:
        for k in range(3000):
            now = k * DT
            clock["now"] = now
            t = ex.targets_at(now)
            if t is not None:
                emitted += 1
                q = t.q_rad[0]
                assert np.all(t.q_rad == q)
                assert last_q - 1e-9 <= q <= now + 1e-9
                last_q = q
            if k % 7 == 0:
                time.sleep(0)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not errors
    s = ex.stats
    assert emitted > 0 and s.accepted > 0
    assert s.submitted == s.accepted + s.rejected_stale + s.rejected_out_of_order
