"""The IntentEstimator protocol and the pieces every estimator shares.

Conventions (the same as ``contracts.VelocityCommand``): an Intent is what the *robot* should
do, in its body frame: x forward, y left, z up; yaw counter-clockwise positive (seen from
above). "Do what the person does": for an egocentric clip, the camera wearer's own motion;
for a third-person clip, the watched person's motion in *their* body frame.

- ``IntentEstimator``: ``update(frame)`` streams frames in (increasing ``timestamp_s``) and
  returns an ``Intent`` (carrying that frame's time) or ``None`` while warming up.
- ``IntentSmoother``: low-pass + walk / stand hysteresis + clamping to ``CommandRanges``, so a
  noisy per-frame estimate does not make the robot twitch.
- ``decode_video(path, view)``: frames of an mp4 / webm / avi / mov / gif file or an image
  folder, as ``Frame`` values; ``VideoDecodeError`` (clear message) for anything unreadable.
- ``resize_for_estimation``: the ~320x240 working size the estimators are tuned for.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from humanoid_teleop.contracts import (
    VIEWS,
    WALK_COMMAND_RANGES,
    CommandRanges,
    Frame,
    Intent,
    VelocityCommand,
)

WORK_WIDTH_PX = 320
WORK_HEIGHT_PX = 240
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".gif")


class VideoDecodeError(ValueError):
    """A video path is missing, unsupported or unreadable; the message says which and why."""


@runtime_checkable
class IntentEstimator(Protocol):
    """Frames in, intents out, one call per frame (the caller drops frames it cannot afford).

    - ``view``: the view it understands (``"egocentric"`` or ``"third_person"``).
    - ``name``: goes into ``Intent.source``.
    - ``reset()``: forget everything (a new stream).
    - ``update(frame)``: frames must arrive with increasing ``timestamp_s``; returns an Intent
      whose ``frame_timestamp_s`` is ``frame.timestamp_s``, or ``None`` while it has too
      little history. Never blocks on anything but its own computation.
    """

    view: str
    name: str

    def reset(self) -> None: ...

    def update(self, frame: Frame) -> Intent | None: ...


# -- smoothing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmootherConfig:
    """Low-pass time constant and the walk / stand hysteresis.

    ``motion`` (the estimator's evidence of locomotion, dimensionless, ~1 = clearly moving)
    must stay above ``walk_on`` for ``walk_on_s`` to start walking and below ``walk_off``
    for ``walk_off_s`` to stop: a single noisy frame never toggles the skill.
    """

    tau_s: float = 0.4  # velocity low-pass time constant
    walk_on: float = 0.6
    walk_off: float = 0.35
    walk_on_s: float = 0.3
    walk_off_s: float = 0.4
    ranges: CommandRanges = WALK_COMMAND_RANGES  # pass the policy's own ranges when known

    def __post_init__(self):
        if not 0.0 <= self.tau_s <= 5.0:
            raise ValueError(f"tau_s: expected 0..5 s, got {self.tau_s}")
        if not 0.0 < self.walk_off <= self.walk_on:
            raise ValueError(
                f"expected 0 < walk_off <= walk_on, got {self.walk_off}, {self.walk_on}"
            )
        if self.walk_on_s < 0 or self.walk_off_s < 0:
            raise ValueError("walk_on_s and walk_off_s must be >= 0")
        if not isinstance(self.ranges, CommandRanges):
            raise TypeError(f"ranges: expected CommandRanges, got {type(self.ranges)}")


class IntentSmoother:
    """Turns per-frame raw estimates into stable Intents (time-based, any frame rate)."""

    def __init__(self, config: SmootherConfig | None = None):
        self.config = config or SmootherConfig()
        self.reset()

    def reset(self) -> None:
        self._v = np.zeros(3)
        self._last_t_s: float | None = None
        self.walking = False
        self._pending_s = 0.0  # how long the evidence has argued for switching

    def update(
        self,
        t_s: float,
        raw: VelocityCommand,
        motion: float,
        confidence: float,
        source: str,
    ) -> Intent:
        c = self.config
        dt = 0.0 if self._last_t_s is None else max(0.0, t_s - self._last_t_s)
        self._last_t_s = t_s
        first = dt == 0.0 and not self._v.any()
        alpha = 1.0 if c.tau_s == 0 or first else 1.0 - math.exp(-dt / c.tau_s)
        self._v += alpha * (raw.as_array() - self._v)
        # Hysteresis: accumulate time spent beyond the opposite threshold.
        arguing = motion < c.walk_off if self.walking else motion > c.walk_on
        self._pending_s = self._pending_s + dt if arguing else 0.0
        if arguing and self._pending_s >= (c.walk_off_s if self.walking else c.walk_on_s):
            self.walking = not self.walking
            self._pending_s = 0.0
        confidence = float(np.clip(confidence, 0.0, 1.0))
        if not self.walking:
            return Intent("stand", VelocityCommand(), confidence, source, t_s)
        command = c.ranges.clamp(VelocityCommand(*(float(v) for v in self._v)))
        return Intent("walk", command, confidence, source, t_s)


# -- frames ---------------------------------------------------------------------------------


def resize_for_estimation(
    image_rgb: np.ndarray, width_px: int = WORK_WIDTH_PX, height_px: int = WORK_HEIGHT_PX
) -> np.ndarray:
    """Scale an (H, W, 3) image to fit ``width_px`` x ``height_px``, keeping the aspect ratio.

    The estimators' thresholds are in pixels at this size; a frame that already fits (within
    10 %) is returned unchanged. Area interpolation: no aliasing from large camera frames.
    """
    import cv2

    h, w = image_rgb.shape[:2]
    scale = min(width_px / w, height_px / h)
    if 0.9 <= scale <= 1.1:
        return image_rgb
    size = (max(16, round(w * scale)), max(16, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image_rgb, size, interpolation=interp)


def _check_view(view: str) -> None:
    if view not in VIEWS:
        raise ValueError(f"view: expected one of {VIEWS}, got {view!r}")


def decode_video(
    path: str | Path, view: str = "egocentric", *, resize: bool = True
) -> Iterator[Frame]:
    """Frames of a video file (mp4, webm, avi, mov, mkv, gif) or a folder of images.

    Timestamps come from the stream's presentation times (seconds from the first frame,
    forced strictly increasing); an image folder is read in name order at 15 fps. With
    ``resize`` frames are scaled to ~320x240. Raises ``VideoDecodeError`` for a missing path,
    an unsupported suffix, a file that is not a video or is corrupt, or one with no frames.
    """
    _check_view(view)
    path = Path(path)
    if not path.exists():
        raise VideoDecodeError(f"{path}: no such file or folder")
    if path.is_dir():
        yield from _decode_folder(path, view, resize)
        return
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoDecodeError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; expected one of "
            f"{VIDEO_SUFFIXES} or a folder of {IMAGE_SUFFIXES} images"
        )
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoDecodeError(
            f"{path}: not a readable video ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        if not container.streams.video:
            raise VideoDecodeError(f"{path}: the file has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(15)
        period_s = 1.0 / float(rate) if float(rate) > 0 else 1.0 / 15
        count = 0
        last_t = -math.inf
        try:
            for frame in container.decode(stream):
                if frame.pts is not None and frame.time_base is not None:
                    t = float(frame.pts * frame.time_base)
                else:
                    t = count * period_s
                if count == 0:
                    t0 = t
                t = max(t - t0, last_t + 1e-3)  # decoders may repeat or reorder stamps
                last_t = t
                img = frame.to_ndarray(format="rgb24")
                if resize:
                    img = resize_for_estimation(img)
                yield Frame(t, img, view, index=count, source=path.name)
                count += 1
        except av.FFmpegError as exc:
            raise VideoDecodeError(
                f"{path}: corrupt video after {count} frames ({type(exc).__name__}: {exc})"
            ) from exc
        if count == 0:
            raise VideoDecodeError(f"{path}: the video has no decodable frames")
    finally:
        container.close()


def _decode_folder(path: Path, view: str, resize: bool, fps: float = 15.0) -> Iterator[Frame]:
    import cv2

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VideoDecodeError(f"{path}: the folder holds no {IMAGE_SUFFIXES} images")
    for i, file in enumerate(files):
        bgr = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if bgr is None:
            raise VideoDecodeError(f"{file}: not a readable image")
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if resize:
            img = resize_for_estimation(img)
        yield Frame(i / fps, img, view, index=i, source=path.name)


def video_fps(path: str | Path) -> float:
    """Nominal frame rate of a video file (15 for an image folder)."""
    path = Path(path)
    if path.is_dir():
        return 15.0
    import av

    try:
        with av.open(str(path)) as container:
            s = container.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            return float(rate) if rate else 15.0
    except (av.FFmpegError, OSError, IndexError) as exc:
        raise VideoDecodeError(f"{path}: not a readable video ({exc})") from exc
