"""The 50 Hz control loop under the diffusion policy, in real time next to the physics.

    PYTHONPATH=src python benchmarks/policy_realtime.py [--seconds 30] [--checkpoint CKPT]
        [--vx 0.3]

The twin runs in real-time mode (its own 500 Hz physics thread), the control loop runs on a
Pacer at 50 Hz and the policy samples chunks in a worker thread (ThreadedPolicyController),
exactly as the server drives a robot. Reports the share of ticks that started on time (the
Pacer counts a tick more than half a period late as an overrun), the achieved rate, the
tick's own compute time and the per-chunk inference latency (wall, in the worker thread,
which competes with the physics thread for the cores). Target: >= 99% of ticks on time.
"""

from __future__ import annotations

import argparse
import time

from machine import cpu_model, pin_single_thread

pin_single_thread()  # before torch loads: one thread per stage, as in the server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--checkpoint", default=None, help="default: the shipped policy")
    parser.add_argument("--vx", type=float, default=0.3, help="forward command once active")
    args = parser.parse_args()

    import numpy as np

    from humanoid_teleop.contracts import Mode, VelocityCommand
    from humanoid_teleop.control.loop import ControlLoop
    from humanoid_teleop.policy import load_policy
    from humanoid_teleop.policy.controller import ThreadedPolicyController
    from humanoid_teleop.sim.render import ensure_gl_backend
    from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig
    from humanoid_teleop.timing import Pacer

    ensure_gl_backend()
    policy = load_policy(args.checkpoint)
    controller = ThreadedPolicyController(policy)
    robot = MujocoRobot(MujocoRobotConfig(clock="realtime", control_dt_s=policy.control_dt_s))
    robot.reset("home")
    robot.connect()
    loop = ControlLoop(robot, controller)
    loop.safety.arm(robot.now_s())
    pacer = Pacer(1.0 / policy.control_dt_s)
    tick_s: list[float] = []
    fell = False
    command = VelocityCommand(args.vx, 0.0, 0.0)
    n_ticks = round(args.seconds / policy.control_dt_s)
    try:
        for _ in range(n_ticks):
            pacer.wait()
            start = time.perf_counter()
            record = loop.tick(command if loop.safety.mode is Mode.ACTIVE else VelocityCommand())
            tick_s.append(time.perf_counter() - start)
            if record.state is not None and record.state.base is not None:
                fell = fell or record.state.base.fallen
    finally:
        controller.close()
        robot.disconnect()

    stats = pacer.stats
    lat = np.array(controller.latencies_s) * 1e3
    ticks = np.array(tick_s) * 1e3
    print(f"machine: {cpu_model()}; checkpoint: {args.checkpoint or 'shipped'}; "
          f"{args.seconds:.0f} s at 50 Hz, vx {args.vx} m/s; fell: {fell}")  # fmt: skip
    print()
    print("| metric | value |")
    print("|---|---|")
    print(f"| ticks | {stats.ticks} |")
    print(f"| on time | {100 * stats.on_time_fraction:.2f}% ({stats.overruns} overruns) |")
    print(f"| achieved rate | {stats.ticks / args.seconds:.1f} Hz |")
    print(f"| max lateness | {1e3 * stats.max_lateness_s:.1f} ms |")
    print(f"| tick compute median / p99 | {np.median(ticks):.2f} / "
          f"{np.percentile(ticks, 99):.2f} ms |")  # fmt: skip
    if lat.size:
        print(f"| chunk inference median / p99 (worker, wall) | {np.median(lat):.2f} / "
              f"{np.percentile(lat, 99):.2f} ms ({lat.size} chunks) |")  # fmt: skip
    print(f"| dropped inference requests | {controller.dropped_jobs} |")


if __name__ == "__main__":
    main()
