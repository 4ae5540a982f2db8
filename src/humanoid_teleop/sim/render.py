"""Headless rendering of the twin: offscreen frames (EGL / OSMesa) and H.264 MP4 files.

- ``ensure_gl_backend()`` picks MuJoCo's OpenGL platform. MuJoCo reads ``MUJOCO_GL`` once,
  when ``mujoco`` is first imported, so the CLI calls it first, before anything imports
  mujoco. This module therefore imports ``mujoco`` (and ``av``) lazily, inside functions.
- ``SimRenderer`` draws ``(H, W, 3) uint8`` RGB frames of an ``MjData`` from one of three
  views: ``follow`` (a smoothed tracking camera), ``head`` (the model's egocentric camera)
  or ``fixed`` (a static third-person camera on the start area).
- ``Mp4Writer`` encodes RGB frames into an MP4 (H.264 when the PyAV build has it).
- ``FrameClock`` says when a fixed-rate control loop owes the video a frame.

Typical use in a 50 Hz lockstep loop::

    ensure_gl_backend()                       # before `import mujoco` anywhere
    cfg = RenderConfig(width=640, height=480, camera="follow", fps=30)
    clock = FrameClock(cfg.fps)
    with SimRenderer(robot.model, cfg) as renderer, Mp4Writer(path, 640, 480, cfg.fps) as mp4:
        for _ in range(ticks):
            ...; robot.send(command)
            for _ in range(clock.frames_due(robot.sim_time_s)):
                mp4.write(renderer.render(robot.data))

The model's mesh variant has 393k triangles: on a software rasterizer (llvmpipe) it renders
at a few fps; the capsule variant is an order of magnitude faster (see
benchmarks/twin_speed.py).
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # imported lazily at run time: see ensure_gl_backend
    import mujoco

CameraName = Literal["follow", "head", "fixed"]
CAMERAS: tuple[str, ...] = ("follow", "head", "fixed")
HEADLESS_BACKENDS: tuple[str, ...] = ("egl", "osmesa")

# Shared libraries each headless backend needs (PyOpenGL loads them when mujoco is imported).
# EGL also needs a GL dispatch library: libOpenGL (glvnd) or libGL.
_BACKEND_LIBRARIES: dict[str, tuple[tuple[str, ...], ...]] = {
    "egl": (
        ("libEGL.so.1", "libEGL.so"),
        ("libOpenGL.so.0", "libGL.so.1", "libOpenGL.so", "libGL.so"),
    ),
    "osmesa": (("libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so"),),
}
_INSTALL_HINT = (
    "install a headless OpenGL (Debian/Ubuntu: `apt-get install libegl1` for EGL or "
    "`apt-get install libosmesa6` for OSMesa) and set MUJOCO_GL=egl or MUJOCO_GL=osmesa "
    "before starting (the CLI sets it through ensure_gl_backend())"
)

# The "fixed" view: a static camera in front of and to the right of the start pose (the
# robot spawns at the origin facing +x), framing the first metres of a walk.
FIXED_LOOKAT_M = (0.6, 0.0, 0.6)
FIXED_DISTANCE_M = 4.5
FIXED_AZIMUTH_DEG = 150.0
FIXED_ELEVATION_DEG = -15.0

_FOLLOW_BODY = "pelvis"
_HEAD_CAMERA = "head"  # == sim.model.HEAD_CAMERA; not imported so mujoco stays lazy


class RenderError(RuntimeError):
    """Offscreen rendering is unavailable (no usable OpenGL context)."""


class VideoEncoderError(RuntimeError):
    """MP4 encoding is unavailable (PyAV missing, or no usable video encoder in its build)."""


# -- OpenGL backend -------------------------------------------------------------------------


def _loadable(candidates: tuple[str, ...]) -> bool:
    for name in candidates:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def gl_backend_available(backend: str) -> bool:
    """Whether the shared libraries a headless backend needs can be loaded in this process."""
    if backend not in _BACKEND_LIBRARIES:
        raise ValueError(f"backend: expected one of {HEADLESS_BACKENDS}, got {backend!r}")
    return all(_loadable(group) for group in _BACKEND_LIBRARIES[backend])


def ensure_gl_backend() -> str:
    """Choose MuJoCo's OpenGL platform for headless rendering; return the one in effect.

    Call this before anything imports ``mujoco`` (the CLI calls it first thing): MuJoCo
    reads ``MUJOCO_GL`` once, at its first import, and PyOpenGL reads
    ``PYOPENGL_PLATFORM`` once, at its first import; later changes have no effect.

    - ``MUJOCO_GL`` already set: respected. If it names ``egl`` / ``osmesa`` and that
      library is missing, ``RenderError`` now (``import mujoco`` would otherwise crash
      inside PyOpenGL with an ``AttributeError``, even for physics-only commands).
    - unset: ``egl`` (headless, GPU or mesa llvmpipe, no X server) if libEGL loads, else
      ``osmesa`` if libOSMesa loads, else left unset (MuJoCo's GLFW default, which needs
      a display): physics keeps working and ``SimRenderer`` raises ``RenderError``.
    - ``PYOPENGL_PLATFORM`` is set to match (unless set); a conflicting value raises
      ``RenderError`` (MuJoCo's EGL/OSMesa module refuses to load under it).

    Returns the backend name (``"egl"``, ``"osmesa"``, or ``MUJOCO_GL``'s value / ``"glfw"``).
    """
    requested = os.environ.get("MUJOCO_GL", "").strip().lower()
    if "mujoco" in sys.modules:
        if not requested:
            warnings.warn(
                "ensure_gl_backend() was called after mujoco was imported with MUJOCO_GL "
                "unset; MuJoCo already chose GLFW, which needs a display. Call it first.",
                RuntimeWarning,
                stacklevel=2,
            )
        return requested or "glfw"

    if requested:
        backend = requested
        if backend in HEADLESS_BACKENDS and not gl_backend_available(backend):
            raise RenderError(
                f"MUJOCO_GL={backend} but its libraries cannot be loaded; {_INSTALL_HINT}"
            )
    else:
        backend = next((b for b in HEADLESS_BACKENDS if gl_backend_available(b)), "")
        if not backend:
            return "glfw"
        os.environ["MUJOCO_GL"] = backend

    if backend in HEADLESS_BACKENDS:
        platform = os.environ.setdefault("PYOPENGL_PLATFORM", backend).strip().lower()
        if platform != backend:
            raise RenderError(
                f"MUJOCO_GL={backend} but PYOPENGL_PLATFORM={platform}; unset PYOPENGL_PLATFORM "
                "or make the two agree"
            )
    return backend


# -- frames -----------------------------------------------------------------------------------


def _positive_int(name: str, value: object, max_value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max_value:
        raise ValueError(f"{name}: expected an int in [1, {max_value}], got {value!r}")


def _positive_fps(fps: object) -> None:
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 240:
        raise ValueError(f"fps: expected 0 < fps <= 240, got {fps!r}")


@dataclass(frozen=True)
class RenderConfig:
    """What to draw and at what video rate.

    ``follow_*`` shape the follow camera: it looks at the pelvis from ``follow_distance_m``,
    ``follow_azimuth_deg`` from the robot's heading (180 = from straight ahead, 150 = ahead
    and to the robot's right), ``follow_elevation_deg`` (negative looks down); target and
    heading are low-pass filtered with time constant ``follow_smoothing_s`` of simulation
    time, so the gait's pelvis sway and yaw wobble do not shake the picture.
    """

    width: int = 640
    height: int = 480
    camera: CameraName = "follow"
    fps: float = 30.0
    follow_distance_m: float = 3.0
    follow_azimuth_deg: float = 150.0
    follow_elevation_deg: float = -15.0
    follow_smoothing_s: float = 0.5

    def __post_init__(self):
        _positive_int("width", self.width, 4096)
        _positive_int("height", self.height, 4096)
        if self.camera not in CAMERAS:
            raise ValueError(f"camera: expected one of {CAMERAS}, got {self.camera!r}")
        _positive_fps(self.fps)
        if not 0.3 <= self.follow_distance_m <= 50.0:
            raise ValueError(f"follow_distance_m: expected 0.3..50 m, got {self.follow_distance_m}")
        if not -89.0 <= self.follow_elevation_deg <= 89.0:
            raise ValueError(
                f"follow_elevation_deg: expected -89..89 deg, got {self.follow_elevation_deg}"
            )
        if not math.isfinite(self.follow_azimuth_deg):
            raise ValueError(
                f"follow_azimuth_deg: expected a finite angle, got {self.follow_azimuth_deg}"
            )
        if not 0.0 <= self.follow_smoothing_s <= 10.0:
            raise ValueError(
                "follow_smoothing_s: expected 0..10 s (0 = no smoothing), "
                f"got {self.follow_smoothing_s}"
            )


class SimRenderer:
    """Offscreen RGB frames of a model's state, from one configured camera.

    ``render(data)`` returns a new ``(height, width, 3) uint8`` array. The follow camera
    keeps state (its smoothed target), advanced by ``data.time``: render one episode's
    frames in time order; when time goes backwards (a reset) it snaps to the robot.
    Use from one thread at a time (the OpenGL context is made current on each call).

    If the configured size exceeds the model's offscreen framebuffer, the model's
    ``vis.global_.offwidth/offheight`` are raised (visual-only fields, physics unchanged).
    Raises ``RenderError`` when no OpenGL context can be created, ``ValueError`` when the
    model lacks what the camera needs (a ``head`` camera, a ``pelvis`` body).
    """

    def __init__(self, model: mujoco.MjModel, config: RenderConfig | None = None):
        import mujoco

        self.config = config or RenderConfig()
        self.model = model
        c = self.config
        self._camera: mujoco.MjvCamera | str
        if c.camera == "head":
            if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, _HEAD_CAMERA) < 0:
                raise ValueError(f"camera 'head': the model has no camera named {_HEAD_CAMERA!r}")
            self._camera = _HEAD_CAMERA
        else:
            cam = mujoco.MjvCamera()
            cam.type = mujoco.mjtCamera.mjCAMERA_FREE
            if c.camera == "fixed":
                cam.lookat[:] = FIXED_LOOKAT_M
                cam.distance = FIXED_DISTANCE_M
                cam.azimuth = FIXED_AZIMUTH_DEG
                cam.elevation = FIXED_ELEVATION_DEG
            else:
                self._follow_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, _FOLLOW_BODY)
                if self._follow_body < 0:
                    raise ValueError(
                        f"camera 'follow': the model has no body named {_FOLLOW_BODY!r}"
                    )
                cam.distance = c.follow_distance_m
                cam.elevation = c.follow_elevation_deg
            self._camera = cam
        self._target_m: np.ndarray | None = None  # follow: smoothed look-at point (3,) world
        self._heading_w: np.ndarray | None = None  # follow: smoothed unit heading (2,) world xy
        self._last_time_s = -math.inf

        vis = model.vis.global_
        vis.offwidth = max(int(vis.offwidth), c.width)
        vis.offheight = max(int(vis.offheight), c.height)
        try:
            self._renderer = mujoco.Renderer(model, height=c.height, width=c.width)
        except (mujoco.FatalError, RuntimeError, ImportError, AttributeError, OSError) as exc:
            # FatalError: no current GL context (GLFW without a display, missing libraries);
            # AttributeError: MuJoCo loaded no GL context class (MUJOCO_GL=disable, bad PyOpenGL).
            backend = os.environ.get("MUJOCO_GL", "<unset: GLFW, needs a display>")
            raise RenderError(
                f"cannot create an offscreen OpenGL context (MUJOCO_GL={backend}): "
                f"{type(exc).__name__}: {exc}. To render headless, {_INSTALL_HINT}."
            ) from exc

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return (self.config.height, self.config.width, 3)

    @property
    def follow_target_m(self) -> np.ndarray | None:
        """The follow camera's current (smoothed) look-at point, world frame; None before use."""
        return None if self._target_m is None else self._target_m.copy()

    def render(self, data: mujoco.MjData) -> np.ndarray:
        """One RGB frame of ``data`` (after ``mj_forward``/``mj_step``): (H, W, 3) uint8."""
        self._update_scene(data)
        return self._renderer.render()

    def robot_mask(self, data: mujoco.MjData) -> np.ndarray:
        """(H, W) bool: pixels showing any body but the world (floor), same camera as render."""
        import mujoco

        self._update_scene(data)
        self._renderer.enable_segmentation_rendering()
        try:
            seg = self._renderer.render()  # (H, W, 2) int32: object id, object type
        finally:
            self._renderer.disable_segmentation_rendering()
        ids, types = seg[..., 0], seg[..., 1]
        is_geom = (types == int(mujoco.mjtObj.mjOBJ_GEOM)) & (ids >= 0)
        body = np.where(is_geom, self.model.geom_bodyid[np.clip(ids, 0, None)], 0)
        return body > 0

    def close(self) -> None:
        renderer = getattr(self, "_renderer", None)
        if renderer is not None:
            renderer.close()
            self._renderer = None

    def __enter__(self) -> SimRenderer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------
    def _update_scene(self, data: mujoco.MjData) -> None:
        if self._renderer is None:
            raise RenderError("SimRenderer is closed")
        if data.qpos.shape[0] != self.model.nq:
            raise ValueError(
                f"data: expected nq {self.model.nq} (this renderer's model), "
                f"got {data.qpos.shape[0]}"
            )
        if self.config.camera == "follow":
            self._track(data)
        self._renderer.update_scene(data, camera=self._camera)

    def _track(self, data: mujoco.MjData) -> None:
        """Advance the follow camera's smoothed target and heading to ``data.time``."""
        c, cam = self.config, self._camera
        pos = np.array(data.xpos[self._follow_body])
        rot = data.xmat[self._follow_body].reshape(3, 3)
        # Follow the heading only while the pelvis is within 60 degrees of upright: a falling
        # or lying robot's x axis swings around, and the camera should not orbit with it.
        heading = rot[:2, 0] / np.linalg.norm(rot[:2, 0]) if rot[2, 2] > 0.5 else None
        t = float(data.time)
        dt = t - self._last_time_s
        if self._target_m is None or dt < 0 or c.follow_smoothing_s == 0:  # first frame or reset
            self._target_m = pos
            if heading is not None or self._heading_w is None:
                self._heading_w = heading if heading is not None else np.array([1.0, 0.0])
        elif dt > 0:
            # Exponential smoothing in simulation time: the same picture at any video fps.
            alpha = 1.0 - math.exp(-dt / c.follow_smoothing_s)
            self._target_m = self._target_m + alpha * (pos - self._target_m)
            if heading is not None:
                h = self._heading_w + alpha * (heading - self._heading_w)
                n = float(np.linalg.norm(h))
                # Smoothing through a 180-degree turn can cancel out: take the new heading then.
                self._heading_w = h / n if n > 1e-6 else heading
        self._last_time_s = t
        cam.lookat[:] = self._target_m
        yaw_deg = math.degrees(math.atan2(self._heading_w[1], self._heading_w[0]))
        cam.azimuth = yaw_deg + c.follow_azimuth_deg


# -- video ------------------------------------------------------------------------------------

# Tried in order when no codec is given: H.264 (libx264, then Cisco's libopenh264), then
# MPEG-4 part 2, which every FFmpeg build has. Not the bare "h264" name: FFmpeg resolves it
# to any H.264 encoder, including hardware ones (h264_nvenc) that fail to open without a GPU.
ENCODER_PREFERENCE: tuple[str, ...] = ("libx264", "libopenh264", "mpeg4")


def _import_av():
    try:
        import av
    except ImportError as exc:
        raise VideoEncoderError(
            "writing MP4 needs PyAV: `pip install av` (the project's video extra)"
        ) from exc
    return av


def available_encoder(preferred: tuple[str, ...] = ENCODER_PREFERENCE) -> str:
    """The first encoder in ``preferred`` this PyAV build has; ``VideoEncoderError`` if none."""
    av = _import_av()
    for name in preferred:
        try:
            av.codec.Codec(name, "w")
        except ValueError:  # av.codec.codec.UnknownCodecError
            continue
        return name
    raise VideoEncoderError(
        f"none of the video encoders {preferred} is in this PyAV/FFmpeg build "
        f"(av {av.__version__}); install the PyPI `av` wheel, which bundles libx264"
    )


class Mp4Writer:
    """Encode RGB frames into an MP4 at a constant frame rate (frame k is shown at k / fps).

    Codec: ``codec`` if given, else the first of ``ENCODER_PREFERENCE`` available; pixel
    format yuv420p (plays everywhere, including browsers), which needs even width and
    height. ``write`` takes ``(height, width, 3) uint8`` RGB. ``close`` flushes the encoder
    and finalizes the file; it is idempotent and runs on leaving a ``with`` block.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        fps: float,
        *,
        codec: str | None = None,
        crf: int = 23,
    ):
        _positive_int("width", width, 8192)
        _positive_int("height", height, 8192)
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs even width and height, got {width}x{height}")
        _positive_fps(fps)
        if not 0 <= crf <= 51:
            raise ValueError(f"crf: expected 0..51, got {crf}")
        av = _import_av()
        self.codec = codec if codec is not None else available_encoder()
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self.frames_written = 0
        self._av = av
        self._container = av.open(str(self.path), mode="w")
        try:
            # A Fraction keeps 30000/1001-style rates exact in the container's time base.
            rate = Fraction(fps).limit_denominator(1001)
            self._stream = self._container.add_stream(self.codec, rate=rate)
            self._stream.width, self._stream.height = width, height
            self._stream.pix_fmt = "yuv420p"
            if self.codec == "libx264":
                self._stream.options = {"crf": str(crf), "preset": "veryfast"}
            else:  # no CRF: about 0.15 bit per pixel instead of FFmpeg's 200 kb/s default
                self._stream.bit_rate = int(0.15 * width * height * fps) + 200_000
        except Exception as exc:
            self._container.close()
            raise VideoEncoderError(f"cannot set up encoder {self.codec!r}: {exc}") from exc

    def write(self, frame_rgb: np.ndarray) -> None:
        if self._container is None:
            raise VideoEncoderError(f"Mp4Writer({self.path}) is closed")
        frame_rgb = np.asarray(frame_rgb)
        expected = (self.height, self.width, 3)
        if frame_rgb.shape != expected or frame_rgb.dtype != np.uint8:
            raise ValueError(
                f"frame_rgb: expected {expected} uint8, got {frame_rgb.shape} {frame_rgb.dtype}"
            )
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
        frame.pts = self.frames_written  # in the stream's time base, 1 / fps
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            for packet in self._stream.encode(None):  # flush the encoder's delayed frames
                container.mux(packet)
        finally:
            container.close()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class FrameClock:
    """How many video frames fall due as a loop's clock advances (frame k due at start + k / fps).

    Call ``frames_due(now_s)`` once per control tick and write the current frame that many
    times: 0 on most ticks when fps < the loop rate, 2+ when fps > the loop rate (frames are
    repeated so the video's duration equals the elapsed time). The first call returns 1.
    """

    def __init__(self, fps: float, start_s: float = 0.0):
        _positive_fps(fps)
        self.fps = float(fps)
        self.start_s = float(start_s)
        self.frames_emitted = 0

    def frames_due(self, now_s: float) -> int:
        # The 1e-6 frame slack absorbs float error: a tick at exactly k / fps is due.
        slots = math.floor((now_s - self.start_s) * self.fps + 1e-6) + 1
        due = max(0, slots - self.frames_emitted)
        self.frames_emitted += due
        return due
