"""Normalization statistics computed from the data, stored with a checkpoint as JSON.

Observations and actions are standardized per dimension, ``(x - mean) / std``, with the
std floored (``min_std``) so a dimension the data never moves (held arm joints, a constant
gravity axis) maps to ~0 instead of amplifying noise. Actions are standardized per joint
over every tick of every chunk, so a unit of normalized action has the same meaning at
every step of the horizon and the diffusion noise N(0, 1) is on the data's scale. The
velocity command is divided by a fixed per-axis scale (the half-width of the collection
ranges) rather than by data statistics, so a command the data never sampled still maps to
a sensible value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


class NormalizationError(ValueError):
    """Statistics are missing, malformed, or do not fit the model they are loaded for."""


def _vec(name: str, value, size: int | None = None) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1 or (size is not None and arr.shape[0] != size):
        raise NormalizationError(f"{name}: expected shape ({size},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise NormalizationError(f"{name}: contains NaN or inf")
    return arr


@dataclass(frozen=True)
class Normalizer:
    obs_mean: np.ndarray  # (D_obs,)
    obs_std: np.ndarray  # (D_obs,)
    action_mean: np.ndarray  # (A,)
    action_std: np.ndarray  # (A,)
    command_scale: np.ndarray  # (3,) vx, vy, yaw rate

    def __post_init__(self):
        for name in ("obs_mean", "obs_std", "action_mean", "action_std", "command_scale"):
            object.__setattr__(self, name, _vec(name, getattr(self, name)))
        if self.obs_mean.shape != self.obs_std.shape:
            raise NormalizationError("obs_mean and obs_std differ in size")
        if self.action_mean.shape != self.action_std.shape:
            raise NormalizationError("action_mean and action_std differ in size")
        if self.command_scale.shape != (3,):
            raise NormalizationError(
                f"command_scale: expected (3,), got {self.command_scale.shape}"
            )
        for name in ("obs_std", "action_std", "command_scale"):
            if np.any(getattr(self, name) <= 0):
                raise NormalizationError(f"{name}: every entry must be > 0")
        object.__setattr__(self, "_tensors", {})  # float32 torch copies, made on demand

    @classmethod
    def fit(
        cls,
        obs: np.ndarray,  # (N, D_obs)
        actions: np.ndarray,  # (N, A)
        command_scale,  # (3,)
        *,
        min_obs_std: float = 1e-2,
        min_action_std: float = 1e-2,
    ) -> Normalizer:
        obs = np.asarray(obs, dtype=np.float64)
        actions = np.asarray(actions, dtype=np.float64)
        if obs.ndim != 2 or actions.ndim != 2 or len(obs) < 2 or len(actions) < 2:
            raise NormalizationError(
                f"fit: expected (N >= 2, D) arrays, got {obs.shape} and {actions.shape}"
            )
        return cls(
            obs_mean=obs.mean(0),
            obs_std=np.maximum(obs.std(0), min_obs_std),
            action_mean=actions.mean(0),
            action_std=np.maximum(actions.std(0), min_action_std),
            command_scale=np.maximum(np.asarray(command_scale, dtype=np.float64), 1e-3),
        )

    # -- numpy --------------------------------------------------------------------------
    def normalize_obs(self, x: np.ndarray) -> np.ndarray:
        return (x - self.obs_mean) / self.obs_std

    def normalize_action(self, x: np.ndarray) -> np.ndarray:
        return (x - self.action_mean) / self.action_std

    def unnormalize_action(self, x: np.ndarray) -> np.ndarray:
        return x * self.action_std + self.action_mean

    def normalize_command(self, x: np.ndarray) -> np.ndarray:
        return x / self.command_scale

    # -- torch (float32 copies, cached) ---------------------------------------------------
    def tensor(self, name: str) -> torch.Tensor:
        if name not in self._tensors:
            self._tensors[name] = torch.as_tensor(getattr(self, name), dtype=torch.float32)
        return self._tensors[name]

    # -- storage --------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": "humanoid-teleop.normalization",
            "format_version": 1,
            "method": "standardize: (x - mean) / std; command: x / command_scale",
            **{k: [float(v) for v in getattr(self, k)] for k in (
                "obs_mean", "obs_std", "action_mean", "action_std", "command_scale")},
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping) -> Normalizer:
        if data.get("format") != "humanoid-teleop.normalization" or data.get("format_version") != 1:
            raise NormalizationError(
                f"expected format humanoid-teleop.normalization v1, got "
                f"{data.get('format')!r} v{data.get('format_version')!r}"
            )
        try:
            return cls(**{k: data[k] for k in (
                "obs_mean", "obs_std", "action_mean", "action_std", "command_scale")})  # fmt: skip
        except KeyError as exc:
            raise NormalizationError(f"normalization stats: missing {exc}") from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Normalizer:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise NormalizationError(f"{path}: unreadable: {exc}") from exc
        return cls.from_json(data)

    def check_sizes(self, obs_dim: int, action_dim: int) -> None:
        if self.obs_mean.shape[0] != obs_dim or self.action_mean.shape[0] != action_dim:
            raise NormalizationError(
                f"stats are for obs {self.obs_mean.shape[0]} / action {self.action_mean.shape[0]}"
                f" dims, the model expects {obs_dim} / {action_dim}"
            )

    @staticmethod
    def identity(obs_dim: int, action_dim: int) -> Normalizer:
        """Unit statistics (for tests and untrained models)."""
        return Normalizer(np.zeros(obs_dim), np.ones(obs_dim), np.zeros(action_dim),
                          np.ones(action_dim), np.ones(3))  # fmt: skip
