"""Speed of the intent estimators: frames per second on one thread and frame -> intent latency.

- Embedded estimators at 320x240 on synthetic scenes (or ``--video``): a textured floor moving
  under the camera (egocentric) and a textured figure walking across a static textured room
  (third person: the default track only, and with its body-yaw CNN when the checkpoint is
  there).
  ``update()`` returns the intent of the frame it was given, so the frame ->
  intent latency is the time of one ``update()`` call; fps = 1 / mean.
- VLM backend with the tiny random Qwen2-VL (``vlm/tiny_vlm.py``, ~0.2 M parameters): one
  query (K frames -> text + latent) at two image sizes; ``update()`` (the stream's cost:
  it only buffers); frame -> intent = from the ``update()`` that completes a K-frame sample
  to the worker's intent being readable.

    python benchmarks/intent_speed.py --frames 300 --vlm-queries 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_rows, pin_single_thread

pin_single_thread()

from humanoid_teleop.contracts import Frame


def synthetic_egocentric(n: int, seed: int = 0) -> list[Frame]:
    """A random texture drifting down and expanding: walking forward over a floor."""
    import cv2

    rng = np.random.default_rng(seed)
    tex = cv2.resize(rng.integers(0, 255, (200, 260, 3), dtype=np.uint8), (1040, 800),
                     interpolation=cv2.INTER_NEAREST)  # fmt: skip
    frames = []
    for i in range(n):
        s = 1.0 + 0.002 * (i % 100)
        m = np.array([[s, 0, -260 - 2 * (i % 100)], [0, s, -200 - 3 * (i % 100)]], np.float32)
        img = cv2.warpAffine(tex, m, (320, 240))
        frames.append(Frame(i / 30, img, "egocentric", index=i))
    return frames


def synthetic_third_person(n: int, seed: int = 0) -> list[Frame]:
    """A static textured room and a 28x90 px textured figure walking across it."""
    rng = np.random.default_rng(seed)
    room = rng.integers(60, 200, (240, 320, 3), dtype=np.uint8)
    figure = rng.integers(0, 60, (90, 28, 3), dtype=np.uint8)
    frames = []
    for i in range(n):
        img = room.copy()
        x = 20 + int(2 * (i % 130))
        img[100:190, x : x + 28] = figure
        frames.append(Frame(i / 30, img, "third_person", index=i))
    return frames


def time_estimator(estimator, frames: list[Frame]) -> np.ndarray:
    for f in frames[:10]:  # warm-up: first-call allocations, lazy imports
        estimator.update(f)
    estimator.reset()
    times = []
    for f in frames:
        start = time.perf_counter()
        estimator.update(f)
        times.append(time.perf_counter() - start)
    return np.array(times)


def row(name: str, t: np.ndarray) -> str:
    ms = t * 1e3
    return (f"| {name} | {1.0 / t.mean():.0f} | {np.median(ms):.2f} | "
            f"{np.percentile(ms, 99):.2f} |")  # fmt: skip


def bench_vlm(queries: int) -> list[str]:
    from humanoid_teleop.vlm.tiny_vlm import build_tiny_qwen2_vl
    from humanoid_teleop.vlm.vlm_backend import VlmConfig, VlmIntentEstimator, load_vlm

    rows = []
    frames = synthetic_egocentric(queries * 4 + 40)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_qwen2_vl(Path(tmp) / "tiny")
        for w, h in ((224, 168), (56, 56)):
            config = VlmConfig(frames=4, image_width_px=w, image_height_px=h, max_new_tokens=8)
            describer = load_vlm(path, config)
            images = [f.image_rgb for f in frames[:4]]
            describer.describe(images)  # warm-up
            t = [describer.describe([f.image_rgb for f in frames[i : i + 4]]).seconds
                 for i in range(queries)]  # fmt: skip
            rows.append(row(f"VLM query, K=4 frames {w}x{h}, 8 new tokens", np.array(t)))
        config = VlmConfig(frames=4, sample_period_s=0.1, rate_hz=60.0, max_new_tokens=8)
        # Frames 0.1 s apart: every update() adds a sample, and its intent is the one whose
        # frame time is that frame's.
        stream = [Frame(i * 0.1, f.image_rgb, "egocentric", i) for i, f in enumerate(frames)]
        with VlmIntentEstimator(load_vlm(path, config), config) as est:
            update_t, e2e = [], []
            for f in stream:
                start = time.perf_counter()
                est.update(f)
                update_t.append(time.perf_counter() - start)
                if f.index < config.frames - 1:
                    continue
                while est.error is None:
                    latest = est.latest()
                    if latest is not None and latest.frame_timestamp_s == f.timestamp_s:
                        break
                    time.sleep(0.0002)
                e2e.append(time.perf_counter() - start)
                if len(e2e) >= queries:
                    break
        rows.append(row("VLM update() (buffering only)", np.array(update_t)))
        rows.append(row("VLM frame -> intent (224x168, K=4, worker)", np.array(e2e)))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--vlm-queries", type=int, default=20, help="0 skips the VLM")
    p.add_argument("--video", type=Path, default=None, help="time on this video instead")
    args = p.parse_args(argv)
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    from humanoid_teleop.vlm.egocentric import EgocentricEstimator
    from humanoid_teleop.vlm.estimator import decode_video
    from humanoid_teleop.vlm.third_person import ThirdPersonConfig, ThirdPersonEstimator

    for k, v in machine_rows():
        print(f"{k}: {v}")
    print("cv2 threads 1, torch threads 1")
    if args.video is not None:
        ego = list(decode_video(args.video, "egocentric"))[: args.frames]
        third = [Frame(f.timestamp_s, f.image_rgb, "third_person", f.index) for f in ego]
    else:
        ego = synthetic_egocentric(args.frames)
        third = synthetic_third_person(args.frames)
    print(f"\n{len(ego)} frames at {ego[0].image_rgb.shape[1]}x{ego[0].image_rgb.shape[0]}\n")
    print("| estimator | fps (1 thread) | frame -> intent median ms | p99 ms |")
    print("|---|---|---|---|")
    print(row("embedded egocentric (DIS ultrafast)", time_estimator(EgocentricEstimator(), ego)))
    print(row("embedded third-person, track only", time_estimator(ThirdPersonEstimator(), third)))
    with_cnn = ThirdPersonEstimator(ThirdPersonConfig(use_body_yaw=True))
    if with_cnn.uses_body_yaw:
        print(row("embedded third-person, body-yaw CNN", time_estimator(with_cnn, third)))
    if args.vlm_queries > 0:
        for line in bench_vlm(args.vlm_queries):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
