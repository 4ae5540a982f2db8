"""Checkpoint folders: round trip, refusal of other robot setups, no shipped default yet."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from humanoid_teleop import g1
from humanoid_teleop.policy import (
    CheckpointError,
    CheckpointMismatchError,
    PolicyNotShippedError,
    load_policy,
)
from humanoid_teleop.policy.checkpoint import (
    load_checkpoint,
    read_validation_report,
    save_checkpoint,
)
from humanoid_teleop.policy.observation import ObservationSpec
from tests.policy.helpers import make_state, tiny_policy, walk_intent


def history(policy):
    b = policy.builder
    return np.stack([b.flatten(b.build(make_state(), walk_intent().command, g1.DEFAULT_POSE_RAD))])


def test_round_trip(tmp_path):
    policy = tiny_policy(latent_dim=4)
    save_checkpoint(tmp_path / "ck", policy, validation_report={"passed": False, "falls": 3})
    names = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert names == ["config.json", "model.safetensors", "normalization.json", "robot.json",
                     "validation.json"]  # fmt: skip
    loaded = load_policy(tmp_path / "ck")
    assert loaded.config == policy.config
    assert loaded.robot == policy.robot
    for k, v in policy.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v)
    policy.reset()
    np.testing.assert_array_equal(
        loaded.predict_q(history(loaded), walk_intent()),
        policy.predict_q(history(policy), walk_intent()),
    )
    assert read_validation_report(tmp_path / "ck") == {"passed": False, "falls": 3}
    robot = json.loads((tmp_path / "ck" / "robot.json").read_text())
    assert robot["joint_names"] == list(g1.JOINT_NAMES)
    assert set(robot) >= {"default_pose_rad", "kp", "kd", "action_scale", "control_dt_s",
                          "observation_spec", "command_ranges"}  # fmt: skip


def test_step_count_can_be_overridden_at_load(tmp_path):
    save_checkpoint(tmp_path, tiny_policy())
    assert load_policy(tmp_path).config.sampler.num_inference_steps == 2
    fast = load_policy(tmp_path, num_inference_steps=1)
    assert fast.config.sampler.num_inference_steps == 1 and fast.ddim.timesteps == [19]
    with pytest.raises(CheckpointError, match="num_inference_steps"):
        load_policy(tmp_path, num_inference_steps=0)


def test_zero_init_noise_gives_one_chunk_per_condition(tmp_path):
    save_checkpoint(tmp_path, tiny_policy())
    cold = load_policy(tmp_path, init_noise_scale=0.0, seed=3)
    h = history(cold)
    first = cold.predict_q(h, walk_intent())
    np.testing.assert_array_equal(cold.predict_q(h, walk_intent()), first)  # stream moved on
    other = load_policy(tmp_path, init_noise_scale=0.0, seed=4)
    np.testing.assert_array_equal(other.predict_q(h, walk_intent()), first)
    warm = load_policy(tmp_path, seed=4)  # the stored scale, 1
    assert warm.config.sampler.init_noise_scale == 1.0
    assert not np.allclose(warm.predict_q(h, walk_intent()), first)
    with pytest.raises(CheckpointError, match="init_noise_scale"):
        load_policy(tmp_path, init_noise_scale=1.5)


def _edit_robot(path, **changes):
    robot = json.loads((path / "robot.json").read_text())
    robot.update(changes)
    (path / "robot.json").write_text(json.dumps(robot))


def test_refuses_other_joint_names(tmp_path):
    save_checkpoint(tmp_path, tiny_policy())
    names = list(g1.JOINT_NAMES)
    names[0], names[1] = names[1], names[0]
    _edit_robot(tmp_path, joint_names=names)
    with pytest.raises(CheckpointMismatchError, match="joint_names") as info:
        load_policy(tmp_path)
    assert info.value.expected == g1.JOINT_NAMES and info.value.got == tuple(names)


def test_refuses_other_control_dt(tmp_path):
    save_checkpoint(tmp_path, tiny_policy())
    _edit_robot(tmp_path, control_dt_s=0.01)
    with pytest.raises(CheckpointMismatchError, match="control_dt_s") as info:
        load_policy(tmp_path)
    assert (info.value.expected, info.value.got) == (g1.CONTROL_DT_S, 0.01)
    # ... unless the robot really runs at that rate.
    assert load_checkpoint(tmp_path, control_dt_s=0.01).control_dt_s == 0.01


def test_refuses_other_observation_spec_and_default_pose(tmp_path):
    policy = tiny_policy()
    save_checkpoint(tmp_path, policy)
    want = ObservationSpec.of(["joint_pos_rel_rad", "joint_vel_radps"])
    with pytest.raises(CheckpointMismatchError, match="observation_spec"):
        load_checkpoint(tmp_path, observation_spec=want)
    assert load_checkpoint(tmp_path, observation_spec=policy.config.observation_spec)
    with pytest.raises(CheckpointMismatchError, match="default_pose_rad"):
        load_checkpoint(tmp_path, default_pose_rad=g1.KNEES_BENT_POSE_RAD)
    _edit_robot(tmp_path, observation_spec={"terms": [{"name": "joint_pos_rel_rad", "size": 12}]})
    with pytest.raises(CheckpointMismatchError, match="observation_spec"):
        load_policy(tmp_path)


def test_incomplete_or_corrupt_folders_fail_loudly(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_policy(tmp_path / "nothing")
    save_checkpoint(tmp_path, tiny_policy())
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_policy(tmp_path)
    (tmp_path / "normalization.json").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_policy(tmp_path)


def test_weights_must_fit_the_config(tmp_path):
    save_checkpoint(tmp_path / "a", tiny_policy(width=32))
    save_checkpoint(tmp_path / "b", tiny_policy(width=48))
    (tmp_path / "a" / "model.safetensors").write_bytes(
        (tmp_path / "b" / "model.safetensors").read_bytes()
    )
    with pytest.raises(CheckpointError, match="do not fit"):
        load_policy(tmp_path / "a")


def test_the_shipped_default_loads_and_carries_its_passing_report():
    """The package ships a policy (the default everywhere) with the seed-0 validation report
    it earned (`validate --attach`), bound to these weights: the hardware gate accepts it."""
    from humanoid_teleop.control.gate import check_hardware_gate
    from humanoid_teleop.policy import default_checkpoint_path

    policy = load_policy()
    assert policy.config.gait_clock and policy.robot.joint_names == g1.JOINT_NAMES
    report = check_hardware_gate(default_checkpoint_path())
    assert report["controller"] == "policy" and report["seed"] == 0
    assert report["episodes"] == 100 and report["fall_rate"] <= 0.03 and report["passed"]


def test_missing_default_is_a_clear_error(tmp_path, monkeypatch):
    import humanoid_teleop.policy as policy_pkg

    monkeypatch.setattr(policy_pkg, "default_checkpoint_path", lambda: tmp_path)
    with pytest.raises(PolicyNotShippedError, match="no trained policy is shipped"):
        load_policy()


def test_no_pickle_in_the_policy_package():
    """Checkpoints are safetensors + JSON: no torch.load / torch.save / pickle anywhere."""
    from pathlib import Path

    import humanoid_teleop.policy as pkg

    for path in Path(pkg.__file__).parent.glob("*.py"):
        text = path.read_text()
        for banned in ("torch.load(", "torch.save(", "import pickle"):
            assert banned not in text, f"{path.name} uses {banned}"
