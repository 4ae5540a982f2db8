"""Test helpers: tiny policies built from config (fixed init), robot states, intents."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from humanoid_teleop import g1
from humanoid_teleop.contracts import ImuState, Intent, RobotState, VelocityCommand


def tiny_policy(seed: int = 0, **overrides):
    """A tiny DiffusionPolicy with a fixed init (torch.manual_seed(seed)) and unit stats."""
    from humanoid_teleop.policy.inference import DiffusionPolicy, policy_config
    from humanoid_teleop.policy.model import Denoiser
    from humanoid_teleop.policy.normalize import Normalizer
    from humanoid_teleop.policy.sampler import SamplerConfig

    base = dict(horizon=4, n_obs_steps=2, width=32, depth=1, cond_dim=16, time_embed_dim=8,
                sampler=SamplerConfig(num_train_timesteps=20, num_inference_steps=2),
                infer_every_ticks=2)  # fmt: skip
    base.update(overrides)
    config = policy_config(**base)
    torch.manual_seed(seed)
    model = Denoiser(config.denoiser)
    # Nonzero FiLM weights, so the golden output depends on the whole condition path.
    with torch.no_grad():
        for block in model.blocks:
            block.film.weight.normal_(0.0, 0.1)
    norm = Normalizer.identity(config.denoiser.obs_dim, config.denoiser.action_dim)
    return DiffusionPolicy(config, model, norm, seed=0)


def make_state(t: float = 0.0, q_offset: float = 0.0) -> RobotState:
    n = g1.NUM_JOINTS
    return RobotState(
        timestamp_s=t, joint_names=g1.JOINT_NAMES,
        q_rad=np.array(g1.DEFAULT_POSE_RAD) + q_offset, dq_radps=np.full(n, 0.1),
        tau_nm=np.zeros(n),
        imu=ImuState(np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.01, -0.02, 0.03]),
                     np.array([0.0, 0.0, 9.81])),
    )  # fmt: skip


def walk_intent(vx: float = 0.3) -> Intent:
    return Intent("walk", VelocityCommand(vx, 0.0, 0.1), 1.0, "test", 0.0)
