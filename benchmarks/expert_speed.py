"""How fast the walking expert computes, and how fast expert data collection runs.

    PYTHONPATH=src python benchmarks/expert_speed.py [--walk-s 20] [--episodes 2] [--episode-s 10]
        [--controller expert|expert:imu|expert:calm]

Prints a markdown table (machine first). Single-threaded: the thread-pool variables are
pinned to 1 before numpy / mujoco load. Rows:

(a) expert ``act`` (``--controller``): wall time of ``act`` alone per 50 Hz control tick, over
    ``--walk-s`` of ticks of the collection loop (seeded varied command schedule, no noise,
    no pushes; another episode seed runs if one falls); every tick is a sample;
(b) collection tick: the whole collection tick around it (read state, observation, act,
    Safety, 10 physics steps with the motor law), from the same episode;
(c) collection throughput: ``collect`` of ``--episodes`` x ``--episode-s`` episodes with its
    default noise and pushes into a temporary directory, as recorded simulation seconds
    per wall second, and with the unrecorded 2.5 s Safety ramp per episode counted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_rows, pin_single_thread


def _machine() -> list[tuple[str, str]]:
    import mujoco
    import numpy as np

    return [
        *machine_rows(),
        ("mujoco", mujoco.__version__),
        ("numpy", np.__version__),
    ]


class _Timed:
    """Delegates to a controller and records the wall time of each ``act``."""

    def __init__(self, inner):
        self._inner = inner
        self.act_s: list[float] = []

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def act(self, state, command):
        t = time.perf_counter()
        chunk = self._inner.act(state, command)
        self.act_s.append(time.perf_counter() - t)
        return chunk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--walk-s", type=float, default=20.0)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--episode-s", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--controller", default="expert", help="the expert variant timed in (a)")
    args = parser.parse_args(argv)
    pin_single_thread()

    import numpy as np

    from humanoid_teleop import g1
    from humanoid_teleop.controllers import make_controller
    from humanoid_teleop.sim import collect as col
    from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

    t_total = time.perf_counter()
    rows: list[tuple[str, ...]] = []

    # (a), (b): walking episodes through the collection loop, act timed inside them; a
    # further seed runs when an episode falls, until --walk-s of ticks are measured.
    robot = MujocoRobot(MujocoRobotConfig(control_dt_s=g1.CONTROL_DT_S))
    need_ticks = round(args.walk_s / g1.CONTROL_DT_S)
    act_s: list[float] = []
    ticks = walking = episodes = 0
    falls: list[str] = []
    loop_wall_s = 0.0
    ramp_ticks = round(2.5 / g1.CONTROL_DT_S) + 1
    while ticks < need_ticks and episodes < 10:
        expert = _Timed(make_controller(args.controller))
        cfg = col.CollectConfig(
            episodes=1, seconds=(need_ticks - ticks) * g1.CONTROL_DT_S, seed=args.seed,
            action_noise_std_rad=0.0, push_probability=0.0,
        )  # fmt: skip
        t0 = time.perf_counter()
        arrays, fell, reason = col.run_collect_episode(
            expert, robot, cfg, cfg.resolved_ranges(expert), col.episode_seed(args.seed, episodes)
        )
        loop_wall_s += time.perf_counter() - t0
        n = len(arrays["time_s"])
        act_s.extend(expert.act_s[:n])
        ticks += n
        walking += int(np.count_nonzero(np.any(arrays["command"] != 0, axis=1)))
        episodes += 1
        if fell:
            falls.append(f"episode {episodes - 1} at {n * g1.CONTROL_DT_S:.1f} s ({reason})")
    act_ms = np.asarray(act_s) * 1e3
    rows.append((
        f"(a) {args.controller} act", f"{ticks} ticks in {episodes} episode(s), {walking} with a non-zero command",
        f"{np.median(act_ms):.2f} ms", f"{np.percentile(act_ms, 99):.2f} ms",
        f"{act_ms.max():.2f} ms", f"{np.median(act_ms) / (g1.CONTROL_DT_S * 1e3):.1%}",
    ))  # fmt: skip
    # The loop's wall time over all its ticks, the (cheaper, act-free) ramp ticks included.
    tick_ms = loop_wall_s * 1e3 / (ticks + episodes * ramp_ticks)
    rows.append((
        "(b) collection tick", "read + obs + act + Safety + 10 physics steps, ramp included",
        f"{tick_ms:.2f} ms (mean)", "", "", f"{tick_ms / (g1.CONTROL_DT_S * 1e3):.1%}",
    ))  # fmt: skip
    walk_note = "walking: " + ("; ".join(falls) if falls else "no fall")

    # (c): collection throughput with the default noise and pushes.
    ccfg = col.CollectConfig(episodes=args.episodes, seconds=args.episode_s, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        summary = col.collect(ccfg, Path(tmp) / "ds", progress=False)
        size_mb = sum(p.stat().st_size for p in (Path(tmp) / "ds").iterdir()) / 1e6
    recorded_s = summary.ticks * summary.control_dt_s
    with_ramp_s = recorded_s + args.episodes * 2.5
    rows.append((
        "(c) collect", (f"{args.episodes} x {args.episode_s:g} s, default noise/pushes "
        f"({summary.falls} fell; {recorded_s:.1f} s recorded, {size_mb:.1f} MB)"),
        f"{summary.sim_s_per_wall_s:.1f} sim s / wall s",
        f"{with_ramp_s / summary.wall_s:.1f} incl. ramps", f"{summary.wall_s:.1f} s wall", "",
    ))  # fmt: skip

    print("| machine | |\n|---|---|")
    for key, value in _machine():
        print(f"| {key} | {value} |")
    print()
    print("| measure | setup | median / rate | p99 | max / wall | of 20 ms tick |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{walk_note}. Seed {args.seed}. Total {time.perf_counter() - t_total:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
