"""Denoiser, sampler and DiffusionPolicy: shapes, config checks, determinism, a golden output."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from humanoid_teleop import g1
from humanoid_teleop.contracts import ActionChunk, Intent, VelocityCommand
from humanoid_teleop.policy.inference import PolicyConfig, policy_config
from humanoid_teleop.policy.model import Denoiser, DenoiserConfig, tiny_config
from humanoid_teleop.policy.sampler import DDIM, SamplerConfig
from tests.policy.helpers import make_state, tiny_policy, walk_intent

# tiny_policy() (torch.manual_seed(0) init, FiLM ~ N(0, 0.1), unit statistics, 2 DDIM steps
# over 20 train steps, sampling seed 0) on the history below and walk_intent(): the chunk's
# first 6 joints relative to the default pose. Generated once; a change means the model,
# sampler or normalization changed behaviour.
GOLDEN_Q_REL = np.array([
    [-0.207701, 0.144532, -1.157699, 0.465315, -0.211852, -0.278502],
    [-0.148593, -0.61821, 0.042814, -0.112039, 0.174422, 0.079224],
    [0.235665, -0.615867, 0.092718, -0.439553, 0.48267, -0.409218],
    [-1.122556, 0.575763, 0.26228, 1.065443, -0.089703, -0.36901],
])  # fmt: skip


def golden_history(policy):
    b = policy.builder
    return np.stack([
        b.flatten(b.build(make_state(0.0, 0.01 * i), walk_intent().command, g1.DEFAULT_POSE_RAD))
        for i in range(2)
    ])  # fmt: skip


def test_denoiser_shapes():
    c = tiny_config(latent_dim=5)
    model = Denoiser(c)
    b = 3
    out = model(torch.randn(b, c.horizon, 29), torch.randint(0, 100, (b,)),
                torch.randn(b, c.n_obs_steps, c.obs_dim), torch.tensor([0, 1, 1]),
                torch.randn(b, 3), torch.randn(b, 5))  # fmt: skip
    assert out.shape == (b, c.horizon, 29)
    # The latent is optional at call time (zeros) and changes the output when given.
    args = (torch.zeros(1, c.horizon, 29), torch.tensor([5]), torch.zeros(1, 2, c.obs_dim),
            torch.tensor([1]), torch.zeros(1, 3))  # fmt: skip
    with torch.no_grad():
        model.latent_proj.weight.normal_()
        model.blocks[0].film.weight.normal_()  # FiLM starts at zero: no conditioning at init
        a = model(*args)
        assert torch.equal(a, model(*args, torch.zeros(1, 5)))
        assert not torch.allclose(a, model(*args, torch.ones(1, 5)))


def test_denoiser_rejects_wrong_shapes():
    c = tiny_config()
    model = Denoiser(c)
    with pytest.raises(ValueError, match="obs"):
        model(torch.zeros(1, c.horizon, 29), torch.tensor([0]), torch.zeros(1, 3, c.obs_dim),
              torch.tensor([0]), torch.zeros(1, 3))  # fmt: skip
    with pytest.raises(ValueError, match="latent_dim = 0"):
        model.encode_condition(torch.zeros(1, 2, c.obs_dim), torch.tensor([0]),
                               torch.zeros(1, 3), torch.zeros(1, 4))  # fmt: skip


@pytest.mark.parametrize(
    "bad", [dict(horizon=0), dict(width=0), dict(time_embed_dim=7), dict(latent_dim=-1)]
)
def test_denoiser_config_validates(bad):
    with pytest.raises(ValueError):
        DenoiserConfig(**bad)


def test_sampler_config_needs_explicit_valid_steps():
    with pytest.raises(ValueError, match="num_inference_steps"):
        SamplerConfig(num_train_timesteps=10, num_inference_steps=11)
    with pytest.raises(ValueError, match="prediction_type"):
        SamplerConfig(prediction_type="v")
    assert DDIM(SamplerConfig(num_train_timesteps=100, num_inference_steps=4)).timesteps == [
        99, 74, 49, 24
    ]
    assert DDIM(SamplerConfig(num_train_timesteps=100, num_inference_steps=1)).timesteps == [99]


@pytest.mark.parametrize("prediction_type", ["sample", "epsilon"])
def test_ddim_recovers_clean_sample_from_exact_prediction(prediction_type):
    """With a perfect network the eta = 0 sampler lands on x0 exactly."""
    ddim = DDIM(SamplerConfig(num_inference_steps=3, prediction_type=prediction_type,
                              clip_sample=0.0))  # fmt: skip
    x0 = torch.randn(1, 4, 29, dtype=torch.float64)
    x = torch.randn(1, 4, 29, dtype=torch.float64)
    ts = ddim.timesteps
    for i, t in enumerate(ts):
        a = ddim.abar[t]
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        out = x0 if prediction_type == "sample" else eps
        x = ddim.step(out, t, ts[i + 1] if i + 1 < len(ts) else None, x)
    assert torch.allclose(x, x0, atol=1e-9)


def test_policy_config_refuses_run_time_unknowns():
    with pytest.raises(ValueError, match="gait_phase"):
        policy_config(observation_terms=("joint_pos_rel_rad", "gait_phase"))
    with pytest.raises(ValueError, match="obs_dim"):
        PolicyConfig(denoiser=DenoiserConfig(obs_dim=10))
    with pytest.raises(ValueError, match="infer_every_ticks"):
        policy_config(horizon=4, infer_every_ticks=5)
    c = policy_config(width=64)
    assert PolicyConfig.from_dict(c.to_dict()) == c


def test_predict_shapes_and_chunk():
    policy = tiny_policy()
    chunk = policy.predict(golden_history(policy), walk_intent(), t0_s=1.5)
    assert isinstance(chunk, ActionChunk)
    assert chunk.q_rad.shape == (4, 29) and chunk.t0_s == 1.5 and chunk.dt_s == g1.CONTROL_DT_S
    assert chunk.joint_names == g1.JOINT_NAMES
    np.testing.assert_array_equal(chunk.kp, g1.STAND_KP)
    # A single observation is padded to the history length; a wrong width is refused.
    one = golden_history(policy)[-1:]
    assert policy.predict(one, walk_intent()).q_rad.shape == (4, 29)
    with pytest.raises(ValueError, match="history"):
        policy.predict(np.zeros((2, 10)), walk_intent())
    # Term dicts are accepted too.
    b = policy.builder
    terms = [b.build(make_state(), VelocityCommand(), g1.DEFAULT_POSE_RAD)]
    assert policy.predict(terms, walk_intent()).horizon == 4


def test_predict_is_deterministic_with_a_fixed_seed():
    policy = tiny_policy()
    h = golden_history(policy)
    first = policy.predict_q(h, walk_intent())
    second = policy.predict_q(h, walk_intent())
    assert not np.allclose(first, second)  # the noise stream moves on
    policy.reset()
    np.testing.assert_array_equal(policy.predict_q(h, walk_intent()), first)
    other = tiny_policy()  # same init, same seed -> same chunk
    np.testing.assert_array_equal(other.predict_q(h, walk_intent()), first)
    other.reset(seed=1)
    assert not np.allclose(other.predict_q(h, walk_intent()), first)


def test_golden_output():
    policy = tiny_policy()
    q = policy.predict_q(golden_history(policy), walk_intent())
    np.testing.assert_allclose((q - g1.DEFAULT_POSE_RAD)[:, :6], GOLDEN_Q_REL, atol=2e-5)


def test_intent_conditions_the_output():
    policy = tiny_policy()
    h = golden_history(policy)
    walk = policy.predict_q(h, walk_intent(0.3))
    policy.reset()
    stand = policy.predict_q(h, Intent("stand", VelocityCommand(), 1.0, "test", 0.0))
    assert not np.allclose(walk, stand)


def test_latent_must_match_the_model():
    policy = tiny_policy(latent_dim=3)
    h = golden_history(policy)
    intent = Intent("walk", VelocityCommand(0.2), 1.0, "vlm", 0.0, latent=np.ones(3))
    assert policy.predict_q(h, intent).shape == (4, 29)
    bad = Intent("walk", VelocityCommand(0.2), 1.0, "vlm", 0.0, latent=np.ones(4))
    with pytest.raises(ValueError, match="latent"):
        policy.predict_q(h, bad)
