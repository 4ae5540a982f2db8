"""DDIM: the noise schedule for training and a deterministic few-step sampler.

Training draws t uniformly from ``[0, num_train_timesteps)`` and noises a clean chunk x0 as
``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` (``add_noise``); the network predicts x0
(``sample``, the default) or eps. Sampling runs ``num_inference_steps`` DDIM updates with
eta = 0 from pure noise (scaled by ``init_noise_scale``), so the only randomness is the
initial noise: a fixed generator seed gives the same chunk, and scale 0 gives one chunk per
condition. The step count is always explicit (it is part of the config
stored in a checkpoint) because it sets both latency and quality.

Why x0 prediction: with 2-4 steps the first update starts at abar ~ 0, where recovering x0
from an eps prediction divides by sqrt(abar) and amplifies the network's error; predicting
x0 directly has no such blow-up (the reason few-step samplers favour it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch

from humanoid_teleop.policy.model import PREDICTION_TYPES

SCHEDULES = ("cosine", "linear")


@dataclass(frozen=True)
class SamplerConfig:
    num_train_timesteps: int = 100
    num_inference_steps: int = 4
    schedule: str = "cosine"  # "squaredcos_cap_v2" of diffusers / diffusion_policy
    beta_start: float = 1e-4  # linear schedule only
    beta_end: float = 0.02
    prediction_type: str = "sample"
    clip_sample: float = 5.0  # clamp predicted x0 (normalized units); 0 disables
    # Scale of the initial noise (a sampling temperature). 1 samples the learned action
    # distribution; 0 starts every chunk from the same point, so the chunk becomes a
    # deterministic function of the condition (mode seeking: consecutive chunks no longer
    # differ by sampling noise). Policy A, validate 100 x 20 s: see docs/figures.md.
    init_noise_scale: float = 1.0

    def __post_init__(self):
        if not isinstance(self.num_train_timesteps, int) or self.num_train_timesteps < 2:
            raise ValueError(f"num_train_timesteps: expected an int >= 2, got "
                             f"{self.num_train_timesteps!r}")  # fmt: skip
        n = self.num_inference_steps
        if not isinstance(n, int) or not 1 <= n <= self.num_train_timesteps:
            raise ValueError(
                f"num_inference_steps: expected an int in 1..{self.num_train_timesteps}, got {n!r}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {SCHEDULES}, got {self.schedule!r}")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"prediction_type: expected one of {PREDICTION_TYPES}, got {self.prediction_type!r}"
            )
        if not self.clip_sample >= 0:
            raise ValueError(f"clip_sample: expected >= 0, got {self.clip_sample}")
        if not 0.0 <= self.init_noise_scale <= 1.0:
            raise ValueError(f"init_noise_scale: expected 0..1, got {self.init_noise_scale}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SamplerConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"SamplerConfig: unknown keys {unknown}")
        return cls(**data)


def alphas_cumprod(config: SamplerConfig) -> torch.Tensor:
    """(num_train_timesteps,) float64 abar_t, decreasing from ~1."""
    n = config.num_train_timesteps
    if config.schedule == "linear":
        betas = torch.linspace(config.beta_start, config.beta_end, n, dtype=torch.float64)
    else:

        def f(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = torch.tensor(
            [min(1 - f((i + 1) / n) / f(i / n), 0.999) for i in range(n)], dtype=torch.float64
        )
    return torch.cumprod(1.0 - betas, dim=0)


class DDIM:
    """Schedule arithmetic shared by training (``add_noise``, ``target``) and ``sample``."""

    def __init__(self, config: SamplerConfig):
        self.config = config
        self.abar = alphas_cumprod(config)  # float64
        n, k = config.num_train_timesteps, config.num_inference_steps
        # Evenly spaced, "trailing" (Lin et al. 2024): n=100, k=4 -> [99, 74, 49, 24]. The
        # first step starts at the last training step, where x_t really is pure noise; with
        # "leading" spacing ([75, 50, 25, 0]) a 1-2 step sampler would treat pure noise as a
        # half-clean sample. The last update goes straight to the predicted clean chunk.
        self.timesteps = [round(n - i * n / k) - 1 for i in range(k)]

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.abar.to(x0.dtype)[t].view(-1, *([1] * (x0.ndim - 1)))
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x0 if self.config.prediction_type == "sample" else noise

    def step(self, model_out: torch.Tensor, t: int, t_prev: int | None, x_t: torch.Tensor):
        """One eta = 0 DDIM update from step t to t_prev (None: to the clean sample)."""
        a_t = float(self.abar[t])
        a_prev = float(self.abar[t_prev]) if t_prev is not None else 1.0
        if self.config.prediction_type == "sample":
            x0 = model_out
            eps = (x_t - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
        else:
            eps = model_out
            x0 = (x_t - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        if self.config.clip_sample > 0:
            x0 = x0.clamp(-self.config.clip_sample, self.config.clip_sample)
            if self.config.prediction_type == "epsilon":
                eps = (x_t - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
        if t_prev is None:
            return x0
        return math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps

    @torch.no_grad()
    def sample(self, model, cond: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """(B, H, A) normalized chunk for a condition from ``model.encode_condition``.

        ``model`` is a ``Denoiser``; its time embeddings for this schedule are cached on it.
        """
        c = model.config
        x = torch.randn(
            (cond.shape[0], c.horizon, c.action_dim), generator=generator, dtype=cond.dtype
        ) * self.config.init_noise_scale  # drawn even at scale 0: the stream stays aligned
        embs = _time_embeddings(model, self.timesteps)
        ts = self.timesteps
        for i, t in enumerate(ts):
            out = model.denoise(x, cond, embs[i].expand(cond.shape[0], -1))
            x = self.step(out, t, ts[i + 1] if i + 1 < len(ts) else None, x)
        return x


def _time_embeddings(model, timesteps: list[int]) -> torch.Tensor:
    """(k, cond_dim) time embeddings, cached per model and schedule (valid in eval mode:
    the cache is dropped whenever the model's weights are reloaded or it trains)."""
    key = tuple(timesteps)
    cache = getattr(model, "_time_emb_cache", None)
    if model.training or cache is None or cache[0] != key or cache[1] != _version(model):
        embs = model.time_embedding(torch.tensor(timesteps))
        if model.training:
            return embs
        cache = (key, _version(model), embs)
        model._time_emb_cache = cache
    return cache[2]


def _version(model) -> object:
    # Identity token of the time MLP's current weights: changes when load_state_dict or an
    # optimizer step replaces or updates them in place (the tensor version counter).
    w = model.time_mlp[0].weight
    return (w.data_ptr(), w._version)
