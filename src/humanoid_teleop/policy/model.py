"""The conditional denoiser: a FiLM-conditioned residual MLP over a whole action chunk.

Shapes (B = batch):

    noisy actions  (B, H, A)          normalized action chunk at a diffusion step
    timestep       (B,)               integer diffusion step in [0, num_train_timesteps)
    obs history    (B, n_obs, D_obs)  normalized proprioceptive history, oldest first
    skill          (B,)               index into ``contracts.SKILLS``
    command        (B, 3)             normalized (vx, vy, yaw rate)
    latent         (B, latent_dim)    optional intent latent (e.g. a VLM's pooled state)
    -> prediction  (B, H, A)          the clean chunk (``sample``) or the noise (``epsilon``)

Why an MLP over the flattened chunk and not a 1D-conv U-Net: at H = 16 a chunk is 464
numbers, batch 1 on one CPU thread is dominated by per-op overhead, and a handful of
512-wide matmuls per denoising step is the cheapest thing that still sees the whole chunk
(PLATFORM.md: a 3.4 M conv model with 10 steps took 49 ms; an MLP with 2 steps ran a G1 at
50 Hz). The condition (observation history + intent) is encoded once per chunk and reused
for every denoising step; only the timestep embedding changes between steps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from humanoid_teleop.contracts import SKILLS

PREDICTION_TYPES = ("sample", "epsilon")


@dataclass(frozen=True)
class DenoiserConfig:
    horizon: int = 16  # H: ticks per chunk
    action_dim: int = 29  # A: per-tick action size
    obs_dim: int = 64  # D_obs: flat observation size (ObservationSpec.dim)
    n_obs_steps: int = 2  # length of the proprioceptive history
    width: int = 256
    depth: int = 3  # residual blocks
    cond_dim: int = 256  # width of the condition vector that drives FiLM
    time_embed_dim: int = 64
    num_skills: int = len(SKILLS)
    latent_dim: int = 0  # 0: no latent input; otherwise projected to cond_dim
    dropout: float = 0.0

    def __post_init__(self):
        for name in ("horizon", "action_dim", "obs_dim", "n_obs_steps", "width", "depth",
                     "cond_dim", "time_embed_dim", "num_skills"):  # fmt: skip
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
        if self.time_embed_dim % 2:
            raise ValueError(f"time_embed_dim: expected an even int, got {self.time_embed_dim}")
        if not isinstance(self.latent_dim, int) or self.latent_dim < 0:
            raise ValueError(f"latent_dim: expected an int >= 0, got {self.latent_dim!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected 0 <= p < 1, got {self.dropout}")

    @property
    def chunk_size(self) -> int:
        return self.horizon * self.action_dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DenoiserConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"DenoiserConfig: unknown keys {unknown}")
        return cls(**data)


def tiny_config(**overrides) -> DenoiserConfig:
    """A few-thousand-parameter preset for tests."""
    base = dict(horizon=4, action_dim=29, obs_dim=64, n_obs_steps=2, width=32, depth=1,
                cond_dim=16, time_embed_dim=8)  # fmt: skip
    base.update(overrides)
    return DenoiserConfig(**base)


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) float steps -> (B, dim) sin/cos features (the transformer's position code)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class _Block(nn.Module):
    """x + W2 act(W1 FiLM(LN(x))), FiLM = (1 + scale) * h + shift from the condition."""

    def __init__(self, width: int, cond_dim: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.film = nn.Linear(cond_dim, 2 * width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = nn.SiLU()
        self.drop = nn.Dropout(dropout)
        nn.init.zeros_(self.film.weight)  # start as an unconditioned residual MLP
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond).chunk(2, dim=-1)
        h = self.norm(x) * (1.0 + scale) + shift
        return x + self.fc2(self.drop(self.act(self.fc1(h))))


class Denoiser(nn.Module):
    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.config = c = config
        self.obs_encoder = nn.Sequential(
            nn.Linear(c.n_obs_steps * c.obs_dim, c.cond_dim), nn.SiLU(),
            nn.Linear(c.cond_dim, c.cond_dim),
        )  # fmt: skip
        self.skill_embedding = nn.Embedding(c.num_skills, c.cond_dim)
        self.command_proj = nn.Linear(3, c.cond_dim)
        self.latent_proj = nn.Linear(c.latent_dim, c.cond_dim) if c.latent_dim else None
        self.time_mlp = nn.Sequential(
            nn.Linear(c.time_embed_dim, c.cond_dim), nn.SiLU(), nn.Linear(c.cond_dim, c.cond_dim)
        )
        self.cond_act = nn.SiLU()
        self.inp = nn.Linear(c.chunk_size, c.width)
        self.blocks = nn.ModuleList(_Block(c.width, c.cond_dim, c.dropout) for _ in range(c.depth))
        self.out_norm = nn.LayerNorm(c.width)
        self.out = nn.Linear(c.width, c.chunk_size)

    # The condition is split in two so sampling encodes (observation, intent) once per chunk.
    def encode_condition(
        self,
        obs: torch.Tensor,  # (B, n_obs, D_obs)
        skill: torch.Tensor,  # (B,) long
        command: torch.Tensor,  # (B, 3)
        latent: torch.Tensor | None = None,  # (B, latent_dim)
    ) -> torch.Tensor:
        c = self.config
        if obs.shape[1:] != (c.n_obs_steps, c.obs_dim):
            raise ValueError(
                f"obs: expected (B, {c.n_obs_steps}, {c.obs_dim}), got {tuple(obs.shape)}"
            )
        cond = self.obs_encoder(obs.flatten(1))
        cond = cond + self.skill_embedding(skill) + self.command_proj(command)
        if self.latent_proj is not None:
            if latent is None:
                latent = torch.zeros(obs.shape[0], c.latent_dim, dtype=obs.dtype)
            if latent.shape[1:] != (c.latent_dim,):
                raise ValueError(f"latent: expected (B, {c.latent_dim}), got {tuple(latent.shape)}")
            cond = cond + self.latent_proj(latent)
        elif latent is not None:
            raise ValueError("latent given, but this model was built with latent_dim = 0")
        return cond

    def time_embedding(self, timestep: torch.Tensor) -> torch.Tensor:
        return self.time_mlp(sinusoidal_embedding(timestep, self.config.time_embed_dim))

    def denoise(
        self, noisy: torch.Tensor, cond: torch.Tensor, time_emb: torch.Tensor
    ) -> torch.Tensor:
        """One network evaluation with a precomputed condition and time embedding."""
        c = self.config
        ctx = self.cond_act(cond + time_emb)
        x = self.inp(noisy.reshape(noisy.shape[0], c.chunk_size))
        for block in self.blocks:
            x = block(x, ctx)
        return self.out(self.out_norm(x)).reshape(-1, c.horizon, c.action_dim)

    def forward(
        self,
        noisy: torch.Tensor,
        timestep: torch.Tensor,
        obs: torch.Tensor,
        skill: torch.Tensor,
        command: torch.Tensor,
        latent: torch.Tensor | None = None,
    ) -> torch.Tensor:
        c = self.config
        if noisy.shape[1:] != (c.horizon, c.action_dim):
            raise ValueError(
                f"noisy: expected (B, {c.horizon}, {c.action_dim}), got {tuple(noisy.shape)}"
            )
        cond = self.encode_condition(obs, skill, command, latent)
        return self.denoise(noisy, cond, self.time_embedding(timestep))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
