"""Training data and training for the body-yaw CNN (``vlm.body_yaw``), from G1 twin renders.

Renders: the walking expert follows random command segments (stand, forward, back,
sidesteps, turns, mixtures) in the capsule twin; every ``sample_every_s`` of sim time the
robot is filmed by ``views`` static cameras placed at random around it (3-7 m, any side,
3-30 degrees down, the robot anywhere in the 320x240 frame, like the benchmark's cameras).
Each sample is the person crop (``crop_person``, box from the projected geoms with random
jitter standing in for the tracker's sloppy boxes) labelled with ``rel_yaw`` = pelvis yaw -
bearing of the camera -> pelvis ray. Shards of ``shard_size`` samples are saved as npz with
their own seed, so an interrupted run resumes where it stopped and every shard is
reproducible.

Training: shards 0..n-2 train, the last shard (other episodes, other cameras) is held out.
Loss: squared error of (sin, cos); augmentation: mirror (the robot and its gaits are
left-right symmetric, so a mirrored crop is a valid sample with rel_yaw negated) and
brightness / contrast.

The shipped checkpoint (3600 samples; on the busy 2-core machine, niced: ~10 samples/s per
render process, two in parallel ~4.5 min; training 30 epochs ~4 min on one thread):

    python -m humanoid_teleop.vlm.body_yaw_train render --seed 0 --shards 4 --shard-size 300
    python -m humanoid_teleop.vlm.body_yaw_train render --seed 1 --shards 8 --shard-size 300
    python -m humanoid_teleop.vlm.body_yaw_train train --epochs 30

(both render commands may run at once; the held-out shard is the last by name,
``shard-1-007-300.npz``). ``train`` writes ``assets/third_person`` unless ``--out`` says else.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from humanoid_teleop.contracts import VelocityCommand
from humanoid_teleop.vlm.body_yaw import (
    DEFAULT_DIR,
    BodyYawConfig,
    BodyYawModel,
    build_network,
    crop_person,
    save_body_yaw,
    to_tensor,
    wrap_rad,
)
from humanoid_teleop.vlm.sim_clips import CameraPlacement

WIDTH, HEIGHT = 320, 240
# Command ranges per kind (vx, vy, yaw): a little wider than the benchmark's classes.
KINDS: dict[str, tuple[tuple[float, float], ...]] = {
    "stand": ((0, 0), (0, 0), (0, 0)),
    "forward": ((0.15, 0.45), (0, 0), (0, 0)),
    "back": ((-0.25, -0.08), (0, 0), (0, 0)),
    "left": ((0, 0), (0.06, 0.18), (0, 0)),
    "right": ((0, 0), (-0.18, -0.06), (0, 0)),
    "turn": ((0.0, 0.25), (0, 0), (-0.7, 0.7)),
    "mixed": ((-0.15, 0.35), (-0.12, 0.12), (-0.5, 0.5)),
}


def random_camera_around(rng: np.random.Generator, target_w: np.ndarray) -> CameraPlacement:
    """A camera 3-7 m from ``target_w`` (3,), any azimuth, 3-30 degrees down, aimed so that
    the target lands anywhere in the middle ~70 % of the frame."""
    dist = float(rng.uniform(3.0, 7.0))
    az = float(rng.uniform(0.0, 360.0))
    el = float(rng.uniform(-30.0, -3.0))
    half_w = dist * math.tan(math.radians(22.5)) * WIDTH / HEIGHT
    a = math.radians(az)
    right = np.array([math.sin(a), -math.cos(a), 0.0])
    lookat = target_w + right * rng.uniform(-0.7, 0.7) * half_w
    lookat[2] = float(rng.uniform(0.3, 0.9))
    return CameraPlacement(tuple(float(v) for v in lookat), dist, az, el)


def person_box(model, data, placement: CameraPlacement) -> tuple[float, float, float] | None:
    """(cx, cy, h) pixels of the robot's projected geoms, or None when out of the frame."""
    geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] > 0]
    centres = data.geom_xpos[geoms]
    r = model.geom_rbound[geoms]
    # Capsules: their bounding sphere overstates vertical extent; half of it is closer.
    top = centres + np.c_[np.zeros((len(geoms), 2)), 0.5 * r]
    bottom = centres - np.c_[np.zeros((len(geoms), 2)), 0.5 * r]
    px, z = placement.project(np.vstack([top, bottom]), WIDTH, HEIGHT)
    if (z <= 0.5).any():
        return None
    x0, y0 = px.min(axis=0)
    x1, y1 = px.max(axis=0)
    if x0 < 0 or x1 > WIDTH or y0 < 0 or y1 > HEIGHT:
        return None
    return (x0 + x1) / 2, (y0 + y1) / 2, y1 - y0


def render_shard(seed: int, shard: int, size: int, views: int, sample_every_s: float,
                 config: BodyYawConfig) -> dict[str, np.ndarray]:  # fmt: skip
    """``size`` samples from expert episodes (seeded by (seed, shard)); an episode in which
    the expert falls loses that segment's samples (a falling robot is no gait) and the next
    episode starts from a fresh twin."""
    rng = np.random.default_rng([seed, shard])
    samples: list[tuple] = []
    while len(samples) < size:
        samples += _episode(rng, size - len(samples), views, sample_every_s, config)
    crops, rel, elev, heights = zip(*samples)
    return {
        "crops": np.array(crops, np.uint8), "rel_yaw_rad": np.array(rel),
        "elevation_deg": np.array(elev), "box_h_px": np.array(heights),
    }  # fmt: skip


def _episode(rng, size: int, views: int, sample_every_s: float, config: BodyYawConfig) -> list:
    """(crop, rel_yaw, elevation, box height) samples of one expert episode, up to ``size``."""
    from humanoid_teleop.vlm.sim_clips import PlacedRenderer, ramp_to_active, start_expert_twin

    robot, loop = start_expert_twin()
    renderer = PlacedRenderer(robot.model, CameraPlacement(), WIDTH, HEIGHT)
    m, d = robot.model, robot.data
    samples: list[tuple] = []
    dt = loop.controller.control_dt_s
    try:
        ramp_to_active(loop, float(rng.uniform(0.2, 1.0)))
        kinds = list(KINDS)
        while len(samples) < size:
            kind = kinds[int(rng.integers(len(kinds)))]
            command = VelocityCommand(*(float(rng.uniform(lo, hi)) for lo, hi in KINDS[kind]))
            seg_s = float(rng.uniform(1.5, 3.5))
            next_sample = robot.sim_time_s + float(rng.uniform(0.3, 0.8))  # gait settles
            segment: list[tuple] = []
            for _ in range(round(seg_s / dt)):
                record = loop.tick(command)
                if record.state.base.fallen:
                    return samples
                if robot.sim_time_s < next_sample:
                    continue
                next_sample += sample_every_s
                pelvis = d.xpos[robot.index.pelvis_body].copy()
                yaw = record.state.base.yaw_rad
                for _ in range(views):
                    cam = random_camera_around(rng, pelvis)
                    box = person_box(m, d, cam)
                    if box is None:
                        continue
                    renderer.place(cam)
                    img = robot.render(renderer)
                    cx, cy, h = box
                    # Tracker boxes are sloppy: off-centre, too tall (shadow, reflection) or
                    # too short (a lost limb).
                    h_j = h * math.exp(rng.normal(0.0, 0.12))
                    cx_j, cy_j = cx + rng.normal(0.0, 0.07) * h, cy + rng.normal(0.0, 0.1) * h
                    cam_pos = cam.position_m()
                    bearing = math.atan2(pelvis[1] - cam_pos[1], pelvis[0] - cam_pos[0])
                    segment.append(
                        (
                            crop_person(img, cx_j, cy_j, h_j, config),
                            float(wrap_rad(yaw - bearing)),
                            cam.elevation_deg,
                            h,
                        )
                    )
            samples += segment
    finally:
        renderer.close()
        robot.disconnect()
    return samples[:size]


def render(args) -> None:
    from humanoid_teleop.sim.render import ensure_gl_backend

    ensure_gl_backend()
    config = BodyYawConfig()
    args.out.mkdir(parents=True, exist_ok=True)
    for shard in range(args.shards):
        path = args.out / f"shard-{args.seed}-{shard:03d}-{args.shard_size}.npz"
        if path.exists():
            continue  # resumable: a finished shard is never redone
        t0 = time.perf_counter()
        data = render_shard(args.seed, shard, args.shard_size, args.views, args.every, config)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **data)
        tmp.rename(path)
        wall = time.perf_counter() - t0
        print(f"shard {shard}: {len(data['crops'])} samples in {wall:.1f} s "
              f"({len(data['crops']) / wall:.1f} samples/s)", flush=True)  # fmt: skip


def load_shards(folder: Path) -> list[dict[str, np.ndarray]]:
    paths = sorted(folder.glob("shard-*.npz"))
    if len(paths) < 2:
        raise FileNotFoundError(f"{folder}: expected >= 2 shards (train + held out), got {paths}")
    return [dict(np.load(p)) for p in paths]


def angle_errors_deg(model: BodyYawModel, crops: np.ndarray, rel: np.ndarray) -> np.ndarray:
    pred = np.concatenate([model.predict(crops[i : i + 256])[0] for i in range(0, len(crops), 256)])
    return np.degrees(np.abs(wrap_rad(pred - rel)))


def _reframe(crops: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zoom out and shift the crops the way the tracker's boxes do: its blob includes the
    floor reflection and the shadow below the feet, so the body comes out smaller (to ~0.7)
    and higher in the crop than in the projected-geom boxes the renders were cut with."""
    import cv2

    n = crops.shape[1]
    out = np.empty_like(crops)
    for i, crop in enumerate(crops):
        z = rng.uniform(0.7, 1.08)
        dx, dy = rng.normal(0.0, 0.05) * n, rng.uniform(-0.14, 0.04) * n
        m = np.array([[z, 0.0, (1 - z) * n / 2 + dx], [0.0, z, (1 - z) * n / 2 + dy]])
        out[i] = cv2.warpAffine(crop, m, (n, n), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return out


def train(args) -> None:
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    shards = load_shards(args.data)
    held = shards[-1]
    x = np.concatenate([s["crops"] for s in shards[:-1]])
    y = np.concatenate([s["rel_yaw_rad"] for s in shards[:-1]])
    config = BodyYawConfig()
    net = build_network(config)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * math.ceil(len(x) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=steps)
    rng = np.random.default_rng(args.seed)
    held_loose = _reframe(held["crops"], np.random.default_rng(12345))
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(x), args.batch):
            idx = order[i : i + args.batch]
            xb, yb = _reframe(x[idx], rng), y[idx].copy()
            flip = rng.random(len(idx)) < 0.5
            xb[flip] = xb[flip, :, ::-1]
            yb[flip] = -yb[flip]
            xt = to_tensor(xb)
            gain = torch.from_numpy(rng.uniform(0.75, 1.25, (len(idx), 1, 1, 1))).float()
            bias = torch.from_numpy(rng.uniform(-0.15, 0.15, (len(idx), 1, 1, 1))).float()
            xt = (xt * gain + bias).clamp(-1, 1)
            target = torch.from_numpy(np.c_[np.sin(yb), np.cos(yb)]).float()
            loss = ((net(xt) - target) ** 2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        net.eval()
        model = BodyYawModel(net, config)
        err = angle_errors_deg(model, held["crops"], held["rel_yaw_rad"])
        err_loose = angle_errors_deg(model, held_loose, held["rel_yaw_rad"])
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {total / len(x):.3f}, held-out "
              f"error median {np.median(err):.1f} deg, 90% {np.percentile(err, 90):.1f} deg, "
              f"> 90 deg {np.mean(err > 90):.1%}; tracker-like boxes median "
              f"{np.median(err_loose):.1f}, > 90 deg {np.mean(err_loose > 90):.1%} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    meta = {
        "trained_on": f"{len(x)} G1 twin renders ({len(shards) - 1} shards of {args.data.name}, "
                      f"seed {args.seed}), 320x240 frames, cameras 3-7 m, 3-30 deg down",
        "heldout_samples": len(held["crops"]),
        "heldout_error_deg": {"median": float(np.median(err)),
                              "p90": float(np.percentile(err, 90)),
                              "share_over_90deg": float(np.mean(err > 90)),
                              "tracker_like_boxes_median": float(np.median(err_loose)),
                              "tracker_like_boxes_share_over_90deg":
                                  float(np.mean(err_loose > 90))},
        "epochs": args.epochs,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "label": "rel_yaw = body yaw - bearing of the camera->person ray, CCW positive; "
                 "output (sin, cos)",
    }  # fmt: skip
    save_body_yaw(BodyYawModel(net, config, meta), args.out)
    print(f"saved {args.out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render", help="render (or finish rendering) training shards")
    r.add_argument("--out", type=Path, default=Path("out/body_yaw"))
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--shards", type=int, default=16)
    r.add_argument("--shard-size", type=int, default=400)
    r.add_argument("--views", type=int, default=2, help="cameras per sampled instant")
    r.add_argument("--every", type=float, default=0.1, help="sim seconds between instants")
    t = sub.add_parser("train", help="train on the shards, save the checkpoint")
    t.add_argument("--data", type=Path, default=Path("out/body_yaw"))
    t.add_argument("--out", type=Path, default=DEFAULT_DIR)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--lr", type=float, default=3e-3)
    args = p.parse_args(argv)
    if args.cmd == "render":
        render(args)
    else:
        train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
