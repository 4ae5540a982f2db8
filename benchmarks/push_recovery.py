"""Single-push probe: how often the walking expert rides out one push, by command and impulse.

    PYTHONPATH=src python benchmarks/push_recovery.py [--impulses 15 20] [--workers 2]
        [--set step_limit_m=0.35 --set gait.single_support_s=0.3]

Each run: the twin from the home keyframe (no joint noise, heading 0) through the Safety
ramp, a command from 2 s, one horizontal push at the pelvis over 0.1 s (as
``validate --pushes``) at one of ``--push-times`` (spread over a gait cycle), in one of 8
directions (0 = forward in the robot's start heading, 90 = to its left); survived = not
fallen by ``--seconds``. The grid is 8 directions x push times x commands per impulse, so a
row's rate is over the same pushes for every setting compared. ``--set`` overrides
``ExpertConfig`` fields (dotted for nested configs; ``kp.ankle_pitch=60`` sets a joint group's gain) to compare settings side by side.

``validate --pushes`` puts about four 15-20 N s pushes in each 20 s episode, at random
times and commands, so its 5% fall-rate bar needs a per-push survival near 99%.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from machine import machine_rows, pin_single_thread

COMMANDS = {
    "stand": (0.0, 0.0, 0.0),
    "walk vx 0.3": (0.3, 0.0, 0.0),
    "walk vx 0.1, yaw 0.4": (0.1, 0.0, 0.4),
    "sidestep vy 0.1": (0.0, 0.1, 0.0),
}


def expert_config(overrides: list[str]):
    """``ExpertConfig`` with ``key=value`` overrides (``gait.x`` reaches the nested config)."""
    from humanoid_teleop.sim.expert.controller import ExpertConfig

    def replace(cfg, path: list[str], value):
        field_value = getattr(cfg, path[0])
        if path[0] in ("kp", "kd") and len(path) == 2:  # kp.ankle_pitch=60: one joint group
            from humanoid_teleop import g1

            gains = list(field_value)
            hits = [i for i, n in enumerate(g1.JOINT_NAMES) if n.endswith(f"_{path[1]}_joint")]
            if not hits:
                raise ValueError(f"no joint group {path[1]!r}")
            for i in hits:
                gains[i] = float(value)
            return dataclasses.replace(cfg, **{path[0]: tuple(gains)})
        if len(path) > 1:
            value = replace(field_value, path[1:], value)
        elif isinstance(field_value, tuple):
            value = tuple(float(v) for v in value.split(","))
        elif isinstance(field_value, bool):
            value = value.lower() in ("1", "true", "yes")
        else:
            value = type(field_value)(value)
        return dataclasses.replace(cfg, **{path[0]: value})

    cfg = ExpertConfig()
    for item in overrides:
        key, _, value = item.partition("=")
        cfg = replace(cfg, key.split("."), value)
    return cfg


def run_one(job: tuple) -> tuple[str, float, bool, float | None]:
    """One push; returns (command name, impulse, survived, fall time)."""
    overrides, command_name, impulse_ns, direction_deg, push_t, seconds = job
    import numpy as np

    from humanoid_teleop.contracts import VelocityCommand
    from humanoid_teleop.control.loop import ControlLoop
    from humanoid_teleop.control.safety import Safety
    from humanoid_teleop.sim.expert import WalkingExpert
    from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

    expert = WalkingExpert(expert_config(overrides))
    robot = MujocoRobot(MujocoRobotConfig(control_dt_s=expert.control_dt_s))
    robot.reset("home")
    robot.connect()
    loop = ControlLoop(robot, expert, Safety())
    if not loop.ramp_up(4.0):
        raise RuntimeError("safety did not reach ACTIVE after the ramp")
    command = VelocityCommand(*COMMANDS[command_name])
    dt = expert.control_dt_s
    angle = math.radians(direction_deg)
    duration = 0.1
    pushed = False
    for k in range(round(seconds / dt) + 1):
        t = k * dt
        if not pushed and t >= push_t:
            force = impulse_ns / duration
            robot.push(np.array([force * math.cos(angle), force * math.sin(angle), 0.0]), duration)
            pushed = True
        state = loop.tick(command if t >= 2.0 else VelocityCommand()).state
        if state.base.fallen:
            return command_name, impulse_ns, False, t
    return command_name, impulse_ns, True, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impulses", type=float, nargs="+", default=[15.0, 20.0])
    parser.add_argument("--push-times", type=float, nargs="+", default=[4.0, 4.125, 4.25, 4.375])
    parser.add_argument("--commands", nargs="+", default=list(COMMANDS), choices=list(COMMANDS))
    parser.add_argument("--seconds", type=float, default=7.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="ExpertConfig override (repeatable)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the per-push results here")
    args = parser.parse_args(argv)
    pin_single_thread()
    expert_config(args.overrides)  # fail on a bad override before starting workers

    directions = [45.0 * i for i in range(8)]
    jobs = [
        (args.overrides, c, imp, d, pt, args.seconds)
        for imp in args.impulses
        for c in args.commands
        for d in directions
        for pt in args.push_times
    ]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run_one, jobs, chunksize=4))
    wall = time.perf_counter() - start

    print("| key | value |\n|---|---|")
    for key, value in machine_rows():
        print(f"| {key} | {value} |")
    print(f"| overrides | {' '.join(args.overrides) or '(defaults)'} |")
    print(f"| wall | {wall:.0f} s for {len(jobs)} pushes, {args.workers} workers |\n")
    per_cell = len(directions) * len(args.push_times)
    print("| command | " + " | ".join(f"{i:g} N s" for i in args.impulses) + " |")
    print("|---|" + "---|" * len(args.impulses))
    for c in args.commands:
        cells = [sum(r[2] for r in results if r[0] == c and r[1] == i) for i in args.impulses]
        print(f"| {c} | " + " | ".join(f"{n}/{per_cell}" for n in cells) + " |")
    totals = [sum(r[2] for r in results if r[1] == i) for i in args.impulses]
    n = per_cell * len(args.commands)
    print("| **all** | " + " | ".join(f"**{s}/{n}** ({s / n:.0%})" for s in totals) + " |")
    if args.json:
        rows = [dict(zip(("command", "impulse_ns", "direction_deg", "push_t_s"), j[1:5]),
                     survived=r[2], fall_time_s=r[3]) for j, r in zip(jobs, results)]  # fmt: skip
        args.json.write_text(json.dumps({"overrides": args.overrides, "pushes": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
