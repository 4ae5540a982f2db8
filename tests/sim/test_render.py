"""Offscreen rendering, MP4 writing and the video frame clock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import mujoco
import numpy as np
import pytest

from humanoid_teleop.sim import render
from humanoid_teleop.sim.model import build_model
from humanoid_teleop.sim.render import (
    CAMERAS,
    FrameClock,
    Mp4Writer,
    RenderConfig,
    RenderError,
    SimRenderer,
)

W, H = 160, 120  # small frames keep the mesh variant affordable on a software rasterizer


def _home(model: mujoco.MjModel) -> mujoco.MjData:
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    mujoco.mj_forward(model, data)
    return data


@pytest.fixture(scope="module")
def capsule() -> mujoco.MjModel:
    return build_model("capsule")


@pytest.fixture(scope="module")
def mesh() -> mujoco.MjModel:
    return build_model("mesh")  # about 2 s to compile


def _check_frame(renderer: SimRenderer, data: mujoco.MjData, camera: str) -> None:
    frame = renderer.render(data)
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
    assert frame.std() > 10.0, "uniform image: nothing drawn"
    if camera != "head":  # the egocentric view looks ahead at the floor, not at the robot
        assert renderer.robot_mask(data).mean() > 0.005, "robot not visible"


@pytest.mark.parametrize("camera", CAMERAS)
def test_capsule_frame_per_camera(capsule, camera):
    with SimRenderer(capsule, RenderConfig(width=W, height=H, camera=camera)) as renderer:
        _check_frame(renderer, _home(capsule), camera)


@pytest.mark.slow
@pytest.mark.parametrize("camera", CAMERAS)
def test_mesh_frame_per_camera(mesh, camera):
    with SimRenderer(mesh, RenderConfig(width=W, height=H, camera=camera)) as renderer:
        _check_frame(renderer, _home(mesh), camera)


def _robot_centroid_px(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return np.array([cols.mean(), rows.mean()])


def test_follow_camera_tracks_the_robot_smoothly(capsule):
    data = _home(capsule)
    cfg = RenderConfig(width=W, height=H, camera="follow", follow_smoothing_s=0.5)
    fixed_cfg = RenderConfig(width=W, height=H, camera="fixed")
    with SimRenderer(capsule, cfg) as follow, SimRenderer(capsule, fixed_cfg) as fixed:
        before = follow.render(data)
        centroid0 = _robot_centroid_px(follow.robot_mask(data))
        fixed0 = _robot_centroid_px(fixed.robot_mask(data))
        target0 = follow.follow_target_m

        # The robot moves 1.5 m sideways within one control tick: the camera lags behind...
        data.qpos[1] += 1.5
        data.time += 0.02
        mujoco.mj_forward(capsule, data)
        after = follow.render(data)
        assert np.abs(after.astype(int) - before.astype(int)).mean() > 1.0, "frame did not change"
        step_m = np.linalg.norm(follow.follow_target_m - target0)
        assert 0.0 < step_m < 0.1, f"camera jumped {step_m:.2f} m in one tick: not smoothed"

        # ...and re-centres it once the smoothing has settled; the fixed camera does not follow.
        data.time += 5.0
        mujoco.mj_forward(capsule, data)
        centroid1 = _robot_centroid_px(follow.robot_mask(data))
        fixed1 = _robot_centroid_px(fixed.robot_mask(data))
    assert np.linalg.norm(centroid1 - centroid0) < 0.05 * W
    assert np.linalg.norm(fixed1 - fixed0) > 0.1 * W


def test_render_config_validates():
    with pytest.raises(ValueError, match="camera"):
        RenderConfig(camera="top")
    with pytest.raises(ValueError, match="width"):
        RenderConfig(width=0)
    with pytest.raises(ValueError, match="fps"):
        RenderConfig(fps=0)


def test_render_larger_than_the_default_framebuffer(capsule):
    model = build_model("capsule")
    with SimRenderer(model, RenderConfig(width=800, height=600, camera="fixed")) as renderer:
        assert renderer.render(_home(model)).shape == (600, 800, 3)


def test_mp4_roundtrip(tmp_path, capsule):
    av = pytest.importorskip("av")
    path = tmp_path / "clip.mp4"
    data = _home(capsule)
    clock = FrameClock(fps=25)
    with (
        SimRenderer(capsule, RenderConfig(width=W, height=H, camera="follow", fps=25)) as renderer,
        Mp4Writer(path, W, H, fps=25) as mp4,
    ):
        for tick in range(25):  # 0.5 s of a 50 Hz loop
            data.time = tick * 0.02
            for _ in range(clock.frames_due(data.time)):
                mp4.write(renderer.render(data))
    assert mp4.frames_written == 13  # frames at 0, 0.04, ..., 0.48 s

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert stream.codec_context.name in ("h264", "mpeg4")
        assert (stream.codec_context.width, stream.codec_context.height) == (W, H)
        assert float(stream.average_rate) == pytest.approx(25)
    assert len(frames) == 13 and frames[0].shape == (H, W, 3)
    assert frames[0].std() > 10.0


def test_mp4_writer_validates(tmp_path):
    with pytest.raises(ValueError, match="even"):
        Mp4Writer(tmp_path / "odd.mp4", 161, 120, fps=30)
    with Mp4Writer(tmp_path / "ok.mp4", W, H, fps=30) as mp4:
        with pytest.raises(ValueError, match="frame_rgb"):
            mp4.write(np.zeros((H, W, 3), dtype=np.float32))
        with pytest.raises(ValueError, match="frame_rgb"):
            mp4.write(np.zeros((W, H, 3), dtype=np.uint8))
        mp4.write(np.zeros((H, W, 3), dtype=np.uint8))


@pytest.mark.parametrize(("fps", "expected"), [(30, 30), (25, 25), (50, 50), (100, 99)])
def test_frame_clock_matches_video_duration(fps, expected):
    clock = FrameClock(fps)
    due = [clock.frames_due(tick * 0.02) for tick in range(50)]  # ticks at 0 .. 0.98 s
    assert due[0] == 1
    assert sum(due) == expected  # every frame k with k / fps <= 0.98 s, no more
    assert max(due) == max(1, fps // 50)


def test_ensure_gl_backend_prefers_egl_then_osmesa(monkeypatch):
    monkeypatch.delitem(sys.modules, "mujoco")  # pretend we run before mujoco's import
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    monkeypatch.setattr(render, "gl_backend_available", lambda backend: backend == "osmesa")
    assert render.ensure_gl_backend() == "osmesa"
    assert os.environ["MUJOCO_GL"] == os.environ["PYOPENGL_PLATFORM"] == "osmesa"

    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.delenv("PYOPENGL_PLATFORM")
    monkeypatch.setattr(render, "gl_backend_available", lambda backend: True)
    assert render.ensure_gl_backend() == "egl"
    assert os.environ["MUJOCO_GL"] == os.environ["PYOPENGL_PLATFORM"] == "egl"


def test_ensure_gl_backend_rejects_what_would_break_mujoco(monkeypatch):
    monkeypatch.delitem(sys.modules, "mujoco")
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    monkeypatch.setattr(render, "gl_backend_available", lambda backend: False)
    with pytest.raises(RenderError, match="libosmesa6"):
        render.ensure_gl_backend()

    monkeypatch.setattr(render, "gl_backend_available", lambda backend: True)
    monkeypatch.setenv("PYOPENGL_PLATFORM", "egl")
    with pytest.raises(RenderError, match="PYOPENGL_PLATFORM"):
        render.ensure_gl_backend()


def test_ensure_gl_backend_after_mujoco_import_warns(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    with pytest.warns(RuntimeWarning, match="after mujoco was imported"):
        assert render.ensure_gl_backend() == "glfw"


def test_no_gl_context_raises_render_error():
    # GLFW without a display is what a user gets with MUJOCO_GL unset on a headless box.
    script = textwrap.dedent(
        """
        from humanoid_teleop.sim.model import build_model
        from humanoid_teleop.sim.render import RenderError, SimRenderer
        try:
            SimRenderer(build_model("capsule"))
        except RenderError as exc:
            print("RenderError:", exc)
        """
    )
    drop = ("DISPLAY", "WAYLAND_DISPLAY", "PYOPENGL_PLATFORM")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["MUJOCO_GL"] = "glfw"
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert "RenderError:" in out.stdout, out.stderr
    assert "libegl1" in out.stdout and "MUJOCO_GL=osmesa" in out.stdout
