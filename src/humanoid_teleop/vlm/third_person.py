"""Embedded third-person estimator: a static camera watches a person; their locomotion out.

Pipeline per frame (320x240): background subtraction (OpenCV MOG2) -> opening / closing ->
the largest connected blob above ``min_area_frac`` -> its bounding box. Over the last
``window_s`` of boxes:

- lateral image speed of the box centre, in body heights per second, times the assumed
  ``person_height_m`` (1.7 m: an adult) -> speed across the image (m/s);
- scale change d(ln box height)/dt times the distance implied by the box height and the
  assumed ``hfov_deg`` -> speed toward / away from the camera (m/s);
- forward speed vx = the magnitude of both (walking toward and away from the camera are
  both forward walking: people walk forward in their own body frame);
- yaw rate = the rate of change of the track's heading on the floor (counter-clockwise seen
  from above positive), only while moving;
- motion evidence (walk / stand) = speed over ``moving_mps`` plus the share of frame-to-frame
  changed pixels inside the box (limbs move even when the box barely does), then the shared
  ``IntentSmoother`` hysteresis.

Cannot tell apart (no pose): a sidestep from forward walking (vy is always 0), walking
backwards from forwards, a turn in place from standing (the box barely moves); several
people are one blob when they overlap; a person who stands still long enough fades into the
background model (``history_frames``); a moving camera breaks the background model.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from humanoid_teleop.contracts import Frame, Intent, VelocityCommand
from humanoid_teleop.vlm.estimator import IntentSmoother, SmootherConfig, resize_for_estimation


@dataclass(frozen=True)
class ThirdPersonConfig:
    """Scene assumptions and thresholds (see the module docstring)."""

    person_height_m: float = 1.7
    hfov_deg: float = 60.0
    history_frames: int = 300  # MOG2 background memory
    var_threshold: float = 25.0
    min_area_frac: float = 0.004  # smallest blob (share of the image) that counts as a person
    window_s: float = 0.8
    moving_mps: float = 0.12  # box speed that counts as clearly moving (evidence 1.0)
    changed_frac_moving: float = 0.08  # share of changed box pixels that counts as moving
    smoother: SmootherConfig = field(default_factory=SmootherConfig)

    def __post_init__(self):
        if not 0.3 <= self.person_height_m <= 2.5:
            raise ValueError(f"person_height_m: expected 0.3..2.5, got {self.person_height_m}")
        if not 20.0 <= self.hfov_deg <= 170.0:
            raise ValueError(f"hfov_deg: expected 20..170, got {self.hfov_deg}")
        if self.history_frames < 10 or not 0 < self.min_area_frac < 0.5:
            raise ValueError("history_frames >= 10 and 0 < min_area_frac < 0.5 expected")
        if self.window_s <= 0 or self.moving_mps <= 0 or self.changed_frac_moving <= 0:
            raise ValueError("window_s, moving_mps and changed_frac_moving must be > 0")


def g1_fixed_camera_config(**overrides) -> ThirdPersonConfig:
    """The twin's ``fixed`` camera (MuJoCo's 45 deg vertical FOV: 57.6 deg horizontal at 4:3)
    watching the 1.32 m G1."""
    values = dict(person_height_m=1.32, hfov_deg=57.6)
    values.update(overrides)
    return ThirdPersonConfig(**values)


@dataclass(frozen=True)
class Box:
    t_s: float
    x_px: float  # centre
    y_px: float
    w_px: float
    h_px: float
    changed_frac: float  # share of the box's pixels that changed since the previous frame


class ThirdPersonEstimator:
    """IntentEstimator for a static camera watching a person; see the module docstring."""

    view = "third_person"
    name = "embedded-third-person"

    def __init__(self, config: ThirdPersonConfig | None = None):
        import cv2

        self.config = config or ThirdPersonConfig()
        self._cv2 = cv2
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self._smoother = IntentSmoother(self.config.smoother)
        self.reset()

    def reset(self) -> None:
        c = self.config
        self._bg = self._cv2.createBackgroundSubtractorMOG2(
            history=c.history_frames, varThreshold=c.var_threshold, detectShadows=False
        )
        self._prev_gray: np.ndarray | None = None
        self._track: deque[Box] = deque()
        self._heading: deque[tuple[float, float]] = deque()  # (t, heading rad)
        self._smoother.reset()
        self.last_box: Box | None = None

    def update(self, frame: Frame) -> Intent | None:
        cv2, c = self._cv2, self.config
        img = resize_for_estimation(frame.image_rgb)
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        t = frame.timestamp_s
        mask = self._bg.apply(img)
        prev, self._prev_gray = self._prev_gray, gray
        if prev is None or prev.shape != gray.shape:
            return None
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._kernel, iterations=2)
        n, _, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8))
        h, w = gray.shape
        box = None
        if n > 1:
            k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            x0, y0, bw, bh, area = stats[k]
            if area >= c.min_area_frac * h * w:
                diff = cv2.absdiff(gray[y0 : y0 + bh, x0 : x0 + bw], prev[y0 : y0 + bh, x0 : x0 + bw])
                changed = float(np.mean(diff > 12))
                box = Box(t, x0 + bw / 2, y0 + bh / 2, float(bw), float(bh), changed)
        self.last_box = box
        if box is not None:
            self._track.append(box)
        while self._track and self._track[0].t_s < t - c.window_s:
            self._track.popleft()
        return self._intent(t, w)

    def _intent(self, t: float, width_px: int) -> Intent:
        c = self.config
        track = list(self._track)
        if len(track) < 3:
            # Nobody (or not yet): stand, fairly sure when nothing moves at all.
            return self._smoother.update(t, VelocityCommand(), 0.0, 0.5, self.name)
        ts = np.array([b.t_s for b in track])
        span = ts[-1] - ts[0]
        if span <= 0:
            return self._smoother.update(t, VelocityCommand(), 0.0, 0.5, self.name)
        hs = np.array([b.h_px for b in track])
        xs = np.array([b.x_px for b in track])
        f_px = (width_px / 2) / math.tan(math.radians(c.hfov_deg) / 2)
        h_med = float(np.median(hs))
        dist_m = f_px * c.person_height_m / h_med
        # Least-squares slopes over the window: robust to one jittery box.
        dx_pxps = np.polyfit(ts, xs, 1)[0]
        dlnh_ps = np.polyfit(ts, np.log(hs), 1)[0]
        across_mps = dx_pxps * c.person_height_m / h_med  # right positive
        toward_mps = dlnh_ps * dist_m  # toward the camera positive
        speed = math.hypot(across_mps, toward_mps)
        changed = float(np.median([b.changed_frac for b in track]))
        motion = max(speed / c.moving_mps, changed / c.changed_frac_moving)
        # Heading on the floor seen from above: x right, y toward the camera (right-handed
        # with z up), so counter-clockwise positive matches the body-frame yaw convention.
        yaw_rate = 0.0
        if speed > 0.5 * c.moving_mps:
            self._heading.append((t, math.atan2(toward_mps, across_mps)))
        while self._heading and self._heading[0][0] < t - 2 * c.window_s:
            self._heading.popleft()
        if len(self._heading) >= 4:
            ht = np.array([a for a, _ in self._heading])
            hh = np.unwrap(np.array([b for _, b in self._heading]))
            if ht[-1] - ht[0] > 0.3:
                yaw_rate = float(np.polyfit(ht, hh, 1)[0])
        confidence = min(1.0, 0.3 + 0.5 * min(1.0, len(track) / 8) + 0.2 * min(1.0, motion))
        raw = VelocityCommand(speed, 0.0, yaw_rate)
        return self._smoother.update(t, raw, motion, confidence, self.name)
