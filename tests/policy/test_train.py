"""Training: windows from a collected dataset, a smoke run that lowers the loss, resuming."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from humanoid_teleop import g1
from humanoid_teleop.policy import load_policy
from humanoid_teleop.policy.inference import policy_config
from humanoid_teleop.policy.sampler import SamplerConfig
from humanoid_teleop.policy.train import (
    MixedExpertWarning,
    TrainConfig,
    TrainError,
    after_command_change,
    labels_to_actions,
    load_train_data,
    train,
)

pytestmark = pytest.mark.sim  # the dataset fixture runs MuJoCo episodes


def tiny_train_config(**overrides) -> TrainConfig:
    sampler = SamplerConfig(num_train_timesteps=50, num_inference_steps=2)
    policy = policy_config(horizon=4, n_obs_steps=2, width=64, depth=2, cond_dim=32,
                           time_embed_dim=16, infer_every_ticks=2, sampler=sampler)  # fmt: skip
    base = dict(policy=policy, steps=300, batch_size=32, lr=1e-3, warmup_steps=20,
                checkpoint_every=100, log_every=25, seed=0, threads=1)  # fmt: skip
    base.update(overrides)
    return TrainConfig(**base)


def test_windows_follow_the_episodes(stand_dataset):
    from humanoid_teleop.sim.dataset import DatasetReader

    config = tiny_train_config()
    data = load_train_data(stand_dataset, config)
    reader = DatasetReader(stand_dataset)
    lengths = [e.length for e in reader.episodes]
    assert data.windows == sum(lengths) == data.obs.shape[0]
    # Window at tick 0 of episode 0: the first observation repeated, actions 0..H-1.
    assert data.obs_index[0].tolist() == [0, 0]
    assert data.action_index[0].tolist() == [0, 1, 2, 3]
    # The last window of episode 0 repeats its last action; episode 1 starts fresh.
    last = lengths[0] - 1
    assert data.action_index[last].tolist() == [last] * 4
    assert data.obs_index[lengths[0]].tolist() == [lengths[0]] * 2
    # Actions are the (normalized) labels relative to the default pose, q_eff = q + tau/kp.
    ep = reader.episode(0)
    raw = labels_to_actions(ep["action/q_rad"], ep["action/dq_radps"], ep["action/tau_ff_nm"],
                            ep["kp"], ep["kd"], g1.DEFAULT_POSE_RAD, "q_eff")  # fmt: skip
    norm = data.normalizer.normalize_action(raw[:5])
    np.testing.assert_allclose(data.actions[:5].numpy(), norm, atol=1e-5)
    assert data.robot.joint_names == g1.JOINT_NAMES
    np.testing.assert_allclose(data.robot.kp, ep["kp"])


def test_ticks_after_a_command_change_are_marked():
    commands = np.zeros((10, 3))
    commands[3:] = (0.2, 0.0, 0.0)  # walk from tick 3
    commands[8:] = 0.0  # stop at tick 8
    marked = after_command_change(commands, window_ticks=2)
    assert np.flatnonzero(marked).tolist() == [3, 4, 8, 9]
    assert not after_command_change(np.ones((5, 3)), 10).any()  # no change: the first command


def test_windows_after_command_changes_are_drawn_more_often(stand_dataset):
    from humanoid_teleop.sim.dataset import DatasetReader

    uniform = load_train_data(stand_dataset, tiny_train_config())
    assert uniform.weight is None
    weighted = load_train_data(stand_dataset, tiny_train_config(transition_weight=4.0))
    window = round(2.5 / g1.CONTROL_DT_S)  # transition_window_s's default
    expected = np.concatenate([np.where(after_command_change(ep["command"], window), 4.0, 1.0)
                               for ep in DatasetReader(stand_dataset)])  # fmt: skip
    np.testing.assert_array_equal(weighted.weight.numpy(), expected)
    # Drawing follows the weights: a quarter of the windows weighted 4 are 4/7 of a batch.
    after = torch.arange(uniform.windows) % 4 == 0
    data = dataclasses.replace(uniform, weight=torch.where(after, 4.0, 1.0).double())
    share = float(after[data.draw(20_000, torch.Generator().manual_seed(0))].double().mean())
    assert share == pytest.approx(4.0 / 7.0, abs=0.02)
    with pytest.raises(ValueError, match="transition_weight"):
        tiny_train_config(transition_weight=0.5)


def test_smoke_training_reduces_the_loss_and_writes_a_checkpoint(stand_dataset, tmp_path):
    out = tmp_path / "ck"
    summary = train(tiny_train_config(), stand_dataset, out, progress=False)
    assert summary.steps_done == 300 and summary.stopped_by == "steps"
    assert summary.final_loss < 0.5 * summary.first_loss, summary
    policy = load_policy(out)  # a complete, loadable checkpoint with the robot metadata
    assert policy.horizon == 4
    info = json.loads((out / "config.json").read_text())["training"]
    assert info["steps"] == 300 and info["dataset_fingerprint"]
    log = [json.loads(line) for line in (out / "training" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(25, 301, 25))


def test_resume_continues_the_same_run(stand_dataset, tmp_path):
    """Interrupted at step 20 and resumed, a run ends with the same bytes as an unbroken one
    (weights, EMA, AdamW moments and the batch/noise generator are all restored)."""
    config = tiny_train_config(steps=40, checkpoint_every=20, log_every=10)
    train(config, stand_dataset, tmp_path / "full", progress=False)
    first = train(config, stand_dataset, tmp_path / "split", progress=False, stop_at_step=20)
    assert first.steps_done == 20 and first.stopped_by == "stop_at_step"
    resumed = train(config, stand_dataset, tmp_path / "split", progress=False)
    assert resumed.resumed_from == 20 and resumed.steps_done == 40
    for name in ("model.safetensors", "training/state.safetensors"):
        assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "split" / name).read_bytes()


def test_resume_refuses_another_config_or_a_foreign_folder(stand_dataset, tmp_path):
    train(tiny_train_config(steps=10, log_every=5), stand_dataset, tmp_path / "ck", progress=False)
    with pytest.raises(TrainError, match="another configuration"):
        train(tiny_train_config(steps=20, lr=5e-4), stand_dataset, tmp_path / "ck", progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(TrainError, match="not empty"):
        train(tiny_train_config(steps=10), stand_dataset, tmp_path / "other", progress=False)


def test_training_is_seeded(stand_dataset, tmp_path):
    config = tiny_train_config(steps=15, log_every=5)
    train(config, stand_dataset, tmp_path / "a", progress=False)
    train(config, stand_dataset, tmp_path / "b", progress=False)
    a = (tmp_path / "a" / "model.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_several_datasets_train_together(stand_dataset):
    one = load_train_data(stand_dataset, tiny_train_config())
    two = load_train_data([stand_dataset, stand_dataset], tiny_train_config())
    assert two.windows == 2 * one.windows and two.episodes_used == 2 * one.episodes_used
    assert two.fingerprint != one.fingerprint
    # Windows never straddle the two datasets: the second copy starts fresh.
    n = one.windows
    assert two.obs_index[n].tolist() == [n, n]


def test_datasets_from_differently_configured_experts_are_flagged(stand_dataset, tmp_path):
    import shutil

    def copy_with(name, **expert_config):
        out = tmp_path / name
        shutil.copytree(stand_dataset, out)
        meta = json.loads((out / "meta.json").read_text())
        meta["expert"]["config"] = {"gait": {"stance_width_m": 0.237}, **expert_config}
        (out / "meta.json").write_text(json.dumps(meta))
        return out

    low, high = copy_with("low", pelvis_height_m=0.70), copy_with("high", pelvis_height_m=0.74)
    older = copy_with("older")  # written before the setting existed: not compared
    with pytest.warns(MixedExpertWarning, match=r"pelvis_height_m: 0.7 \(low\), 0.74 \(high\)"):
        load_train_data([low, high], tiny_train_config())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_train_data([low, older, low], tiny_train_config())


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_dagger_collect_executes_the_driver_and_keeps_expert_labels(stand_dataset, tmp_path,
                                                                   weight):  # fmt: skip
    """A policy drives (collect --driver), the expert's answer is the label."""
    from humanoid_teleop.control.stand import StandController
    from humanoid_teleop.sim.collect import CollectConfig, collect
    from humanoid_teleop.sim.dataset import DatasetReader

    ckpt = tmp_path / "ck"
    train(tiny_train_config(steps=20, log_every=10), stand_dataset, ckpt, progress=False)
    out = tmp_path / "dagger"
    config = CollectConfig(episodes=1, seconds=0.5, seed=5, push_probability=0.0,
                           action_noise_std_rad=0.0, driver=f"policy:{ckpt}",
                           driver_weight=weight)  # fmt: skip
    collect(config, out, progress=False, make_controller=StandController)
    ep = DatasetReader(out).episode(0)
    assert DatasetReader(out).meta["collect"]["driver"] == f"policy:{ckpt}"
    gap = np.abs(ep["executed_q_rad"] - ep["action/q_rad"]).max()
    if weight == 0.0:  # the expert alone drives: executed = label
        assert gap < 1e-9
    else:  # a 20-step policy is far from the stand controller's targets
        assert gap > 1e-3


def test_dagger_driver_weight_is_checked():
    from humanoid_teleop.sim.collect import CollectConfig

    with pytest.raises(ValueError, match="driver_weight"):
        CollectConfig(driver_weight=1.5)


def test_q_pd_labels_give_the_expert_torque_for_any_measured_state():
    """kp (q_pd - q_m) - kd dq_m equals the expert's tick-averaged torque
    tau_ff + kp (q + dq dt/2 - q_m) + kd (dq - dq_m): the identity the action rests on."""
    rng = np.random.default_rng(3)
    n = g1.NUM_JOINTS
    q, dq, tau = rng.normal(0, 0.3, n), rng.normal(0, 2.0, n), rng.normal(0, 20.0, n)
    kp, kd = rng.uniform(10, 300, n), rng.uniform(0.5, 10, n)
    q_pd = labels_to_actions(q[None], dq[None], tau[None], kp, kd, g1.DEFAULT_POSE_RAD, "q_pd",
                             0.02)[0] + g1.DEFAULT_POSE_RAD  # fmt: skip
    for _ in range(5):
        q_m, dq_m = rng.normal(0, 0.3, n), rng.normal(0, 2.0, n)
        expert = tau + kp * (q + dq * 0.01 - q_m) + kd * (dq - dq_m)
        np.testing.assert_allclose(kp * (q_pd - q_m) - kd * dq_m, expert, rtol=1e-9, atol=1e-9)
