"""Where `validate --pushes` episodes end: per-push survival and the way each episode fell.

    PYTHONPATH=src python benchmarks/push_validation.py [--episodes 40] [--seed 0]
        [--workers 2] [--set capture_in_double_support=false] [--lift-limits]
        [--no-leg-contacts] [--push-impulse 15 20]

Runs the walking expert through the episodes of ``validate --controller expert --pushes``
(same schedules, pushes and seeds; ``--set`` overrides ``ExpertConfig`` fields as in
``push_recovery.py``) and prints: episodes fallen, pushes survived (a push counts as
survived unless the episode fell before the next one), what ended each fallen episode
(Safety's first termination: gyro past 6 rad/s, a joint past 10 rad/s, tilt; or a fall with
Safety still active), and survival by where the gait was when the push landed and where it
pointed (see ``push_kind``). The validation bar needs about 99% of pushes survived.

``--lift-limits`` lifts Safety's gyro and joint-speed terminations (not the tilt): whether
an episode that ended at one of them would have fallen anyway (measured: the same episodes
fall; docs/figures.md). A diagnostic only: a real G1 has those limits.

``--no-leg-contacts`` lets each leg pass through the other leg and the rest of the body (it
still meets the floor): how many falls the legs' collisions cause, since a hurried swing
sole, carried along with the pushed pelvis, can catch the stance ankle. A diagnostic bound,
not a robot.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from machine import machine_rows, pin_single_thread
from push_recovery import expert_config

from humanoid_teleop.sim.expert.footsteps import LEFT


def run_one(job: tuple) -> tuple[bool, list[tuple[str, str]], str]:
    """One episode; returns (fell, (gait phase, direction) of each push landed, how it ended)."""
    overrides, seed, episode, lift_limits, no_leg_contacts, impulse_ns = job
    from humanoid_teleop.control.safety import Safety, SafetyConfig
    from humanoid_teleop.sim import validate

    if lift_limits:  # validate.run_episode builds its Safety() from this name
        lifted = SafetyConfig(max_gyro_radps=1e9, max_joint_speed_radps=1e9)
        validate.Safety = lambda: Safety(lifted)
    from humanoid_teleop.sim.expert import WalkingExpert
    from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

    expert = WalkingExpert(expert_config(overrides))
    robot = MujocoRobot(MujocoRobotConfig(control_dt_s=expert.control_dt_s))
    if no_leg_contacts:
        lift_leg_contacts(robot.model)
    landed: list[tuple[str, str]] = []
    apply_push = robot.push

    def noting_push(force_w_n, duration_s):
        landed.append(push_kind(expert, force_w_n))
        apply_push(force_w_n, duration_s)

    robot.push = noting_push  # validate.random_push calls it once per push
    config = validate.ValidationConfig(episodes=1, seed=seed, pushes=True,
                                       push=validate.PushConfig(impulse_ns=impulse_ns),
                                       command_ranges=expert.command_ranges)  # fmt: skip
    result = validate.run_episode(expert, robot, config, seed * 100003 + episode)
    return result.fell, landed, ended_by(result.safety_fault)


def leg_collision_geoms(model) -> dict[int, tuple[int, str]]:
    """Each leg's colliding geoms (the bodies below its hip): id -> (side, name), side 0 the
    left leg."""
    import mujoco

    out = {}
    for side, hip in enumerate(("left_hip_pitch_link", "right_hip_pitch_link")):
        root = model.body(hip).id
        for geom in range(model.ngeom):
            body = int(model.geom_bodyid[geom])
            while body not in (0, root):
                body = int(model.body_parentid[body])
            if body == root and model.geom_contype[geom]:
                name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, geom) or str(geom)
                out[geom] = (side, name.removesuffix("_collision"))
    return out


def lift_leg_contacts(model) -> None:
    """Each leg's geoms collide with the floor only (collision bits 2 and 4, no affinity)."""
    for geom, (side, _) in leg_collision_geoms(model).items():
        model.geom_contype[geom], model.geom_conaffinity[geom] = 2 << side, 0
    model.geom_conaffinity[model.geom("floor").id] |= 2 | 4


def push_kind(expert, force_w_n) -> tuple[str, str]:
    """Where the gait was (standing, double or single support) and where the push points in
    the plan's heading frame: forward, backward, or sideways, while stepping towards the
    side of the cycle's stance foot (the one carrying the weight, or about to) or of the
    other one."""
    if not expert.stepping:
        phase = "standing"
    else:
        phase = "single support" if expert._in_single_support(expert._t_s) else "double support"
    yaw = expert._plan_now["yaw"]
    angle = math.atan2(force_w_n[1], force_w_n[0]) - yaw
    angle = math.degrees((angle + math.pi) % (2 * math.pi) - math.pi)
    if abs(angle) <= 45.0:
        return phase, "forward"
    if abs(angle) >= 135.0:
        return phase, "backward"
    if not expert.stepping:
        return phase, "sideways"
    to_left = angle > 0.0
    return phase, "sideways to stance" if to_left == (expert._stance == LEFT) else "sideways to swing"


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
    parser.add_argument("--lift-limits", action="store_true",
                        help="lift Safety's gyro and joint-speed terminations (diagnostic)")  # fmt: skip
    parser.add_argument("--push-impulse", type=float, nargs=2, default=[15.0, 20.0],
                        metavar=("LO", "HI"), help="the pushes' impulse range, N s")  # fmt: skip
    parser.add_argument("--no-leg-contacts", action="store_true",
                        help="the legs pass through each other and the body (diagnostic)")  # fmt: skip
    args = parser.parse_args(argv)
    pin_single_thread()
    expert_config(args.overrides)  # fail on a bad override before starting workers

    jobs = [(args.overrides, args.seed, e, args.lift_limits, args.no_leg_contacts,
             tuple(args.push_impulse)) for e in range(args.episodes)]  # fmt: skip
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run_one, jobs))
    wall = time.perf_counter() - start

    fallen = [r for r in results if r[0]]
    pushes = [kind for r in results for kind in r[1]]
    # A push counts as fatal when its episode fell before the next one landed.
    fatal = [r[1][-1] for r in fallen if r[1]]
    print("| key | value |\n|---|---|")
    for key, value in machine_rows():
        print(f"| {key} | {value} |")
    print(f"| overrides | {' '.join(args.overrides) or '(defaults)'} |")
    print(f"| Safety's gyro and joint-speed limits | {'lifted' if args.lift_limits else 'on'} |")
    print(f"| the legs' contacts with each other | {'off' if args.no_leg_contacts else 'on'} |")
    print(f"| push impulse | {args.push_impulse[0]:g}-{args.push_impulse[1]:g} N s |")
    print(f"| wall | {wall:.0f} s for {args.episodes} episodes, {args.workers} workers |\n")
    print("| metric | value |\n|---|---|")
    print(f"| episodes fallen | {len(fallen)} of {len(results)} (seed {args.seed}) |")
    survived = len(pushes) - len(fatal)
    print(f"| pushes survived | {survived} of {len(pushes)} ({survived / max(len(pushes), 1):.0%}) |")
    ends = Counter(r[2] for r in fallen)
    print("| episode ended by | " + ", ".join(f"{k} {n}" for k, n in ends.most_common()) + " |\n")
    print("| push landed while | direction | survived |\n|---|---|---|")
    total, lost = Counter(pushes), Counter(fatal)
    for kind in sorted(total):
        n = total[kind]
        print(f"| {kind[0]} | {kind[1]} | {n - lost[kind]} of {n} ({(n - lost[kind]) / n:.0%}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
