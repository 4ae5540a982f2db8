"""One pushed validation episode, tick by tick: how the walking expert answers its pushes.

    PYTHONPATH=src python benchmarks/push_trace.py --seed 0 --episode 38
        [--from 2.4] [--to 5] [--set KEY=VALUE] [--no-leg-contacts] [--push-impulse 15 20]

Runs episode E of ``validate --controller expert --pushes --seed S`` (the episodes that
``push_validation.py`` counts; ``--set``, ``--no-leg-contacts`` and ``--push-impulse`` as
there) and prints one
line per control tick from ``--from`` (default: 0.1 s before the first push) to ``--to``
(default: the end), in episode time (0 after the Safety ramp, as validate's fall times).
Positions are in the plan's heading frame (x forward, y left, metres); "st" columns are
measured from the stance sole:
- gait: ``stand``, or ``DS``/``SS`` (double, single support) with the stance side, and the
  flags h (hurried cycle), c (capture step), a (swing target adjusted to the DCM);
- dcm_err: the measured DCM minus the plan's; dcm-st: the measured DCM;
- target-st, plan-st, sole-st: the swing target, the swing sole's plan and where the swing
  sole is (the twin's truth, whatever the expert measures from);
- gyro (norm, rad/s) and the fastest joint (rad/s), the quantities Safety limits;
- contacts between the legs at the end of the tick.
A push prints a line of its own with its impulse (N s, heading frame) and its kind.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from push_recovery import expert_config
from push_validation import leg_collision_geoms, lift_leg_contacts, push_kind

from humanoid_teleop import g1
from humanoid_teleop.sim import validate
from humanoid_teleop.sim.expert import WalkingExpert
from humanoid_teleop.sim.expert.estimator import TrueBaseEstimator
from humanoid_teleop.sim.expert.footsteps import LEFT, rot2
from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig


def fmt(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{x:+.3f}" for x in v) + ")"


class Tracer:
    """Prints the expert's state after each tick of an episode (validate's ``on_tick``)."""

    def __init__(self, expert: WalkingExpert, robot: MujocoRobot, t_from: float | None,
                 t_to: float | None):  # fmt: skip
        self.expert, self.robot = expert, robot
        self.truth = TrueBaseEstimator(expert.body)  # its own data: the expert's is untouched
        self.legs = leg_collision_geoms(robot.model)
        self.t_from, self.t_to = t_from, t_to
        self.t = 0.0

    def on_push(self, force_w_n: np.ndarray, duration_s: float) -> None:
        heading = rot2(self.expert._plan_now["yaw"])
        impulse = heading.T @ force_w_n[:2] * duration_s
        phase, direction = push_kind(self.expert, force_w_n)
        print(f"-- push at {self.t + self.expert.control_dt_s:.2f} s: {fmt(impulse)} N s, "
              f"{phase}, {direction}")  # fmt: skip
        if self.t_from is None:
            self.t_from = self.t - 0.1

    def on_tick(self, robot: MujocoRobot, t: float) -> None:
        self.t = t
        if self.t_from is None or t < self.t_from or (self.t_to is not None and t > self.t_to):
            return
        ex, state = self.expert, robot.read_state()
        meas = self.truth.measure(state)
        heading = rot2(ex._plan_now["yaw"])
        s = ex._stance

        def rel(p):  # measured stance sole -> p, heading frame
            return heading.T @ (np.asarray(p)[:2] - meas.soles[s, :2])

        if not ex.stepping:
            gait = "stand"
        else:
            single = ex._lifted and ex._in_single_support(ex._t_s)
            flags = "".join(f for f, on in (("h", ex._hurried), ("c", ex._capture_cycle),
                                             ("a", ex._adjusting)) if on)  # fmt: skip
            gait = f"{'SS' if single else 'DS'} {'L' if s == LEFT else 'R'} {flags}"
        dcm = meas.com_m[:2] + meas.com_vel_mps[:2] / ex._omega
        line = (f"{t:6.2f} {gait:9s} dcm_err {fmt(heading.T @ ex._dcm_error(meas))} "
                f"dcm-st {fmt(rel(dcm))}")  # fmt: skip
        if ex.stepping:
            sw = 1 - s
            line += (f" target-st {fmt(rel(ex._target))} plan-st {fmt(rel(ex._swing_pose))}"
                     f" sole-st {fmt(rel(meas.soles[sw]))}")  # fmt: skip
        d = robot.data
        legs = self.legs
        contacts = sorted({f"{legs[c.geom1][1]}/{legs[c.geom2][1]}"
                           for c in d.contact[: d.ncon]
                           if c.geom1 in legs and c.geom2 in legs
                           and legs[c.geom1][0] != legs[c.geom2][0]})  # fmt: skip
        line += (f" gyro {np.linalg.norm(state.imu.gyro_b_radps):4.1f}"
                 f" joint {np.abs(state.dq_radps).max():4.1f}")  # fmt: skip
        if contacts:
            line += " contact " + " ".join(contacts)
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episode", type=int, required=True)
    parser.add_argument("--from", dest="t_from", type=float, default=None, metavar="S")
    parser.add_argument("--to", dest="t_to", type=float, default=None, metavar="S")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="ExpertConfig override (repeatable)")  # fmt: skip
    parser.add_argument("--push-impulse", type=float, nargs=2, default=[15.0, 20.0],
                        metavar=("LO", "HI"), help="the pushes' impulse range, N s")  # fmt: skip
    parser.add_argument("--no-leg-contacts", action="store_true",
                        help="the legs pass through each other and the body (diagnostic)")  # fmt: skip
    args = parser.parse_args(argv)

    expert = WalkingExpert(expert_config(args.overrides))
    robot = MujocoRobot(MujocoRobotConfig(control_dt_s=expert.control_dt_s))
    if args.no_leg_contacts:
        lift_leg_contacts(robot.model)
    tracer = Tracer(expert, robot, args.t_from, args.t_to)
    apply_push = robot.push

    def traced_push(force_w_n, duration_s):
        tracer.on_push(force_w_n, duration_s)
        apply_push(force_w_n, duration_s)

    robot.push = traced_push
    push = validate.PushConfig(impulse_ns=tuple(args.push_impulse))
    config = validate.ValidationConfig(episodes=1, seed=args.seed, pushes=True, push=push,
                                       command_ranges=expert.command_ranges)  # fmt: skip
    print(f"seed {args.seed}, episode {args.episode}; joints {g1.NUM_JOINTS}, "
          f"control tick {expert.control_dt_s * 1000:.0f} ms")  # fmt: skip
    result = validate.run_episode(expert, robot, config, args.seed * 100003 + args.episode,
                                  on_tick=tracer.on_tick)  # fmt: skip
    if result.fell:
        print(f"fell at {result.fall_time_s:.2f} s; Safety: {result.safety_fault or 'active'}")
    else:
        print("upright at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
