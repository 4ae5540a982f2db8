"""Demonstration datasets: round trip, schema errors, resume + determinism, collection."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.control.stand import StandController
from humanoid_teleop.policy.observation import ObservationSpec
from humanoid_teleop.sim.collect import CollectConfig, collect, episode_seed
from humanoid_teleop.sim.dataset import (
    FORMAT_VERSION,
    META_FILE,
    DatasetError,
    DatasetHeader,
    DatasetReader,
    DatasetWriter,
    array_schema,
    shard_name,
)

SPEC = ObservationSpec()


def _header(**overrides) -> DatasetHeader:
    kwargs = {
        "observation_spec": SPEC,
        "control_dt_s": g1.CONTROL_DT_S,
        "seed": 7,
        "expert": {"name": "fake", "config": {"gain": 1.5}},
        "collect": {"seconds": 1.0},
    }
    kwargs.update(overrides)
    return DatasetHeader(**kwargs)


def _arrays(length: int, seed: int) -> dict[str, np.ndarray]:
    """Random arrays that fit the schema, already in its dtypes."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (shape, dtype) in array_schema(SPEC).items():
        out[name] = rng.normal(size=tuple(length if d == "T" else d for d in shape)).astype(dtype)
    out["time_s"] = np.arange(length) * g1.CONTROL_DT_S
    return out


def _write(root: Path, lengths=(5, 3)) -> list[dict[str, np.ndarray]]:
    writer = DatasetWriter(root, _header())
    episodes = []
    for i, n in enumerate(lengths):
        arrays = _arrays(n, i)
        writer.write_episode(
            i, arrays, seed=100 + i, fell=i == 1, end_reason="fell: x" if i else ""
        )
        episodes.append(arrays)
    return episodes


def _edit_meta(root: Path, edit) -> None:
    meta = json.loads((root / META_FILE).read_text())
    edit(meta)
    (root / META_FILE).write_text(json.dumps(meta))


def test_round_trip_values_and_meta(tmp_path):
    written = _write(tmp_path)
    reader = DatasetReader(tmp_path, expected_observation_spec=SPEC)
    assert len(reader) == 2 and reader.total_ticks == 8
    assert reader.joint_names == g1.JOINT_NAMES and reader.control_dt_s == g1.CONTROL_DT_S
    assert reader.meta["format_version"] == FORMAT_VERSION
    assert reader.meta["expert"] == {"name": "fake", "config": {"gain": 1.5}}
    for ep, arrays in zip(reader, written):
        assert set(ep.arrays) == set(arrays)
        for name, value in arrays.items():
            assert ep[name].dtype == value.dtype, name
            np.testing.assert_array_equal(ep[name], value, err_msg=name)
        assert ep.observation_matrix(SPEC).shape == (ep.length, SPEC.dim)
    infos = reader.episodes
    assert [(e.index, e.file, e.length, e.seed, e.fell) for e in infos] == [
        (0, shard_name(0), 5, 100, False), (1, shard_name(1), 3, 101, True)
    ]  # fmt: skip
    # Plain numpy reads a shard without this package.
    with np.load(tmp_path / shard_name(0)) as npz:
        np.testing.assert_array_equal(npz["action/q_rad"], written[0]["action/q_rad"])


def test_writer_validates_and_is_append_only(tmp_path):
    writer = DatasetWriter(tmp_path, _header())
    bad = _arrays(4, 0)
    del bad["obs/command"]
    with pytest.raises(DatasetError, match=r"missing arrays \['obs/command'\]"):
        writer.write_episode(0, bad, seed=0, fell=False)
    bad = _arrays(4, 0)
    bad["kp"] = np.zeros(12)
    with pytest.raises(DatasetError, match=r"kp: expected shape \(29,\)"):
        writer.write_episode(0, bad, seed=0, fell=False)
    bad = _arrays(4, 0)
    bad["command"][1, 0] = np.nan
    with pytest.raises(DatasetError, match="NaN"):
        writer.write_episode(0, bad, seed=0, fell=False)
    with pytest.raises(DatasetError, match="append-only"):
        writer.write_episode(3, _arrays(4, 0), seed=0, fell=False)
    assert writer.next_index == 0 and not list(tmp_path.glob("*.npz"))


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (
            lambda r: _edit_meta(r, lambda m: m.update(format_version=99)),
            "expected format_version 1, got 99",
        ),
        (lambda r: _edit_meta(r, lambda m: m.update(format="other")), "expected format"),
        (lambda r: (r / shard_name(1)).unlink(), "missing"),
        (lambda r: (r / META_FILE).unlink(), "no meta.json"),
        (lambda r: (r / META_FILE).write_text("{not json"), "unreadable"),
        (lambda r: _edit_meta(r, lambda m: m["joint_names"].reverse()), "joint names differ"),
        (
            lambda r: _edit_meta(r, lambda m: m["episodes"][1].update(file="x.npz")),
            "entry 1 is invalid",
        ),
        (
            lambda r: _edit_meta(r, lambda m: m["observation_spec"]["terms"].pop()),
            "'arrays' does not match",
        ),
    ],
    ids=[
        "version",
        "format",
        "missing-shard",
        "no-meta",
        "bad-json",
        "joint-names",
        "entry",
        "spec",
    ],
)
def test_reader_schema_errors(tmp_path, damage, match):
    _write(tmp_path)
    damage(tmp_path)
    with pytest.raises(DatasetError, match=match):
        DatasetReader(tmp_path)


def test_reader_expectations_and_corrupt_shards(tmp_path):
    _write(tmp_path)
    with pytest.raises(DatasetError, match="joint names differ"):
        DatasetReader(tmp_path, expected_joint_names=tuple(reversed(g1.JOINT_NAMES)))
    with pytest.raises(DatasetError, match="observation spec mismatch"):
        DatasetReader(tmp_path, expected_observation_spec=ObservationSpec.of(["command"]))
    path = tmp_path / shard_name(0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a truncated shard
    with pytest.raises(DatasetError, match="corrupt shard"):
        DatasetReader(tmp_path).episode(0)
    with pytest.raises(DatasetError, match="corrupt shard"):
        DatasetReader(tmp_path, verify_checksums=False).episode(0)
    # A well-formed zip that lacks an array.
    arrays = _arrays(5, 0)
    with zipfile.ZipFile(path, "w") as zf:
        for name, value in arrays.items():
            if name != "gait_phase":
                with zf.open(name + ".npy", "w") as f:
                    np.lib.format.write_array(f, value)
    with pytest.raises(DatasetError, match=r"missing arrays \['gait_phase'\]"):
        DatasetReader(tmp_path, verify_checksums=False).episode(0)


def test_writer_refuses_incompatible_resume_and_foreign_dirs(tmp_path):
    _write(tmp_path / "ds")
    with pytest.raises(DatasetError, match=r"seed: stored 7, given 8"):
        DatasetWriter(tmp_path / "ds", _header(seed=8))
    with pytest.raises(DatasetError, match=r"expert.config.gain: stored 1.5, given 2"):
        DatasetWriter(tmp_path / "ds", _header(expert={"name": "fake", "config": {"gain": 2}}))
    with pytest.raises(DatasetError, match="joint_names"):
        DatasetWriter(tmp_path / "ds", _header(joint_names=tuple(reversed(g1.JOINT_NAMES))))
    assert DatasetWriter(tmp_path / "ds", _header()).next_index == 2
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hi")
    with pytest.raises(DatasetError, match="not empty"):
        DatasetWriter(tmp_path / "other", _header())


# -- collection (MuJoCo episodes with the stand controller: fast) ---------------------------

_CFG = {"seconds": 1.0, "seed": 5, "action_noise_std_rad": 0.03, "push_probability": 0.0}


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


@pytest.mark.sim
def test_collect_resume_is_byte_identical(tmp_path):
    full = collect(CollectConfig(episodes=2, **_CFG), tmp_path / "a", progress=False,
                   make_controller=StandController)  # fmt: skip
    assert (full.written, full.skipped, full.falls) == (2, 0, 0)
    # "Interrupted" after one episode, with a stale temporary file left behind.
    first = collect(CollectConfig(episodes=1, **_CFG), tmp_path / "b", progress=False,
                    make_controller=StandController)  # fmt: skip
    assert first.written == 1
    (tmp_path / "b" / (shard_name(1) + ".tmp")).write_bytes(b"partial")
    rest = collect(CollectConfig(episodes=2, **_CFG), tmp_path / "b", progress=False,
                   make_controller=StandController)  # fmt: skip
    assert (rest.written, rest.skipped, rest.episodes) == (1, 1, 2)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    b.pop(shard_name(1) + ".tmp", None)  # replaced by the finished shard's rename
    assert a == b
    # Nothing left to do: a no-op.
    again = collect(CollectConfig(episodes=2, **_CFG), tmp_path / "b", progress=False,
                    make_controller=StandController)  # fmt: skip
    assert again.written == 0 and _files(tmp_path / "a") == _files(tmp_path / "b")
    # Other settings cannot resume into the same directory.
    other = {**_CFG, "action_noise_std_rad": 0.01}
    with pytest.raises(DatasetError, match="action_noise_std_rad: stored 0.03, given 0.01"):
        collect(CollectConfig(episodes=3, **other), tmp_path / "b", progress=False,
                make_controller=StandController)  # fmt: skip


@pytest.mark.sim
def test_collected_episode_contents(tmp_path):
    collect(CollectConfig(episodes=1, **_CFG), tmp_path, progress=False,
            make_controller=StandController)  # fmt: skip
    reader = DatasetReader(tmp_path, expected_observation_spec=SPEC)
    ep = reader.episode(0)
    assert ep.info.seed == episode_seed(5, 0) and not ep.info.fell
    assert ep.length == 50
    np.testing.assert_allclose(ep["time_s"], np.arange(50) * g1.CONTROL_DT_S, atol=1e-9)
    default = g1.DEFAULT_POSE_RAD
    obs = ep.observations
    # The label is the clean target; the executed one carries the noise.
    noise = ep["executed_q_rad"] - ep["action/q_rad"]
    assert 0.02 < noise.std() < 0.04
    # Last action = the previous tick's executed target (the ramp's default pose first).
    np.testing.assert_allclose(obs["last_action_rel_rad"][0], 0.0, atol=1e-6)
    np.testing.assert_allclose(
        obs["last_action_rel_rad"][1:], ep["executed_q_rad"][:-1] - default, atol=1e-6
    )
    np.testing.assert_array_equal(obs["command"], ep["command"])
    np.testing.assert_allclose(obs["projected_gravity_b"][:, 2], -1.0, atol=0.05)
    np.testing.assert_array_equal(ep["kp"], g1.STAND_KP.astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(ep["base_quat_wxyz"], axis=1), 1.0, atol=1e-6)
    assert reader.meta["expert"]["name"] == "stand"
    assert reader.meta["collect"]["command_ranges"]["vx_mps"] == [-0.2, 0.4]


@pytest.mark.sim
def test_collect_with_the_walking_expert(tmp_path):
    from humanoid_teleop.sim.expert import WalkingExpert

    collect(CollectConfig(episodes=1, seconds=2.0, seed=1, push_probability=0.0), tmp_path,
            progress=False, make_controller=WalkingExpert)  # fmt: skip
    ep = DatasetReader(tmp_path).episode(0)
    assert ep.length == 100 and not ep.info.fell
    assert np.all((ep["gait_phase"] >= 0) & (ep["gait_phase"] < 1))
    assert np.any(ep["action/tau_ff_nm"] != 0) and np.any(ep["action/dq_radps"] != 0)
    assert DatasetReader(tmp_path).meta["expert"]["config"]["control_dt_s"] == g1.CONTROL_DT_S


def test_a_round_is_labelled_like_the_data_it_joins(tmp_path):
    """``expert_like`` rebuilds the labelling expert from a dataset's header, so a DAgger
    round gets the labels of the data it will be trained with (not today's defaults)."""
    from humanoid_teleop.sim.collect import expert_like
    from humanoid_teleop.sim.expert import ExpertConfig, WalkingExpert

    older = ExpertConfig(pelvis_height_m=0.74, torque_budget=1.0)
    cfg = CollectConfig(episodes=1, seconds=0.2, seed=3, push_probability=0.0)
    collect(cfg, tmp_path / "data", progress=False, make_controller=lambda: WalkingExpert(older))
    make = expert_like(tmp_path / "data")
    assert make().config == older != ExpertConfig()
    collect(cfg, tmp_path / "round", progress=False, make_controller=make)
    recorded = [DatasetReader(tmp_path / d).meta["expert"]["config"] for d in ("data", "round")]
    assert recorded[0] == recorded[1] and recorded[0]["pelvis_height_m"] == 0.74

    # Settings added later with a known earlier behaviour: a header without the hurried
    # swing times was labelled by an expert whose every swing took the nominal time.
    _edit_meta(tmp_path / "data", lambda m: [m["expert"]["config"].pop(k) for k in
                                             ("capture_single_support_s", "recovery_single_support_s")])  # fmt: skip
    legacy = expert_like(tmp_path / "data")().config
    assert legacy.capture_single_support_s == legacy.recovery_single_support_s == 0.35
    # A header from before some settings existed cannot say how that expert behaved.
    _edit_meta(tmp_path / "data", lambda m: m["expert"]["config"].pop("torque_budget"))
    with pytest.raises(DatasetError, match=r"missing settings \['torque_budget'\]"):
        expert_like(tmp_path / "data")
    _edit_meta(tmp_path / "data", lambda m: m["expert"].update(name="stand"))
    with pytest.raises(DatasetError, match="not labelled by the walking expert"):
        expert_like(tmp_path / "data")


def test_schedule_segments_are_configurable_and_checked():
    from humanoid_teleop.contracts import WALK_COMMAND_RANGES
    from humanoid_teleop.sim.validate import ScheduleConfig, command_schedule

    def count(cfg):
        return len(command_schedule(np.random.default_rng(0), 60.0, WALK_COMMAND_RANGES, cfg))

    assert count(ScheduleConfig(segment_s=(1.5, 3.0))) > 1.5 * count(ScheduleConfig())
    for bad in ((0.0, 1.0), (3.0, 2.0), (1.0, float("inf"))):
        with pytest.raises(ValueError, match="segment_s"):
            ScheduleConfig(segment_s=bad)
    with pytest.raises(ValueError, match="stand_probability"):
        ScheduleConfig(stand_probability=1.5)
