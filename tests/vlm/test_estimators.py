"""Estimator conventions (synthetic scenes and rendered G1 clips with known motion), decoding,
the CLI on every container type and bad inputs."""

from __future__ import annotations

import itertools
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


def _run(estimator, frames) -> list[Intent]:
    return [i for f in frames if (i := estimator.update(f)) is not None]


def _check_stream(intents: list[Intent], source: str) -> None:
    assert intents
    times = [i.frame_timestamp_s for i in intents]
    assert all(b > a for a, b in itertools.pairwise(times))
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


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "the walking expert's torso counter-yaw (3.5 rad per metre of foot lead) swings the head "
    "camera: on these turn renders the sign is right in 30% / 33% of late frames; with the "
    "counter-yaw off, 100% / 100% (docs/figures.md, 'The torso's counter-yaw and the head camera')"))
def test_egocentric_yaw_sign(sim_clips):
    for name, sign in (("turn_left", 1.0), ("turn_right", -1.0)):
        intents = _run(EgocentricEstimator(g1_head_camera_config()), sim_clips[name].stream("head"))
        _check_stream(intents, "embedded-egocentric")
        late = [i for i in intents if i.frame_timestamp_s > 1.0]
        assert np.mean([i.skill == "walk" for i in late]) > 0.8
        yaw = np.array([i.command.yaw_rate_radps for i in late if i.skill == "walk"])
        assert np.mean(np.sign(yaw) == sign) > 0.9, name


@pytest.mark.sim
@pytest.mark.slow
def test_egocentric_stand_and_walk(sim_clips):
    clip = sim_clips["stand_walk_stand"]
    intents = _run(EgocentricEstimator(g1_head_camera_config()), clip.stream("head"))
    _check_stream(intents, "embedded-egocentric")
    skill = {round(i.frame_timestamp_s, 3): i.skill for i in intents}
    stand = [s for t, s in skill.items() if t < 1.4]
    walking = [s for t, s in skill.items() if 3.0 < t < 4.5]  # the gait starts ~1 s late
    assert stand and all(s == "stand" for s in stand)
    assert np.mean([s == "walk" for s in walking]) > 0.9


@pytest.mark.sim
@pytest.mark.slow
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


@pytest.mark.sim
@pytest.mark.slow
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
    # The G1's own optics and the body-orientation CNN: a render of the G1 walking.
    out_g1 = tmp_path / "intents_g1.json"
    assert main(["intent", str(video), "--view", "third-person", "--subject", "g1",
                 "--json", str(out_g1)]) == 0  # fmt: skip
    assert json.loads(out_g1.read_text())["intents"]
    assert main(["intent", str(tmp_path / "nope.mp4")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_subject_picks_the_optics_and_the_orientation_model():
    """Video of a person gets the defaults (the CNN misreads people); video of the G1 gets
    its camera optics and the CNN trained on its renders."""
    from humanoid_teleop.server.live import make_estimator

    person, robot = make_estimator("third_person"), make_estimator("third_person", "g1")
    assert not person.config.use_body_yaw
    assert robot.config.use_body_yaw and robot.config.person_height_m == pytest.approx(1.32)
    assert make_estimator("egocentric", "g1").config != make_estimator("egocentric").config
    with pytest.raises(ValueError, match="subject"):
        make_estimator("third_person", "dog")


# -- synthetic scenes with known motion (no rendering: fast) ---------------------------------

_W, _H = 320, 240


def _texture(seed: int, shape=(240, 320), cell=4) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(40, 215, (shape[0] // cell, shape[1] // cell, 3), dtype=np.uint8)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def _third_person_clip(xz_m, fps=15.0, hfov_deg=60.0, height_m=1.7, seed=0) -> list[Frame]:
    """A textured upright figure at floor positions (X right, Z away from the camera), drawn
    with a pinhole camera whose horizon is the image centre, in front of a static room."""
    import cv2

    f = (_W / 2) / np.tan(np.radians(hfov_deg) / 2)
    room = _texture(seed)
    skin = _texture(seed + 1, (400, 160), cell=6) // 3  # darker than the room, textured
    frames = []
    for i, (x_m, z_m) in enumerate(xz_m):
        h_px = f * height_m / z_m
        w_px = 0.3 * h_px
        cx = _W / 2 + f * x_m / z_m
        foot_y = _H / 2 + f * 1.0 / z_m  # the camera 1 m above the floor
        x0, y0 = round(cx - w_px / 2), round(foot_y - h_px)
        img = room.copy()
        body = cv2.resize(
            skin, (max(2, int(w_px)), max(2, int(h_px))), interpolation=cv2.INTER_AREA
        )
        # Clip to the image, then paste.
        ys, xs = (
            slice(max(0, y0), min(_H, y0 + body.shape[0])),
            slice(max(0, x0), min(_W, x0 + body.shape[1])),
        )
        img[ys, xs] = body[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
        frames.append(Frame(i / fps, img, "third_person", index=i))
    return frames


def _path(seconds, fps, start, speed_mps, heading_rad, yaw_rate_radps=0.0, stop_after_s=None):
    """Floor positions of a walk from ``start`` (X, Z) at a heading (seen from above, x right,
    y away from the camera, counter-clockwise positive) that turns at ``yaw_rate_radps``."""
    x, z = start
    h = heading_rad
    out = []
    for i in range(int(seconds * fps)):
        out.append((x, z))
        moving = stop_after_s is None or i / fps < stop_after_s
        if moving:
            x += speed_mps / fps * np.cos(h)
            z += speed_mps / fps * np.sin(h)
            h += yaw_rate_radps / fps
    return out


def _tp_estimator():
    from humanoid_teleop.vlm.third_person import ThirdPersonConfig

    # A textured box has no front: the track-only estimator (no body-yaw CNN) is the model.
    config = ThirdPersonConfig(person_height_m=1.7, hfov_deg=60.0)
    return ThirdPersonEstimator(config, body_yaw=None)


@pytest.mark.parametrize(
    ("name", "start", "heading"),
    [("toward", (0.3, 6.0), -np.pi / 2), ("away", (0.3, 3.0), np.pi / 2),
     ("across", (-1.2, 4.5), 0.0)],
)  # fmt: skip
def test_third_person_walks_forward_from_frame_zero(name, start, heading):
    # The figure is in view from the first frame (what MOG2 used to absorb).
    frames = _third_person_clip(_path(4.0, 15.0, start, 0.6, heading))
    intents = _run(_tp_estimator(), frames)
    _check_stream(intents, "embedded-third-person")
    # Walking straight at the camera from 6 m barely moves in the image: ~2 s to pick up.
    late = [i for i in intents if i.frame_timestamp_s > 2.2]
    assert np.mean([i.skill == "walk" for i in late]) > 0.9, name
    vx = np.array([i.command.vx_mps for i in late])
    assert np.all(vx >= 0) and np.median(vx) > 0.3, name  # forward in their own body frame
    assert np.median(np.abs([i.command.yaw_rate_radps for i in late])) < 0.15, name


def test_third_person_track_only_caps_confidence():
    frames = _third_person_clip(_path(3.0, 15.0, (-1.0, 4.5), 0.6, 0.0))
    est = _tp_estimator()
    assert not est.uses_body_yaw
    cap = ThirdPersonEstimator.FALLBACK_MAX_CONFIDENCE
    assert all(i.confidence <= cap for i in _run(est, frames))


def test_third_person_stand_then_stop():
    still = _third_person_clip([(0.0, 4.0)] * 45)
    assert all(i.skill == "stand" for i in _run(_tp_estimator(), still))
    frames = _third_person_clip(_path(6.0, 15.0, (-1.0, 4.5), 0.6, 0.0, stop_after_s=3.0))
    intents = _run(_tp_estimator(), frames)
    assert any(i.skill == "walk" for i in intents if i.frame_timestamp_s < 3.0)
    assert all(i.skill == "stand" for i in intents if i.frame_timestamp_s > 4.5)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_third_person_turn_sign(sign):
    # Walking across, curving away (left turn: counter-clockwise) or toward the camera.
    frames = _third_person_clip(_path(5.0, 15.0, (-1.5, 4.5), 0.7, 0.0, sign * 0.6))
    intents = _run(_tp_estimator(), frames)
    yaw = np.array([i.command.yaw_rate_radps for i in intents if i.frame_timestamp_s > 2.5])
    assert np.mean(np.sign(yaw) == sign) > 0.6, yaw


@pytest.mark.parametrize(("shift_px", "sign"), [(3, 1.0), (-3, -1.0)])
def test_egocentric_yaw_sign_synthetic(shift_px, sign):
    # Turning left, the scene moves right in the image (a pure rotation shifts all pixels).
    tex = _texture(3, (240, 640))
    frames = [
        Frame(i / 15, np.ascontiguousarray(np.roll(tex, i * shift_px, axis=1)[:, :320]),
              "egocentric", index=i)
        for i in range(30)
    ]  # fmt: skip
    intents = _run(EgocentricEstimator(), frames)
    yaw = [i.command.yaw_rate_radps for i in intents if i.frame_timestamp_s > 1.0]
    assert yaw and np.mean(np.sign(yaw) == sign) > 0.9


# -- the CLI on every container type ------------------------------------------------------------


def _write_video(path, frames, codec, fps=15):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = _W, _H
        stream.pix_fmt = {"gif": "rgb8", "mjpeg": "yuvj420p"}.get(codec, "yuv420p")
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f.image_rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [(".mp4", "libx264"), (".webm", "libvpx"), (".avi", "mjpeg"), (".mov", "mpeg4"),
     (".gif", "gif"), ("folder", None)],
)  # fmt: skip
def test_cli_containers(suffix, codec, tmp_path):
    import cv2

    frames = _third_person_clip(_path(2.0, 15.0, (-1.0, 4.5), 0.6, 0.0))
    if codec is None:
        video = tmp_path / "frames"
        video.mkdir()
        for f in frames:
            cv2.imwrite(
                str(video / f"{f.index:04d}.png"), cv2.cvtColor(f.image_rgb, cv2.COLOR_RGB2BGR)
            )
    else:
        video = _write_video(tmp_path / f"clip{suffix}", frames, codec)
    out = tmp_path / "intents.json"
    assert main(["intent", str(video), "--view", "third-person", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["estimator"] == "embedded-third-person"
    assert len(report["intents"]) >= len(frames) - 3
    # GIF stores delays in centiseconds: 1/15 s becomes 0.06 s (16.7 fps).
    assert report["fps"] == pytest.approx(15.0, rel=0.05 if codec != "gif" else 0.15)


def test_cli_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "broken.webm"
    bad.write_bytes(b"\x1aE\xdf\xa3" + b"garbage" * 50)
    assert main(["intent", str(bad)]) == 2
    assert "not a readable video" in capsys.readouterr().err
    txt = tmp_path / "clip.txt"
    txt.write_text("hello")
    assert main(["intent", str(txt)]) == 2
    assert "unsupported file type" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["intent", str(empty)]) == 2
    assert "no" in capsys.readouterr().err


def test_egocentric_ignores_an_implausible_frame():
    # A steady left turn; at frame 20 the near floor slips left and the far floor right by
    # 14 px once (and stays so): the band fit reads that one frame as a fast sidestep traded
    # against a turn (|vy| > 3 m/s). It must not move the evidence window's estimate; the
    # plain mean turned vy from +0.09 to -0.26 m/s, a right sidestep.
    tex = _texture(3, (240, 900))

    def frame(i):
        img = np.roll(tex, 3 * i, axis=1)
        if i >= 20:
            img = np.concatenate([np.roll(img[:180], 14, axis=1), np.roll(img[180:], -14, axis=1)])
        return Frame(i / 15, np.ascontiguousarray(img[:, 200:520]), "egocentric", index=i)

    est = EgocentricEstimator()
    window = {}
    for i in range(30):
        if est.update(frame(i)) is not None:
            window[i] = est.last_motion.copy()
    before = window[19]
    assert before[3] > 0.1  # turning left
    for i in range(20, 30):
        np.testing.assert_allclose(window[i][[0, 3]], before[[0, 3]], atol=0.05)
