"""Estimator conventions on rendered clips with known motion, decoding, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from humanoid_teleop.cli import main
from humanoid_teleop.contracts import Frame, Intent, VelocityCommand
from humanoid_teleop.vlm.egocentric import EgocentricEstimator, g1_head_camera_config
from humanoid_teleop.vlm.estimator import (
    IntentEstimator,
    IntentSmoother,
    SmootherConfig,
    VideoDecodeError,
    decode_video,
)
from humanoid_teleop.vlm.third_person import ThirdPersonEstimator, g1_fixed_camera_config

pytestmark = pytest.mark.sim


def _run(estimator, frames) -> list[Intent]:
    return [i for f in frames if (i := estimator.update(f)) is not None]


def _check_stream(intents: list[Intent], source: str) -> None:
    assert intents
    times = [i.frame_timestamp_s for i in intents]
    assert all(b > a for a, b in zip(times, times[1:]))
    for i in intents:
        assert isinstance(i, Intent) and i.source == source


def test_protocol():
    assert isinstance(EgocentricEstimator(), IntentEstimator)
    assert isinstance(ThirdPersonEstimator(), IntentEstimator)


def test_smoother_hysteresis_and_clamp():
    s = IntentSmoother(SmootherConfig(walk_on_s=0.2, walk_off_s=0.3))
    fast = VelocityCommand(5.0, 0.0, -5.0)
    out = [s.update(k * 0.05, fast, 2.0, 0.9, "x") for k in range(20)]
    assert out[0].skill == "stand" and out[-1].skill == "walk"
    assert out[-1].command.vx_mps == 0.4 and out[-1].command.yaw_rate_radps == -0.6
    # One quiet frame does not stop it; a sustained quiet does.
    assert s.update(1.0, VelocityCommand(), 0.0, 0.9, "x").skill == "walk"
    last = [s.update(1.0 + k * 0.05, VelocityCommand(), 0.0, 0.9, "x") for k in range(1, 12)]
    assert last[-1].skill == "stand" and last[-1].command.is_zero


def test_egocentric_yaw_sign(sim_clips):
    for name, sign in (("turn_left", 1.0), ("turn_right", -1.0)):
        intents = _run(EgocentricEstimator(g1_head_camera_config()), sim_clips[name].stream("head"))
        _check_stream(intents, "embedded-egocentric")
        late = [i for i in intents if i.frame_timestamp_s > 1.0]
        assert np.mean([i.skill == "walk" for i in late]) > 0.8
        yaw = np.array([i.command.yaw_rate_radps for i in late if i.skill == "walk"])
        assert np.mean(np.sign(yaw) == sign) > 0.9, name


def test_egocentric_stand_and_walk(sim_clips):
    clip = sim_clips["stand_walk_stand"]
    intents = _run(EgocentricEstimator(g1_head_camera_config()), clip.stream("head"))
    _check_stream(intents, "embedded-egocentric")
    skill = {round(i.frame_timestamp_s, 3): i.skill for i in intents}
    stand = [s for t, s in skill.items() if t < 1.4]
    walking = [s for t, s in skill.items() if 3.0 < t < 4.5]  # the gait starts ~1 s late
    assert stand and all(s == "stand" for s in stand)
    assert np.mean([s == "walk" for s in walking]) > 0.9


def test_third_person_stand_and_walk(sim_clips):
    clip = sim_clips["stand_walk_stand"]
    intents = _run(ThirdPersonEstimator(g1_fixed_camera_config()), clip.stream("fixed"))
    _check_stream(intents, "embedded-third-person")
    assert all(i.skill == "stand" for i in intents if i.frame_timestamp_s < 1.4)
    assert any(i.skill == "walk" for i in intents if 1.5 < i.frame_timestamp_s < 5.0)
    assert all(i.command.vx_mps >= 0 for i in intents)  # always forward in their body frame


def test_decode_errors(tmp_path):
    with pytest.raises(VideoDecodeError, match="no such file"):
        next(decode_video(tmp_path / "missing.mp4"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoDecodeError, match="not a readable video"):
        next(decode_video(bad))
    txt = tmp_path / "notes.txt"
    txt.write_text("hi")
    with pytest.raises(VideoDecodeError, match="unsupported file type"):
        next(decode_video(txt))
    with pytest.raises(VideoDecodeError, match="no .* images"):
        next(decode_video(tmp_path))
    with pytest.raises(ValueError, match="view"):
        next(decode_video(bad, "sideways"))


def test_cli_roundtrip_mp4_and_errors(sim_clips, tmp_path, capsys):
    clip = sim_clips["stand_walk_stand"]
    video = clip.write_mp4("fixed", tmp_path / "clip.mp4")
    frames = list(decode_video(video, "third_person"))
    assert len(frames) == len(clip.t_s) and isinstance(frames[0], Frame)
    assert frames[0].image_rgb.shape == (240, 320, 3)
    out = tmp_path / "intents.json"
    assert main(["intent", str(video), "--view", "third-person", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["view"] == "third_person" and report["fps"] == pytest.approx(15.0)
    assert set(report["intents"][0]) == {
        "t_s", "skill", "vx_mps", "vy_mps", "yaw_rate_radps", "confidence"
    }  # fmt: skip
    assert main(["intent", str(tmp_path / "nope.mp4")]) == 2
    assert "no such file" in capsys.readouterr().err
