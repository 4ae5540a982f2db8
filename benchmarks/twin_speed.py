"""How fast the MuJoCo twin runs on this machine: physics, the robot control loop, rendering.

    PYTHONPATH=src python benchmarks/twin_speed.py [--repeats 5] [--render-budget-s 4]

Prints a markdown table (machine first). Everything is single-threaded: the thread-pool
variables are pinned to 1 before numpy / mujoco load. Rows:

(a) physics: ``mj_step`` alone on the capsule model (physics is the same for both variants),
    the robot held standing by MuJoCo-internal PD servos with the stand gains, so contacts
    are those of standing, not of a heap on the floor;
(b) robot loop: ``MujocoRobot`` in lockstep, per 50 Hz tick ``read_state`` + ``send`` (10
    physics steps with the motor PD law in Python), with a fixed stand command, and with
    the stand controller computing it (``act`` + building the ``RobotCommand``);
(c) render: ``SimRenderer`` follow-camera frames at 320x240 and 640x480 for both variants
    (the scene does not change between frames, so this is drawing + readback only);
(d) MP4: encoding the rendered frames (``Mp4Writer``, its default codec).

Median and p99 are over every step / tick / frame of all repeats; the rate is the median of
the per-repeat rates.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_rows, pin_single_thread


def _machine() -> list[tuple[str, str]]:
    import mujoco

    return [
        *machine_rows(),
        ("mujoco", mujoco.__version__),
        ("MUJOCO_GL", os.environ.get("MUJOCO_GL", "<unset>")),
    ]


def _gl_renderer_name() -> str:
    """The OpenGL renderer string of the current context (llvmpipe means software)."""
    try:
        from OpenGL import GL

        return GL.glGetString(GL.GL_RENDERER).decode()
    except Exception:  # noqa: BLE001  (informative only: PyOpenGL may lack the query on some platforms)
        return "unknown"


def _stats_ms(samples_s: list[float]) -> tuple[float, float]:
    import numpy as np

    a = np.asarray(samples_s) * 1e3
    return float(np.median(a)), float(np.percentile(a, 99))


def bench_physics(repeats: int, steps: int) -> dict:
    import mujoco
    import numpy as np

    from humanoid_teleop import g1
    from humanoid_teleop.sim.model import ModelIndex, build_model

    model = build_model("capsule")
    idx = ModelIndex.of(model)
    # Turn the torque motors into position servos with the stand gains: the robot stands
    # and the loop below is nothing but mj_step.
    kp, kd = g1.STAND_KP, g1.STAND_KD
    model.actuator_gaintype[idx.actuator] = mujoco.mjtGain.mjGAIN_FIXED
    model.actuator_biastype[idx.actuator] = mujoco.mjtBias.mjBIAS_AFFINE
    model.actuator_gainprm[idx.actuator, 0] = kp
    model.actuator_biasprm[idx.actuator, :3] = np.stack([np.zeros_like(kp), -kp, -kd], axis=1)
    model.actuator_ctrlrange[idx.actuator] = g1.POSITION_LIMITS_RAD
    data = mujoco.MjData(model)
    key = model.key("home").id

    mujoco.mj_resetDataKeyframe(model, data, key)
    mujoco.mj_step(model, data, 100)  # warm-up: first steps allocate contact buffers
    per_step, rates, upright = [], [], []
    for _ in range(repeats):
        mujoco.mj_resetDataKeyframe(model, data, key)
        data.ctrl[idx.actuator] = g1.DEFAULT_POSE_RAD
        t_start = time.perf_counter()
        for _ in range(steps):
            t0 = time.perf_counter()
            mujoco.mj_step(model, data)
            per_step.append(time.perf_counter() - t0)
        rates.append(steps / (time.perf_counter() - t_start))
        upright.append(data.qpos[2] > 0.6)
    med, p99 = _stats_ms(per_step)
    return {
        "steps_per_s": statistics.median(rates),
        "rtf": statistics.median(rates) * model.opt.timestep,
        "median_ms": med,
        "p99_ms": p99,
        "upright": all(upright),
    }


def bench_robot_loop(repeats: int, ticks: int, with_controller: bool) -> dict:
    import numpy as np

    from humanoid_teleop import g1
    from humanoid_teleop.contracts import Mode, RobotCommand, VelocityCommand
    from humanoid_teleop.control.stand import StandController
    from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig

    robot = MujocoRobot(MujocoRobotConfig(variant="capsule", clock="lockstep"))
    robot.connect()
    controller = StandController()
    zero_dq = np.zeros(g1.NUM_JOINTS)
    stand = RobotCommand(
        0.0, Mode.ACTIVE, g1.JOINT_NAMES, g1.DEFAULT_POSE_RAD, zero_dq, zero_dq,
        g1.STAND_KP, g1.STAND_KD,
    )  # fmt: skip
    still = VelocityCommand(0.0, 0.0, 0.0)
    substeps = robot.config.substeps

    robot.reset("home")
    for _ in range(10):  # warm-up: first calls fill caches and allocate
        robot.send(stand)
    per_tick, rates, upright = [], [], []
    for _ in range(repeats):
        robot.reset("home")
        t_start = time.perf_counter()
        for _ in range(ticks):
            t0 = time.perf_counter()
            state = robot.read_state()
            if with_controller:
                chunk = controller.act(state, still)
                command = RobotCommand(
                    state.timestamp_s, Mode.ACTIVE, chunk.joint_names, chunk.q_rad[0],
                    zero_dq, zero_dq, chunk.kp, chunk.kd,
                )  # fmt: skip
            else:
                command = stand
            robot.send(command)
            per_tick.append(time.perf_counter() - t0)
        rates.append(ticks * substeps / (time.perf_counter() - t_start))
        upright.append(robot.data.qpos[2] > 0.6)
    robot.disconnect()
    med, p99 = _stats_ms(per_tick)
    return {
        "steps_per_s": statistics.median(rates),
        "rtf": statistics.median(rates) * g1.PHYSICS_DT_S,
        "median_ms": med,
        "p99_ms": p99,
        "upright": all(upright),
    }


def bench_render(variant: str, width: int, height: int, budget_s: float, max_frames: int) -> dict:
    import mujoco

    from humanoid_teleop.sim.model import build_model
    from humanoid_teleop.sim.render import Mp4Writer, RenderConfig, SimRenderer

    model = build_model(variant)
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    mujoco.mj_forward(model, data)
    frames, per_frame = [], []
    with SimRenderer(model, RenderConfig(width=width, height=height, camera="follow")) as renderer:
        for _ in range(2):  # warm-up: first frames upload meshes and compile shaders
            renderer.render(data)
        gl_name = _gl_renderer_name()
        t_start = time.perf_counter()
        while len(per_frame) < max_frames and (
            time.perf_counter() - t_start < budget_s or len(per_frame) < 5
        ):
            t0 = time.perf_counter()
            frames.append(renderer.render(data))
            per_frame.append(time.perf_counter() - t0)
    med, p99 = _stats_ms(per_frame)
    result = {"fps": len(per_frame) / sum(per_frame), "median_ms": med, "p99_ms": p99,
              "frames": len(per_frame), "gl": gl_name}  # fmt: skip

    with (
        tempfile.TemporaryDirectory() as tmp,
        Mp4Writer(Path(tmp) / "b.mp4", width, height, 30) as mp4,
    ):
        per_encode = []
        for frame in frames * max(1, 30 // len(frames)):
            t0 = time.perf_counter()
            mp4.write(frame)
            per_encode.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        mp4.close()  # the flush encodes the frames the encoder held back
        flush_s = time.perf_counter() - t0
    result["encode_fps"] = len(per_encode) / (sum(per_encode) + flush_s)
    result["codec"] = mp4.codec
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--physics-steps", type=int, default=2000, help="per repeat (4 s sim)")
    parser.add_argument("--loop-ticks", type=int, default=200, help="per repeat (4 s simulated)")
    parser.add_argument("--render-budget-s", type=float, default=4.0, help="per variant and size")
    parser.add_argument("--render-max-frames", type=int, default=300)
    args = parser.parse_args(argv)

    # Single thread: pools size themselves when numpy / mujoco load, so set these first.
    pin_single_thread()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from humanoid_teleop.sim.render import ensure_gl_backend

    ensure_gl_backend()  # before mujoco's import, like the CLI

    t_total = time.perf_counter()
    machine = _machine()
    rows: list[tuple[str, str, str, str, str]] = []

    p = bench_physics(args.repeats, args.physics_steps)
    rows.append((
        "(a) physics `mj_step`",
        "capsule, dt 2 ms, standing (internal PD)" + ("" if p["upright"] else "; FELL"),
        f"{p['steps_per_s']:,.0f} steps/s (RTF {p['rtf']:.1f}x)",
        f"{p['median_ms']:.3f} ms/step", f"{p['p99_ms']:.3f} ms/step",
    ))  # fmt: skip
    loops = ((False, "fixed stand command"), (True, "StandController + RobotCommand"))
    for with_controller, label in loops:
        r = bench_robot_loop(args.repeats, args.loop_ticks, with_controller)
        rows.append((
            "(b) `MujocoRobot` loop, lockstep",
            f"read_state + send ({label}); 10 steps/tick" + ("" if r["upright"] else "; FELL"),
            f"{r['steps_per_s']:,.0f} steps/s (RTF {r['rtf']:.1f}x)",
            f"{r['median_ms']:.2f} ms/tick", f"{r['p99_ms']:.2f} ms/tick",
        ))  # fmt: skip

    gl_names, codecs = set(), set()
    encode_rows = []
    for variant in ("capsule", "mesh"):
        for width, height in ((320, 240), (640, 480)):
            r = bench_render(variant, width, height, args.render_budget_s, args.render_max_frames)
            gl_names.add(r["gl"])
            codecs.add(r["codec"])
            rows.append((
                "(c) render (follow camera)", f"{variant}, {width}x{height} ({r['frames']} frames)",
                f"{r['fps']:,.1f} fps",
                f"{r['median_ms']:.1f} ms/frame",
                f"{r['p99_ms']:.1f} ms/frame",
            ))  # fmt: skip
            if variant == "capsule":
                encode_rows.append((
                    "(d) MP4 encode", f"{r['codec']}, {width}x{height}",
                    f"{r['encode_fps']:,.0f} fps", "", "",
                ))  # fmt: skip
    rows.extend(encode_rows)
    machine.append(("OpenGL renderer", ", ".join(sorted(gl_names))))
    # Mesa's software rasterizer draws with its own thread pool, not bound by the above.
    lp_threads = os.environ.get("LP_NUM_THREADS", "<unset: all cores>")
    machine.append(("LP_NUM_THREADS (llvmpipe)", lp_threads))

    print("| machine | |\n|---|---|")
    for key, value in machine:
        print(f"| {key} | {value} |")
    print()
    print("| measure | setup | throughput | median | p99 |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(
        f"\n{args.repeats} repeats of {args.physics_steps} physics steps / {args.loop_ticks} "
        f"control ticks; render up to {args.render_budget_s:g} s per row. "
        f"Total {time.perf_counter() - t_total:.0f} s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
