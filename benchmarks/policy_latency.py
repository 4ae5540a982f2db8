"""Per-chunk inference latency of the diffusion policy on one CPU thread.

    PYTHONPATH=src python benchmarks/policy_latency.py [--iterations 500] [--checkpoint CKPT]

One chunk = ``DiffusionPolicy.predict``: normalize the (n_obs, D) history, encode the
condition once, run the DDIM steps, unnormalize, build the ActionChunk. Models are built
from config with random weights (latency does not depend on the values), plus the given
checkpoint. ``torch.set_num_threads(1)`` and the BLAS thread variables pinned to 1 before
torch loads. Prints a markdown table, machine first; the target is p99 <= 5 ms. Wall time
and the thread's CPU time are both reported: on a shared machine the wall time includes
waiting for a core, the CPU time does not.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from machine import cpu_model, pin_single_thread

pin_single_thread()  # before torch loads: latency is measured on one thread


def _load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _random_policy(width: int, depth: int, horizon: int, steps: int):
    import torch

    from humanoid_teleop.policy.inference import DiffusionPolicy, policy_config
    from humanoid_teleop.policy.model import Denoiser
    from humanoid_teleop.policy.normalize import Normalizer
    from humanoid_teleop.policy.sampler import SamplerConfig

    config = policy_config(horizon=horizon, width=width, depth=depth,
                           sampler=SamplerConfig(num_inference_steps=steps))  # fmt: skip
    torch.manual_seed(0)
    model = Denoiser(config.denoiser)
    return DiffusionPolicy(config, model, Normalizer.identity(config.denoiser.obs_dim, 29))


def measure(policy, iterations: int, warmup: int = 20) -> tuple[float, ...]:
    """(wall median, wall p99, wall max, CPU median, CPU p99) in ms. CPU = this thread's
    CPU time, which a shared machine's other load does not inflate."""
    import numpy as np

    from humanoid_teleop.contracts import Intent, VelocityCommand

    rng = np.random.default_rng(0)
    history = rng.normal(size=(policy.n_obs_steps, policy.config.denoiser.obs_dim))
    intent = Intent("walk", VelocityCommand(0.3, 0.0, 0.2), 1.0, "bench", 0.0)
    for _ in range(warmup):
        policy.predict(history, intent)
    wall, cpu = [], []
    for i in range(iterations):
        c0, t0 = time.thread_time(), time.perf_counter()
        policy.predict(history, intent, t0_s=i * 0.02)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    a, c = np.asarray(wall) * 1e3, np.asarray(cpu) * 1e3
    return (float(np.median(a)), float(np.percentile(a, 99)), float(a.max()),
            float(np.median(c)), float(np.percentile(c, 99)))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--checkpoint", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from humanoid_teleop.policy.model import parameter_count

    torch.set_num_threads(1)
    rows = []
    for width, depth, horizon, steps in [
        (256, 3, 16, 2), (256, 3, 16, 4), (512, 3, 16, 2), (512, 3, 16, 4), (512, 4, 16, 10),
    ]:  # fmt: skip
        policy = _random_policy(width, depth, horizon, steps)
        label = f"MLP w{width} d{depth}, H={horizon}, {steps} DDIM steps"
        rows.append((label, parameter_count(policy.model), *measure(policy, args.iterations)))
    if args.checkpoint is not None:
        from humanoid_teleop.policy import load_policy

        policy = load_policy(args.checkpoint)
        c = policy.config
        label = (f"checkpoint {args.checkpoint.name}: w{c.denoiser.width} d{c.denoiser.depth}, "
                 f"H={c.denoiser.horizon}, {c.sampler.num_inference_steps} DDIM steps")  # fmt: skip
        rows.append((label, parameter_count(policy.model), *measure(policy, args.iterations)))

    print(f"machine: {cpu_model()}; {os.cpu_count()} logical cores; python "
          f"{platform.python_version()}; torch {torch.__version__}; torch threads "
          f"{torch.get_num_threads()}; load average {_load_average()} (shared)")  # fmt: skip
    print(f"iterations per row: {args.iterations} (after 20 warm-up); target p99 <= 5 ms\n")
    print("| model | params | wall median ms | wall p99 ms | wall max ms | CPU median ms "
          "| CPU p99 ms |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, params, *t in rows:
        print(f"| {label} | {params / 1e6:.2f} M | " + " | ".join(f"{v:.2f}" for v in t) + " |")


if __name__ == "__main__":
    main()
