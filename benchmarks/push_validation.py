"""Where `validate --pushes` episodes end: per-push survival and the way each episode fell.

    PYTHONPATH=src python benchmarks/push_validation.py [--episodes 40] [--seed 0]
        [--workers 2] [--set capture_in_double_support=false]

Runs the walking expert through the episodes of ``validate --controller expert --pushes``
(same schedules, pushes and seeds; ``--set`` overrides ``ExpertConfig`` fields as in
``push_recovery.py``) and prints: episodes fallen, pushes survived (a push counts as
survived unless the episode fell before the next one), where the robot was when the fatal
push landed (standing, double or single support), and what ended each fallen episode:
Safety's first termination (gyro past 6 rad/s, a joint past 10 rad/s, tilt) or a fall with
Safety still active. The validation bar needs about 99% of pushes survived.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from machine import machine_rows, pin_single_thread
from push_recovery import expert_config


def run_one(job: tuple) -> tuple[bool, int, str, str]:
    """One episode; returns (fell, pushes landed, where the last push landed, how it ended)."""
    overrides, seed, episode = job
    from humanoid_teleop.sim import validate
    from humanoid_teleop.sim.expert import WalkingExpert
    from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

    expert = WalkingExpert(expert_config(overrides))
    robot = MujocoRobot(MujocoRobotConfig(control_dt_s=expert.control_dt_s))
    landed: list[str] = []

    def where() -> str:
        if not expert.stepping:
            return "standing"
        return "single support" if expert._in_single_support(expert._t_s) else "double support"

    def push_and_note(robot, rng, cfg):
        landed.append(where())
        push(robot, rng, cfg)

    push = validate.random_push
    validate.random_push = push_and_note  # this worker process runs one episode at a time
    try:
        config = validate.ValidationConfig(episodes=1, seed=seed, pushes=True,
                                           command_ranges=expert.command_ranges)  # fmt: skip
        result = validate.run_episode(expert, robot, config, seed * 100003 + episode)
    finally:
        validate.random_push = push
    return result.fell, len(landed), landed[-1] if landed else "-", ended_by(result.safety_fault)


def ended_by(fault: str) -> str:
    """Safety's termination, by kind ("" when Safety was still active at the fall)."""
    if not fault:
        return "fell, Safety active"
    if fault.startswith(("gyro", "tilt")):
        return fault.split(" ")[0]
    return "joint speed" if " speed " in fault else fault


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="ExpertConfig override (repeatable)")  # fmt: skip
    args = parser.parse_args(argv)
    pin_single_thread()
    expert_config(args.overrides)  # fail on a bad override before starting workers

    jobs = [(args.overrides, args.seed, e) for e in range(args.episodes)]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run_one, jobs))
    wall = time.perf_counter() - start

    fallen = [r for r in results if r[0]]
    pushes = sum(r[1] for r in results)
    print("| key | value |\n|---|---|")
    for key, value in machine_rows():
        print(f"| {key} | {value} |")
    print(f"| overrides | {' '.join(args.overrides) or '(defaults)'} |")
    print(f"| wall | {wall:.0f} s for {args.episodes} episodes, {args.workers} workers |\n")
    print("| metric | value |\n|---|---|")
    print(f"| episodes fallen | {len(fallen)} of {len(results)} (seed {args.seed}) |")
    survived = pushes - len(fallen)
    print(f"| pushes survived | {survived} of {pushes} ({survived / max(pushes, 1):.0%}) |")
    for name, index in (("fatal push landed while", 2), ("episode ended by", 3)):
        counts = Counter(r[index] for r in fallen)
        print(f"| {name} | " + ", ".join(f"{k} {n}" for k, n in counts.most_common()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
