"""The ``humanoid-teleop`` command: one entry point, one subcommand per job.

Subcommands import their modules lazily so ``--help`` is fast and a missing optional
extra only breaks the command that needs it.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro


def _prepare_gl() -> None:
    # MuJoCo picks its GL backend when first imported: choose it before anything imports it.
    from humanoid_teleop.sim.render import ensure_gl_backend

    ensure_gl_backend()
    # Batch-1 policy inference is fastest on one thread (measured: 2 threads on a busy
    # 2-core machine ran 10x slower); torch reads this when first imported.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def sim(
    controller: str = "stand",
    seconds: float = 10.0,
    vx: float = 0.0,
    vy: float = 0.0,
    yaw_rate: float = 0.0,
    realtime: bool = False,
    video: Path | None = None,
    camera: Literal["follow", "head", "fixed"] = "follow",
    meshes: bool = False,
    json_out: Annotated[Path | None, tyro.conf.arg(name="json")] = None,
) -> int:
    """Run a controller headless in the MuJoCo twin and print a summary.

    Args:
        controller: stand | expert | policy | policy:CKPT.
        seconds: Simulated seconds, including the 2.5 s safety ramp.
        vx: Forward velocity command (m/s), applied once the robot is active. Beyond the
            walking expert's envelope (vx -0.2..0.4, vy +-0.15, yaw rate +-0.6) its envelope
            widens to the command; other controllers clamp it (with a warning).
        vy: Lateral velocity command (m/s, left positive).
        yaw_rate: Yaw rate command (rad/s, counter-clockwise positive).
        realtime: Pace the loop at wall-clock time instead of running as fast as possible.
        video: Write an MP4 of the run here.
        camera: Video camera: follow (third person), head (egocentric) or fixed.
        meshes: Render the STL meshes (slow) instead of the collision capsules.
        json_out: Also write the summary as JSON.
    """
    _prepare_gl()
    from dataclasses import asdict

    from humanoid_teleop.contracts import CommandRanges, VelocityCommand
    from humanoid_teleop.controllers import default_command_ranges, make_controller
    from humanoid_teleop.sim.run import SimRunConfig, run_sim

    ctl = make_controller(controller)
    d = default_command_ranges(ctl)
    wanted = CommandRanges(
        vx_mps=(min(d.vx_mps[0], vx), max(d.vx_mps[1], vx)),
        vy_mps=(min(d.vy_mps[0], vy), max(d.vy_mps[1], vy)),
        yaw_rate_radps=(min(d.yaw_rate_radps[0], yaw_rate), max(d.yaw_rate_radps[1], yaw_rate)),
    )
    widened = _widened_envelope(controller, d, wanted, "the command is clamped to it")
    if widened is not None:
        ctl = make_controller(controller, command_ranges=widened)
    config = SimRunConfig(
        seconds=seconds,
        command=VelocityCommand(vx, vy, yaw_rate),
        realtime=realtime,
        video=video,
        video_camera=camera,
        video_variant="mesh" if meshes else "capsule",
    )
    summary = run_sim(ctl, config)
    print(summary.as_text())
    if json_out is not None:
        json_out.write_text(json.dumps(asdict(summary), indent=2, default=str))
    return 1 if summary.fell else 0


def _widened_envelope(controller: str, defaults, wanted, beyond: str):
    """The envelope to build ``controller`` with so it follows commands in ``wanted``: a
    controller clamps commands to its envelope, and only the walking expert's widens (to
    ``wanted``); None when the default covers them, or with a warning saying ``beyond``."""
    if defaults.covers(wanted):
        return None
    if controller.partition(":")[0] == "expert":
        return wanted
    print(f"warning: {controller} clamps commands to its envelope {defaults.as_dict()}; "
          f"{beyond}", file=sys.stderr)  # fmt: skip
    return None


def validate(
    controller: str = "stand",
    episodes: int = 10,
    seconds: float = 20.0,
    seed: int = 0,
    pushes: bool = False,
    push_impulse: tuple[float, float] | None = None,
    vx_range: tuple[float, float] | None = None,
    vy_range: tuple[float, float] | None = None,
    yaw_rate_range: tuple[float, float] | None = None,
    json_out: Annotated[Path | None, tyro.conf.arg(name="json")] = None,
    attach: bool = False,
    workers: int = 1,
    imu_errors: bool = False,
    command_delay_ms: float = 0.0,
    lookahead_ms: float = 0.0,
) -> int:
    """Closed-loop episodes of a controller in the twin under seeded random commands.

    Prints the report; exits 0 when it passed, 1 when it did not.

    Args:
        controller: stand | expert | policy | policy:CKPT.
        episodes: Number of episodes.
        seconds: Active seconds per episode (after the safety ramp).
        seed: Seed of the command schedules, initial states and pushes.
        pushes: Random horizontal pushes (15-20 N s over 0.1 s, every 4-6 s); the fall
            bar is then 5% instead of 2%.
        push_impulse: The pushes' impulse range (N s) instead of 15-20: how hard a push the
            controller takes. Needs --pushes.
        vx_range: Override the controller's forward velocity range (m/s). Beyond the
            controller's envelope, the expert's envelope widens to it; other controllers
            keep theirs (with a warning).
        vy_range: Override the lateral velocity range (m/s).
        yaw_rate_range: Override the yaw rate range (rad/s).
        json_out: Write the JSON report here.
        attach: Write the report into the policy checkpoint, bound to its digest: what the
            hardware gate reads (policy controllers only).
        workers: Processes running episodes side by side (one per core; the report does
            not depend on it).
        imu_errors: The twin's IMU reports with a real part's biases, noise and attitude
            error (drawn per episode; sim/imu_errors.py) instead of the exact truth.
        command_delay_ms: The hardware loop's latency: each command reaches the motors
            this long after the state it answers was read (rounded to the 2 ms physics
            step; 0: at once, the twin's default).
        lookahead_ms: The executor sends each tick the chunk's target for this much later
            (whole ticks): set to the loop's delay so a policy's plan acts on time.
    """
    _prepare_gl()
    from tqdm import tqdm

    from humanoid_teleop.contracts import CommandRanges
    from humanoid_teleop.controllers import default_command_ranges, make_controller
    from humanoid_teleop.sim.imu_errors import ImuErrors
    from humanoid_teleop.sim.validate import PushConfig, ValidationConfig
    from humanoid_teleop.sim.validate import validate as run_validation

    checkpoint = _policy_checkpoint(controller) if attach else None
    ctl = make_controller(controller)
    defaults = default_command_ranges(ctl)
    ranges = CommandRanges(
        vx_mps=vx_range or defaults.vx_mps,
        vy_mps=vy_range or defaults.vy_mps,
        yaw_rate_radps=yaw_rate_range or defaults.yaw_rate_radps,
    )
    widened = _widened_envelope(controller, defaults, ranges,
                                "commands beyond it count as tracking error")  # fmt: skip
    if push_impulse is not None and not pushes:
        raise ValueError("--push-impulse sets the pushes' impulse: add --pushes")
    config = ValidationConfig(
        episodes=episodes, seconds=seconds, seed=seed, command_ranges=ranges, pushes=pushes,
        push=PushConfig(impulse_ns=push_impulse) if push_impulse else PushConfig(),
        imu_errors=ImuErrors() if imu_errors else None,
        command_delay_s=command_delay_ms / 1000.0,
        lookahead_s=lookahead_ms / 1000.0,
    )
    bar = tqdm(total=episodes, desc=f"validate {controller}", unit="episode")
    falls = 0

    def progress(i, result):
        nonlocal falls
        falls += result.fell
        bar.update(1)
        bar.set_postfix(falls=falls)

    # Each worker builds its own controller (workers > 1 run in separate processes).
    factory = functools.partial(make_controller, controller, command_ranges=widened)
    report = run_validation(factory, config, progress=progress, workers=workers)
    bar.close()
    brief = {k: v for k, v in report.items() if k != "per_episode"}
    print(json.dumps(brief, indent=2))
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2))
    if checkpoint is not None:
        from humanoid_teleop.control.gate import attach_report

        attach_report(checkpoint, report)
        print(f"report attached to {checkpoint}")
    return 0 if report["passed"] else 1


def _policy_checkpoint(spec: str) -> Path:
    from humanoid_teleop.controllers import policy_checkpoint_path

    path = policy_checkpoint_path(spec)
    if path is None:
        raise ValueError(f"--attach needs a policy controller (policy or policy:CKPT), "
                         f"got {spec!r}")
    return path


def collect(
    out: Path,
    episodes: int = 10,
    seconds: float = 20.0,
    seed: int = 0,
    action_noise: float = 0.02,
    push_probability: float = 0.3,
    driver: str = "",
    driver_weight: float = 1.0,
    expert_like: Path | None = None,
    segment_s: tuple[float, float] = (3.0, 6.0),
) -> int:
    """Record expert demonstrations in the twin (resumable: re-run to continue or extend).

    The format is documented in humanoid_teleop/sim/dataset.py.

    Args:
        out: Dataset directory (created, or resumed when it holds a compatible dataset).
        episodes: Total episodes the dataset should hold.
        seconds: Active seconds per episode.
        seed: Seed of schedules, start states, noise and pushes.
        action_noise: Std (rad) of noise on the executed targets (labels stay clean).
        push_probability: Share of episodes with random 15-20 N s pushes.
        driver: DAgger: a policy that drives the robot (policy or policy:CKPT) while the
            expert labels the states it visits.
        driver_weight: Share of the driver's targets in what is executed (1: the policy alone).
        expert_like: Label with the expert configured exactly as recorded in this dataset
            (every setting must be recorded): a DAgger round must be labelled like the data
            it will be trained with.
        segment_s: Range of the command segments' lengths (s); shorter segments give more
            command changes (stops, reversals) per episode.
    """
    _prepare_gl()
    from humanoid_teleop.sim.collect import CollectConfig
    from humanoid_teleop.sim.collect import collect as run_collect
    from humanoid_teleop.sim.collect import expert_like as labeller_of
    from humanoid_teleop.sim.validate import ScheduleConfig

    config = CollectConfig(
        episodes=episodes,
        seconds=seconds,
        seed=seed,
        action_noise_std_rad=action_noise,
        push_probability=push_probability,
        driver=driver,
        driver_weight=driver_weight,
        schedule=ScheduleConfig(segment_s=segment_s),
    )
    make_controller = labeller_of(expert_like) if expert_like is not None else None
    summary = run_collect(config, out, make_controller=make_controller)
    print(json.dumps(summary.as_dict(), indent=2))
    return 0


def sim_robot(
    domain: int = 1,
    iface: str | None = "lo",
    seconds: float | None = None,
    no_hold: bool = False,
    imu_errors: bool = False,
    imu_seed: int = 0,
) -> int:
    """Run the MuJoCo G1 twin as a robot speaking DDS (rt/lowcmd in, rt/lowstate out, 500 Hz).

    Stops on SIGINT/SIGTERM (or after --seconds) and prints its counters as a JSON line.

    Args:
        domain: DDS domain id (Unitree's simulators use 1; a real G1 is 0).
        iface: Network interface DDS is restricted to (lo for a local twin).
        seconds: Stop after this many wall-clock seconds.
        no_hold: Start physics at once instead of holding the robot (like a gantry) until
            the first valid command that holds position (kp > 0; passive and damping
            leave it hanging).
        imu_errors: The IMU reports with a real part's biases, noise and attitude error
            (sim/imu_errors.py) instead of the exact truth.
        imu_seed: Seed of those errors.
    """
    import signal
    import threading

    # Handlers first: a stop request during the slow imports below still ends cleanly.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    _prepare_gl()
    from humanoid_teleop.unitree.sim_robot import SimRobot, SimRobotConfig, format_counters

    config = SimRobotConfig(
        domain_id=domain, network_interface=iface, seconds=seconds, hold_until_command=not no_hold,
        imu_errors=imu_errors, imu_seed=imu_seed,
    )
    print(f"sim-robot: domain {domain} on {iface or 'default'}, 500 Hz", flush=True)
    counters = SimRobot(config).run(stop)
    print(format_counters(counters), flush=True)
    return 0


def train(
    data: tuple[Path, ...],
    out: Path,
    steps: int = 20_000,
    batch_size: int = 256,
    lr: float = 3e-4,
    seed: int = 0,
    horizon: int = 16,
    obs_steps: int = 2,
    width: int = 256,
    depth: int = 3,
    inference_steps: int = 4,
    init_noise_scale: float = 1.0,
    latent_dim: int = 0,
    action: Literal["q_pd", "q_eff", "q"] = "q_pd",
    infer_every_ticks: int = 2,
    gait_clock: bool = True,
    odometry: bool = True,
    fall_trim_s: float = 1.0,
    transition_weight: float = 1.0,
    transition_window_s: float = 2.5,
    max_minutes: float = 0.0,
    checkpoint_every: int = 1000,
    threads: int = 1,
) -> int:
    """Train the diffusion policy on a demonstration dataset (resumable: re-run to continue).

    The output folder is a checkpoint (EMA weights, config, normalization, robot metadata)
    from the first save on, plus the training state under training/.

    Args:
        data: Dataset directories written by `collect` (expert data, then DAgger rounds).
        out: Checkpoint folder (created, or resumed when it holds a run's training state).
        steps: Total optimizer steps (the cosine learning-rate schedule spans them).
        batch_size: Windows per step.
        lr: Peak learning rate (AdamW, warmup then cosine).
        seed: Seed of initialization, batch order, noise and timesteps.
        horizon: H, ticks per action chunk.
        obs_steps: Length of the proprioceptive history.
        width: Width of the denoiser's residual MLP.
        depth: Residual blocks.
        inference_steps: DDIM steps when sampling (stored in the checkpoint).
        init_noise_scale: Sampling temperature, 0..1 (stored in the checkpoint): 0 makes each
            chunk a deterministic function of the condition.
        latent_dim: Size of an optional intent latent (0: none).
        action: q_pd (one PD target per tick, sent with dq = 0, that gives the expert's
            torque), q_eff (q + tau_ff / kp, dq differentiated: the first checkpoints) or q.
        infer_every_ticks: How often the policy controller samples a new chunk.
        gait_clock: Observe the gait clock's phase (computed from the command history as the
            expert's gait would run; without it the policy never started walking).
        odometry: Observe the pelvis velocity from leg odometry (base_lin_vel_b_mps: joint
            encoders + IMU, low-passed; derived for datasets recorded without it). On 30
            validation episodes it took the falls from 9 to 3 (with q_pd actions).
        fall_trim_s: Seconds dropped before the end of episodes that fell.
        transition_weight: Draw windows within transition_window_s after a command change
            this many times as often as the rest (1: uniform).
        transition_window_s: Seconds after a command change that transition_weight covers.
        max_minutes: Stop (and save) after this much wall time; 0: no limit.
        checkpoint_every: Steps between checkpoint + training-state saves.
        threads: torch threads (0: torch's default). 1 by default: at this model size a
            second thread gains little, and on a machine whose cores are busy with other work
            two spinning threads ran 10-20x slower than one (measured on 2 shared cores).
    """
    from humanoid_teleop.policy.inference import DEFAULT_OBSERVATION_TERMS, policy_config
    from humanoid_teleop.policy.sampler import SamplerConfig
    from humanoid_teleop.policy.train import TrainConfig
    from humanoid_teleop.policy.train import train as run_train

    terms = DEFAULT_OBSERVATION_TERMS + (("base_lin_vel_b_mps",) if odometry else ())
    policy = policy_config(
        terms, horizon=horizon, n_obs_steps=obs_steps, width=width, depth=depth,
        latent_dim=latent_dim, action=action, infer_every_ticks=infer_every_ticks,
        gait_clock=gait_clock,
        sampler=SamplerConfig(
            num_inference_steps=inference_steps, init_noise_scale=init_noise_scale
        ),
    )  # fmt: skip
    config = TrainConfig(
        policy=policy, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
        fall_trim_s=fall_trim_s, transition_weight=transition_weight,
        transition_window_s=transition_window_s, max_minutes=max_minutes,
        checkpoint_every=checkpoint_every, threads=threads,
    )  # fmt: skip
    summary = run_train(config, data, out)
    print(json.dumps(summary.as_dict(), indent=2))
    return 0


def intent(
    video: tyro.conf.Positional[Path],
    view: Literal["egocentric", "third_person", "third-person"] = "egocentric",
    json_out: Annotated[Path | None, tyro.conf.arg(name="json")] = None,
    estimator: Literal["embedded", "vlm"] = "embedded",
    vlm_path: Path | None = None,
    vlm_frames: int = 4,
    subject: Literal["person", "g1"] = "person",
) -> int:
    """Estimate the motion intent timeline of a video.

    Prints (or writes) {"video", "view", "estimator", "fps", "intents": [{"t_s", "skill",
    "vx_mps", "vy_mps", "yaw_rate_radps", "confidence"}]}: one intent per frame for the
    embedded estimators, one per VLM query for the VLM (the video is replayed as fast as the
    model answers, each query on the newest frames, as a live stream would be).

    Args:
        video: mp4 / webm / avi / mov / mkv / gif file, or a folder of images.
        view: egocentric (a worn camera) or third_person (a static camera watching a person).
        json_out: Write the timeline here instead of printing it.
        estimator: embedded (optical flow / tracking, no weights) or vlm (a local checkpoint).
        vlm_path: The VLM checkpoint directory (Qwen2-VL, Qwen2.5-VL, SmolVLM; needed for vlm).
        vlm_frames: Frames per VLM query (sampled 0.25 s apart).
        subject: person (a human, the default) or g1 (renders of the simulated G1: its
            camera optics and the body-orientation CNN trained on twin renders, which
            recognises walking backward, sidesteps and turns of the G1 but misreads people).
    """
    from humanoid_teleop.imitation import intent_row
    from humanoid_teleop.vlm.estimator import decode_video, video_fps

    view = "third_person" if view == "third-person" else view
    if estimator == "vlm":
        if vlm_path is None:
            raise ValueError("--estimator vlm needs --vlm-path DIR (a local VLM checkpoint)")
        from humanoid_teleop.vlm.vlm_backend import (
            VlmConfig,
            VlmInferenceError,
            VlmIntentEstimator,
        )

        # Offline there is no live stream to keep up with: no rate limit.
        config = VlmConfig(view=view, frames=vlm_frames, rate_hz=60.0)
        est = VlmIntentEstimator.from_path(vlm_path, config)
    else:
        from humanoid_teleop.server.live import make_estimator

        est = make_estimator(view, subject)
    intents = []
    last_t_s = None
    try:
        for frame in decode_video(video, view):
            out = est.update(frame)
            if estimator == "vlm":
                try:
                    out = est.wait_idle(timeout_s=60.0)  # offline: let it answer on these frames
                except VlmInferenceError as exc:  # the model failed: say so, no traceback
                    print(f"humanoid-teleop: error: {exc}", file=sys.stderr)
                    return 2
            if out is None or out.frame_timestamp_s == last_t_s:
                continue
            last_t_s = out.frame_timestamp_s
            intents.append(intent_row(out))
    finally:
        if estimator == "vlm":
            est.close()
    report = {
        "video": str(video), "view": view, "estimator": est.name,
        "fps": video_fps(video), "intents": intents,
    }  # fmt: skip
    text = json.dumps(report, indent=1)
    if json_out is not None:
        json_out.write_text(text)
        print(f"{len(intents)} intents -> {json_out}")
    else:
        print(text)
    return 0


def serve(
    host: str | None = None,
    port: int | None = None,
    data_dir: Path | None = None,
    controller: str | None = None,
    robot: Literal["sim", "dds"] | None = None,
    domain: int | None = None,
    iface: str | None = None,
) -> int:
    """The web service: live page (camera -> intent -> twin), uploads, results.

    Settings come from HT_* environment variables (see humanoid_teleop/server/settings.py);
    these options override them. The operator token is printed once, on the first start.

    Args:
        host: Address to listen on (HT_HOST, default 127.0.0.1).
        port: Port (HT_PORT, default 8000).
        data_dir: Operator token hash, job database and job folders (HT_DATA_DIR, ./data).
        controller: stand | expert | policy | policy:CKPT (HT_CONTROLLER, default policy;
            the shipped policy; the walking expert if none is installed).
        robot: sim (the twin, in-process) or dds (a G1, or `humanoid-teleop sim-robot`, over
            DDS: armed only under a policy that passes the hardware gate) (HT_ROBOT).
        domain: DDS domain id (HT_DDS_DOMAIN, default 1; a real G1 uses 0).
        iface: Network interface for DDS (HT_DDS_INTERFACE, default lo).
    """
    _prepare_gl()
    import logging

    try:
        import uvicorn

        from humanoid_teleop.server.app import create_app
        from humanoid_teleop.server.settings import ServerSettings
    except ImportError as exc:
        raise ValueError(
            f"the server extra is not installed ({exc}): pip install -e '.[server]'"
        ) from exc
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = {"host": host, "port": port, "data_dir": data_dir, "controller": controller,
                 "robot": robot, "dds_domain": domain, "dds_interface": iface}  # fmt: skip
    settings = ServerSettings(**{k: v for k, v in overrides.items() if v is not None})
    app = create_app(settings)
    token = app.state.services.new_token
    if token is not None:
        print(f"Operator token (shown once; only its hash is stored in {settings.data_dir}):")
        print(f"    {token}")
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(f"Open http://{shown}:{settings.port}/", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def imitate(
    video: tyro.conf.Positional[Path],
    out: Path,
    view: Literal["egocentric", "third_person", "third-person"] = "egocentric",
    controller: str = "policy",
    preview_size: tuple[int, int] = (320, 240),
) -> int:
    """The upload job without the server: video -> intents -> twin rollout -> verdict,
    trajectory and preview video in OUT. Exits 0 when the rollout passed, 1 when not.

    Args:
        video: mp4 / webm / mov / avi / gif file.
        out: Output folder (intents.json, trajectory.npz/.csv, report.json, preview.mp4).
        view: egocentric (a worn camera) or third_person (a static camera watching a person).
        controller: stand | expert | policy | policy:CKPT (policy: the shipped one).
        preview_size: Preview video width and height (even numbers).
    """
    _prepare_gl()
    from tqdm import tqdm

    from humanoid_teleop.imitation import ImitationConfig, controller_with_fallback, run_imitation
    from humanoid_teleop.vlm.estimator import VideoDecodeError

    if not video.is_file():
        raise VideoDecodeError(f"{video}: no such file")
    _, label, controller = controller_with_fallback(controller)
    if label != controller:
        print(f"humanoid-teleop: controller {label}", file=sys.stderr)
    view = "third_person" if view == "third-person" else view
    config = ImitationConfig(view=view, controller=controller, preview_width=preview_size[0],
                             preview_height=preview_size[1])  # fmt: skip
    bar = tqdm(total=100, desc="imitate", bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}")

    def progress(stage: str, fraction: float) -> None:
        bar.n = round(fraction * 100)
        bar.set_postfix_str(stage, refresh=False)
        bar.refresh()

    try:
        report = run_imitation(video, out, config, progress)
    finally:
        bar.close()
    brief = {k: v for k, v in report.items() if k != "series"}
    print(json.dumps(brief, indent=2))
    print(f"artifacts in {out}")
    return 0 if report["passed"] else 1


@dataclass(frozen=True)
class PlanArm:
    """Plan an arm motion through palm targets (IK on the G1 arm) and validate it in the twin.

    Prints the validation report; exits 0 when it passed, 1 when it did not, 2 when a
    target is out of reach."""

    targets: tuple[float, ...]
    """Palm waypoints as x y z triples (m, pelvis frame: x forward, y left, z up)."""
    side: Literal["left", "right"] = "right"
    """The arm that moves."""
    relative: bool = False
    """Targets are offsets from the palm's ready position (arm raised in front)."""
    speed: float = 0.15
    """Palm speed along the straight segments (m/s)."""
    video: Path | None = None
    """Write an MP4 preview of the validated motion in the twin."""
    json_out: Annotated[Path | None, tyro.conf.arg(name="json")] = None
    """Write the full plan (joint trajectory included) as JSON."""


@dataclass(frozen=True)
class PlanVisual:
    """The visual planner: a first frame + an instruction and/or a drawn 2D trajectory ->
    a 3x3 plan grid from a local diffusers image-to-image checkpoint. Writes grid.png,
    overlay.png (with a trajectory), frame_0..8.png, preview.mp4 and report.json to OUT."""

    image: tyro.conf.Positional[Path]
    """The first frame (PNG, JPEG, WebP or BMP)."""
    out: Path
    """Output folder."""
    model: Path
    """A local diffusers image-to-image checkpoint directory (model_index.json inside)."""
    instruction: str = ""
    """The task in words."""
    trajectory: tuple[float, ...] = ()
    """The object's path drawn over the frame as x y pixel pairs (tail first)."""
    lora: Path | None = None
    """LoRA weights loaded on top of the checkpoint."""
    steps: int | None = None
    """Denoising steps (default: the pipeline's)."""


@dataclass(frozen=True)
class PlanRigvid:
    """Imitate an object's motion (RIGVid): RGB-D frames + the object's first-frame mask in
    an .npz (depth, K, mask, T_pelvis_cam; optional rgb, metric_first_depth,
    T_pelvis_hand_at_grasp) -> 6D object track -> arm trajectory validated in the twin.
    Writes object_trajectory.json, trajectory.npz, preview.mp4 (track.png with rgb) and
    report.json to OUT; exits 0 when the twin passed it, 1 when not, 2 on bad input or a
    lost object / unreachable pose."""

    frames: tyro.conf.Positional[Path]
    """The .npz (arrays as in docs/service-api.md)."""
    out: Path
    """Output folder."""
    side: Literal["left", "right"] = "right"
    """The arm that holds the object."""
    fps: float = 10.0
    """The frames' rate (consecutive object poses become waypoints 1/fps apart)."""
    grasp_index: int = 0
    """The frame at which the hand holds the object."""


@dataclass(frozen=True)
class PlanRigvidVideo:
    """RIGVid's model stages: from one real RGB-D frame (.npz: rgb, depth, K, mask,
    T_pelvis_cam, optional T_pelvis_hand_at_grasp) and the task in words, generate a video
    (an image-to-video model, or the visual planner's image model as a 9-frame grid),
    regenerate until a VLM judges it successful (up to 5 times), estimate its depth with a
    monocular model and align it on the real depth. Writes OUT (the .npz `plan rigvid`
    takes) and OUT with .json (the filter's log, the alignment). Exits 0 when a video was
    accepted, 1 when every one was rejected, 2 on bad input or a model that does not load."""

    first: tyro.conf.Positional[Path]
    """The first frame's .npz."""
    out: Path
    """The generated RGB-D video's .npz (input of `plan rigvid`)."""
    instruction: str
    """The task in words (the generator's prompt and the filter's question)."""
    depth_model: Path
    """A local transformers depth-estimation checkpoint directory."""
    vlm: Path
    """A local VLM checkpoint directory (the success filter)."""
    video_model: Path | None = None
    """A local diffusers image-to-video pipeline directory."""
    image_planner: Path | None = None
    """Instead of --video-model: a diffusers image-to-image checkpoint (the visual planner)."""
    steps: int | None = None
    """Denoising steps of the generator (default: the pipeline's)."""
    max_regenerations: int = 5
    """Generations after the first before giving up."""


def plan(
    planner: Annotated[
        Annotated[PlanArm, tyro.conf.subcommand("arm")]
        | Annotated[PlanVisual, tyro.conf.subcommand("visual")]
        | Annotated[PlanRigvid, tyro.conf.subcommand("rigvid")]
        | Annotated[PlanRigvidVideo, tyro.conf.subcommand("rigvid-video")],
        tyro.conf.OmitArgPrefixes,
        tyro.conf.OmitSubcommandPrefixes,
    ],
) -> int:
    """Manipulation planners: arm (palm waypoints), visual (image model -> plan grid), rigvid
    (object motion in RGB-D frames). The same jobs as POST /api/v1/plan/<planner>; plus
    rigvid-video (a generated, filtered, depth-estimated video: the input of rigvid)."""
    _prepare_gl()
    from humanoid_teleop.manip.plans import plan_errors

    try:
        if isinstance(planner, PlanArm):
            return _plan_arm(planner)
        if isinstance(planner, PlanVisual):
            return _plan_visual(planner)
        if isinstance(planner, PlanRigvidVideo):
            return _plan_rigvid_video(planner)
        return _plan_rigvid(planner)
    except plan_errors() as exc:  # out of reach, object lost, bad input: no traceback
        print(f"humanoid-teleop: error: {exc}", file=sys.stderr)
        return 2


def _plan_arm(a: PlanArm) -> int:
    import numpy as np

    from humanoid_teleop.manip.reach import ReachConfig, plan_reach
    from humanoid_teleop.manip.validate import ArmValidationConfig

    if len(a.targets) == 0 or len(a.targets) % 3:
        raise ValueError(f"--targets: expected x y z triples, got {len(a.targets)} numbers")
    config = ReachConfig(side=a.side, speed_mps=a.speed,
                         validation=ArmValidationConfig(arm=a.side))  # fmt: skip
    report = plan_reach(np.reshape(a.targets, (-1, 3)), config, video=a.video,
                        relative=a.relative)  # fmt: skip
    brief = {k: report[k] for k in ("side", "ik_max_position_error_m", "passed", "validation")}
    print(json.dumps(brief, indent=2))
    if a.json_out is not None:
        a.json_out.write_text(json.dumps(report, indent=2))
    return 0 if report["passed"] else 1


def _plan_visual(a: PlanVisual) -> int:
    from humanoid_teleop.manip.plans import (
        ImagePlannerSource,
        VisualPlanRequest,
        read_png,
        run_visual_plan,
    )

    if len(a.trajectory) % 2:
        raise ValueError(f"--trajectory: expected x y pairs, got {len(a.trajectory)} numbers")
    points = [a.trajectory[i : i + 2] for i in range(0, len(a.trajectory), 2)]
    request = VisualPlanRequest.from_json(
        {"instruction": a.instruction, "trajectory": points or None}
    )
    source = ImagePlannerSource(a.model, a.lora, a.steps)
    report = run_visual_plan(request, read_png(a.image), source.load, a.out, model=str(a.model))
    print(json.dumps({k: report[k] for k in ("prompt", "frame_size", "grid_size")}, indent=2))
    print(f"artifacts in {a.out}")
    return 0


def _plan_rigvid(a: PlanRigvid) -> int:
    from humanoid_teleop.manip.plans import RigvidInput, RigvidPlanRequest, run_rigvid_plan

    request = RigvidPlanRequest.from_json(
        {"side": a.side, "fps": a.fps, "grasp_index": a.grasp_index}
    )
    report = run_rigvid_plan(request, RigvidInput.load(a.frames), a.out)
    brief = ("side", "frames", "ik_max_position_error_m", "icp_max_rms_m", "passed", "validation")
    print(json.dumps({k: report[k] for k in brief}, indent=2))
    print(f"artifacts in {a.out}")
    return 0 if report["passed"] else 1


def arm_pose(
    out: Path,
    train_images: int = 12000,
    held_out_images: int = 500,
    epochs: int = 24,
    seed: int = 0,
    max_minutes: float = 15.0,
    json_out: Annotated[Path | None, tyro.conf.arg(name="json")] = None,
) -> int:
    """Train the single-image arm-pose model (RGB -> the right arm's 7 joint angles) on renders
    of the twin and write it to OUT (arm_pose.safetensors + arm_pose.json, with its held-out
    error). The shipped model in humanoid_teleop/assets/arm_pose is this command's output.

    Args:
        out: Checkpoint folder.
        train_images: Training renders (~40/s on one CPU core: 5 minutes).
        held_out_images: Renders with another seed the error is measured on.
        epochs: Training epochs (~21 s each on one CPU thread: 9 minutes).
        seed: Seeds the renders, the initialisation and the batches.
        max_minutes: Stop training after this long even if epochs remain.
        json_out: Also write the report as JSON.
    """
    _prepare_gl()
    import torch

    from humanoid_teleop.manip.arm_pose_model import ArmPoseTrainConfig, build_arm_pose_checkpoint

    torch.set_num_threads(1)  # deterministic and polite on a shared machine
    train_config = ArmPoseTrainConfig(epochs=epochs, seed=seed, max_seconds=max_minutes * 60)
    report = build_arm_pose_checkpoint(out, train_images, held_out_images, train=train_config,
                                       log=lambda msg: print(msg, file=sys.stderr))  # fmt: skip
    print(json.dumps(report, indent=2))
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2))
    return 0


def _plan_rigvid_video(a: PlanRigvidVideo) -> int:
    from dataclasses import asdict

    from humanoid_teleop.manip import rigvid_models as rm
    from humanoid_teleop.manip.rigvid import NoAcceptableVideoError

    if (a.video_model is None) == (a.image_planner is None):
        raise ValueError("give exactly one of --video-model and --image-planner")
    first = rm.FirstFrame.load(a.first)
    if a.video_model is not None:
        generator = rm.load_video_generator(a.video_model, num_inference_steps=a.steps)
    else:
        from humanoid_teleop.manip.planner import load_image_planner

        generator = rm.grid_video_generator(
            load_image_planner(a.image_planner, num_inference_steps=a.steps)
        )
    judge = rm.VlmSuccessFilter.from_path(a.vlm, a.instruction)
    depth = rm.load_depth_model(a.depth_model)
    log_path = a.out.with_suffix(".json")
    try:
        rgbd = rm.generate_rgbd(first.rgb, first.depth_m, first.mask, a.instruction,
                                generator=generator, depth_model=depth, success_filter=judge,
                                max_regenerations=a.max_regenerations,
                                progress=lambda stage: print(stage, file=sys.stderr))  # fmt: skip
    except NoAcceptableVideoError as exc:
        report = {"accepted": False, "filter_log": [v.to_dict() for v in exc.attempts]}
        log_path.write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
        return 1
    first.rigvid_input(rgbd, a.out)
    report = {"accepted": True, "frames": len(rgbd.video.frames), "question": judge.question,
              "filter_log": [v.to_dict() for v in rgbd.video.log], "depth_output": depth.output,
              "depth_alignment": asdict(rgbd.depth.alignment)}  # fmt: skip
    log_path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"wrote {a.out}: humanoid-teleop plan rigvid {a.out} --out PLAN_DIR")
    return 0


def main(argv: list[str] | None = None) -> int:
    commands = {
        "sim": sim,
        "validate": validate,
        "collect": collect,
        "sim-robot": sim_robot,
        "train": train,
        "intent": intent,
        "serve": serve,
        "imitate": imitate,
        "plan": plan,
        "arm-pose": arm_pose,
    }
    try:
        return int(tyro.extras.subcommand_cli_from_dict(commands, args=argv) or 0)
    except _user_errors() as exc:  # bad input: say what was wrong, no traceback
        print(f"humanoid-teleop: error: {exc}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[Exception], ...]:
    from humanoid_teleop.control.gate import HardwareGateError
    from humanoid_teleop.policy.errors import CheckpointError
    from humanoid_teleop.sim.dataset import DatasetError
    from humanoid_teleop.sim.model import ModelNotFoundError
    from humanoid_teleop.sim.render import RenderError, VideoEncoderError
    from humanoid_teleop.vlm.estimator import VideoDecodeError

    # ValueError covers ContractError, UnknownControllerError and config validation.
    return (
        ValueError, DatasetError, CheckpointError, ModelNotFoundError, RenderError,
        VideoEncoderError, VideoDecodeError, HardwareGateError,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
