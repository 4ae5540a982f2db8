"""Embedded third-person estimator: a static camera watches a person; their locomotion out.

Assumption: the camera does not move (a tripod, a laptop, a wall camera). A moving camera makes
the whole image "move" and the estimator reports nonsense; use the egocentric view for that.

Segmentation per frame (320x240, blurred gray):

- *Background* ``B``: starts as the first frame and follows slow lighting drift (time constant
  ``background_tau_s``) wherever nothing is in front of it. A pixel that differs from ``B`` but
  has not changed itself for ``absorb_s`` is copied into ``B``: this removes the "ghost" a
  person leaves where they stood in the first frame, and absorbs parked objects. A person who
  is present from the first frame is therefore found as soon as they move (their silhouette
  against the revealed background, plus the ghost until it is absorbed).
- *Motion*: the difference to the frame ``motion_lag_s`` ago, dilated by ``motion_reach_px``
  so the untextured inside of a moving body counts as moving with its edges.
- *The person*: the connected foreground blob (differs from ``B``) that contains the most
  moving pixels, preferring the one nearest the previous box (one person is tracked).

Body motion per frame: optical flow (DIS ultrafast) inside the blob, fitted with
``flow = s (p - centre) + t`` (one reweighting pass drops swinging limbs): ``s`` is the body's
expansion (approach / retreat), ``t`` its motion across the image. Box heights alone are too
jumpy for rates (a blob gains or loses a limb, a shadow, the image border).

Track -> motion over the last ``window_s`` (medians, so one wrong blob does not matter), with
the pinhole camera (``hfov_deg``) and an assumed ``person_height_m``:

- distance ``Z = f H / h`` from the median box height ``h`` (a scale, not a rate);
- ``dZ/dt = -Z d(ln size)/dt``: the flow's expansion, or the box's growth (Theil-Sen line
  through ln h) where the boxes are clean and grow by more than pixel quantisation;
- ``dX/dt = u Z / f + (x - cx) / f dZ/dt`` (perspective: an off-centre person walking in
  depth also drifts across the image);
- with ``camera_above_body_m`` (a camera above the person's hips, as tripods, laptops on a
  desk and wall cameras are): ``dZ/dt`` from the body's mean vertical flow instead (the body
  rises toward the horizon as it walks away: ``y - y_horizon = f dH / Z``), much steadier
  than its change of size, which a blob gaining or losing its reflection or a limb swamps;
- speed = |(dX/dt, dZ/dt)|;
- walk evidence = the geometric mean of speed / ``moving_mps`` and the share of the box's
  pixels that changed since the previous frame / ``changed_frac_moving`` (both must agree),
  then the shared ``IntentSmoother`` hysteresis (stops -> stand).

Body orientation (``vlm.body_yaw``, a small CNN trained on twin renders): each frame's crop
around the box gives the body's yaw relative to the camera ray, hence its facing seen from
above. The facing (circular mean over ``body_window_s``) turns the floor velocity into the
body frame: the two ways people walk, along the body (vx: forward / back) and across it (vy:
a sidestep, left positive), are each fitted to the floor velocity weighting its components
by their noise (``across_noise_mps``, ``depth_noise_mps``), and the better fit is kept. The
yaw rate is the slope of the facing over ``heading_window_s`` (Theil-Sen on the doubled angle,
so a one-frame front / back confusion does not read as a half turn), zero inside
``body_yaw_deadband_radps``; a turn on the spot counts as locomotion. Confidence is scaled by
how consistent the facings are.

Without the CNN (its checkpoint missing, torch not installed, or ``body_yaw=None``) the
estimator works from the track alone and cannot tell apart (a silhouette has no front):
walking backwards from walking forwards and a sidestep from walking across the image (both
read as forward walking with a heading; the yaw rate is then the slope of the walking
direction, only when that trend explains ``heading_min_r2`` of its variance and exceeds
``yaw_deadband_radps``); a turn on the spot from standing still. Its intents' confidence is
then capped at ``ThirdPersonEstimator.FALLBACK_MAX_CONFIDENCE``.

Either way: several people are one blob where they overlap; the scale (metres per second) is
only as right as ``person_height_m`` (a child reads as far away and fast). The CNN has seen
only the G1 twin; on real people it is out of its training domain.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from humanoid_teleop.contracts import Frame, Intent, VelocityCommand
from humanoid_teleop.vlm.body_yaw import BodyYawModel, BodyYawModelError, load_body_yaw
from humanoid_teleop.vlm.estimator import IntentSmoother, SmootherConfig, resize_for_estimation


@dataclass(frozen=True)
class ThirdPersonConfig:
    """Scene assumptions and thresholds (see the module docstring)."""

    person_height_m: float = 1.7
    hfov_deg: float = 60.0
    diff_threshold: float = 14.0  # gray levels (after blur) that count as different
    background_tau_s: float = 3.0  # lighting drift where the background is visible
    absorb_s: float = 0.4  # foreground that has not changed this long joins the background
    motion_lag_s: float = 0.13  # motion = difference to the frame this long ago (~2 at 15 fps)
    motion_reach_px: int = 15  # dilation: a body's untextured inside moves with its edges
    min_area_frac: float = 0.003  # smallest blob (share of the image) that counts as a person
    window_s: float = 1.0  # track window for the velocity fit
    heading_window_s: float = 2.0
    # A straight walk's heading jitters by ~15 degrees (the gait sways the body's flow); a
    # smaller dead band reads that as turning.
    yaw_deadband_radps: float = 0.3
    heading_min_r2: float = 0.7  # a heading trend must explain this share of its variance
    moving_mps: float = 0.12  # track speed that counts as clearly moving (evidence 1.0)
    changed_frac_moving: float = 0.08  # share of changed box pixels that counts as moving
    # Use the shipped body-yaw CNN. It has seen only the G1 twin: on real people (the
    # real-clips benchmark) it reads people walking toward the camera as walking backwards,
    # so it is on only where the watched body is the G1 (g1_fixed_camera_config).
    use_body_yaw: bool = False
    # Body orientation (the body-yaw CNN): the facing is the strength-weighted circular mean
    # over body_window_s (one frame's crop can be wrong, e.g. a leg hidden by the other), the
    # body's yaw rate the slope of the facing over heading_window_s.
    body_window_s: float = 1.0
    # A straight walk's facing estimate drifts by a few degrees per second (the gait changes
    # the crop); the expert's slowest turns are ~0.35 rad/s.
    body_yaw_deadband_radps: float = 0.12
    body_min_strength: float = 0.3  # (sin, cos) shorter than this: the CNN does not know
    body_yaw_min_r2: float = 0.5  # share of the facing's variance a turn must explain
    # Height of the camera above the person's body centre (hips), when known to be above it:
    # then the body's vertical image motion measures motion in depth. None: size change only.
    camera_above_body_m: float | None = None
    # Noise of the floor velocity across the image (horizontal flow) and in depth (vertical
    # flow or size change): the depth component is the worse one from any static camera.
    across_noise_mps: float = 0.04
    depth_noise_mps: float = 0.15
    smoother: SmootherConfig = field(default_factory=SmootherConfig)

    def __post_init__(self):
        if not 0.3 <= self.person_height_m <= 2.5:
            raise ValueError(f"person_height_m: expected 0.3..2.5, got {self.person_height_m}")
        if not 20.0 <= self.hfov_deg <= 170.0:
            raise ValueError(f"hfov_deg: expected 20..170, got {self.hfov_deg}")
        if not 0 < self.min_area_frac < 0.5:
            raise ValueError(f"min_area_frac: expected 0..0.5, got {self.min_area_frac}")
        if not 1.0 <= self.diff_threshold <= 128.0:
            raise ValueError(f"diff_threshold: expected 1..128, got {self.diff_threshold}")
        if not 0 <= self.motion_reach_px <= 64:
            raise ValueError(f"motion_reach_px: expected 0..64, got {self.motion_reach_px}")
        for name in (
            "background_tau_s", "absorb_s", "motion_lag_s", "window_s", "heading_window_s",
            "moving_mps", "changed_frac_moving", "body_window_s", "across_noise_mps",
            "depth_noise_mps",
        ):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: expected > 0, got {getattr(self, name)}")
        if self.yaw_deadband_radps < 0:
            raise ValueError(f"yaw_deadband_radps: expected >= 0, got {self.yaw_deadband_radps}")
        if self.body_yaw_deadband_radps < 0:
            raise ValueError(
                f"body_yaw_deadband_radps: expected >= 0, got {self.body_yaw_deadband_radps}"
            )
        if not 0 <= self.body_yaw_min_r2 < 1:
            raise ValueError(f"body_yaw_min_r2: expected 0..1, got {self.body_yaw_min_r2}")
        if not 0 <= self.body_min_strength < 1:
            raise ValueError(f"body_min_strength: expected 0..1, got {self.body_min_strength}")


def g1_fixed_camera_config(**overrides) -> ThirdPersonConfig:
    """MuJoCo's free / fixed camera (45 deg vertical FOV: 57.6 deg horizontal at 4:3) watching
    the 1.32 m G1."""
    # The benchmark's cameras are 0.9-3.1 m high; the G1's hips ~0.75 m.
    values = {
        "person_height_m": 1.32, "hfov_deg": 57.6, "camera_above_body_m": 1.1,
        "use_body_yaw": True,
    }  # fmt: skip
    values.update(overrides)
    return ThirdPersonConfig(**values)


_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Box:
    """The tracked person in one frame (pixels at the working size)."""

    t_s: float
    x_px: float  # centre
    y_px: float
    w_px: float
    h_px: float
    changed_frac: float  # share of the box's pixels that changed since the previous frame
    scale_rate_ps: float = 0.0  # d ln(size) / dt of the body, from its optical flow
    u_pxps: float = 0.0  # horizontal image velocity of the body, from its optical flow
    v_pxps: float = 0.0  # vertical image velocity of the body (down +), from its optical flow


class ThirdPersonEstimator:
    """IntentEstimator for a static camera watching a person; see the module docstring.

    ``body_yaw``: the body-orientation CNN; ``"shipped"`` loads the checkpoint in
    ``assets/third_person`` where ``config.use_body_yaw`` asks for it and, if it is missing or
    torch is not installed, falls back to the track alone (a warning logged). Track alone
    (``uses_body_yaw`` False): intents' confidence is capped at ``FALLBACK_MAX_CONFIDENCE``
    (backwards walking, sidesteps and turns on the spot are not observable). ``None`` chooses
    the track alone explicitly; a ``BodyYawModel`` is used whatever the config says.
    """

    view = "third_person"
    name = "embedded-third-person"
    FALLBACK_MAX_CONFIDENCE = 0.5

    def __init__(
        self,
        config: ThirdPersonConfig | None = None,
        body_yaw: BodyYawModel | str | None = "shipped",
    ):
        import cv2

        self.config = c = config or ThirdPersonConfig()
        if body_yaw == "shipped":
            body_yaw = _shipped_body_yaw() if c.use_body_yaw else None
        elif body_yaw is not None and not isinstance(body_yaw, BodyYawModel):
            raise TypeError(f"body_yaw: expected 'shipped', None or BodyYawModel, got {body_yaw!r}")
        self.body_yaw: BodyYawModel | None = body_yaw
        self._cv2 = cv2
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._rng = np.random.default_rng(0)  # point subsampling only: results are repeatable
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        r = c.motion_reach_px
        self._reach = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1))
        self._slack = cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7))
        self._smoother = IntentSmoother(c.smoother)
        self.reset()

    def reset(self) -> None:
        self._background: np.ndarray | None = None  # (H, W) float32
        self._still_s: np.ndarray | None = None  # (H, W) float32: foreground without motion
        self._recent: deque[tuple[float, np.ndarray]] = deque()  # (t, gray) for the motion lag
        self._prev_t_s: float | None = None
        self._track: deque[Box] = deque()
        self._heading: deque[tuple[float, float, float]] = deque()  # (t, heading rad, speed)
        # (t, body facing rad in the top-down camera frame, CNN strength)
        self._facing: deque[tuple[float, float, float]] = deque()
        self._smoother.reset()
        self.last_box: Box | None = None
        self.last_mask: np.ndarray | None = None  # (H, W) bool: the tracked blob, diagnostics

    def update(self, frame: Frame) -> Intent | None:
        cv2, c = self._cv2, self.config
        img = resize_for_estimation(frame.image_rgb)
        gray = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (5, 5), 0)
        t = frame.timestamp_s
        if self._background is None or self._background.shape != gray.shape:
            self.reset()
            self._background = gray.astype(np.float32)
            self._still_s = np.zeros(gray.shape, np.float32)
            self._recent.append((t, gray))
            self._prev_t_s = t
            return None
        dt = t - self._prev_t_s
        prev_gray = self._recent[-1][1]
        self._prev_t_s = t
        self._recent.append((t, gray))
        # The oldest kept frame at least motion_lag_s old is the motion reference.
        while len(self._recent) > 2 and self._recent[1][0] <= t - c.motion_lag_s:
            self._recent.popleft()
        lagged = self._recent[0][1]

        fg = cv2.absdiff(gray.astype(np.float32), self._background) > c.diff_threshold
        moving_px = cv2.absdiff(gray, lagged) > c.diff_threshold
        moving_u8 = moving_px.astype(np.uint8)
        near_motion = cv2.dilate(moving_u8, self._reach) > 0
        # The background test uses a pixel's own motion (a few px of slack): the ghost a
        # person leaves where they stood is next to their motion but never changes itself.
        self._update_background(gray, fg, cv2.dilate(moving_u8, self._slack) > 0, dt)

        mask = cv2.morphologyEx((fg & near_motion).astype(np.uint8), cv2.MORPH_CLOSE, self._close)
        box = self._find_person(mask, moving_px, gray, prev_gray, t)
        if box is not None:
            box = self._body_flow(box, prev_gray, gray, dt)
            if self.body_yaw is not None:
                self._observe_facing(img, box)
        self.last_box = box
        if box is not None:
            self._track.append(box)
        while self._track and self._track[0].t_s < t - c.window_s:
            self._track.popleft()
        return self._intent(t, gray.shape[1], gray.shape[0])

    @property
    def uses_body_yaw(self) -> bool:
        return self.body_yaw is not None

    # -- internals ------------------------------------------------------------------------
    def _focal_px(self, width_px: int) -> float:
        return (width_px / 2) / math.tan(math.radians(self.config.hfov_deg) / 2)

    def _observe_facing(self, img: np.ndarray, box: Box) -> None:
        """The CNN's body yaw relative to the camera ray -> the body's facing in the top-down
        camera frame (x right, y away; the ray's own bearing is atan2(1, x / f))."""
        rel, strength = self.body_yaw.predict_one(img, box.x_px, box.y_px, box.h_px)
        x_off = (box.x_px - (img.shape[1] - 1) / 2) / self._focal_px(img.shape[1])
        self._facing.append((box.t_s, math.atan2(1.0, x_off) + rel, strength))
        self._forget_facings(box.t_s)

    def _forget_facings(self, t: float) -> None:
        keep_s = max(self.config.heading_window_s, self.config.body_window_s)
        while self._facing and self._facing[0][0] < t - keep_s:
            self._facing.popleft()

    def _update_background(
        self, gray: np.ndarray, fg: np.ndarray, changing: np.ndarray, dt: float
    ) -> None:
        c = self.config
        bg, still = self._background, self._still_s
        alpha = 1.0 - math.exp(-max(dt, 0.0) / c.background_tau_s)
        visible = ~fg
        bg[visible] += alpha * (gray[visible] - bg[visible])
        # Foreground that does not move (a ghost, a parked object, a person who stopped) is
        # background once it has been still long enough.
        parked = fg & ~changing
        still[parked] += dt
        still[~parked] = 0.0
        absorb = still >= c.absorb_s
        if absorb.any():
            bg[absorb] = gray[absorb]
            still[absorb] = 0.0

    def _find_person(
        self,
        mask: np.ndarray,
        moving_px: np.ndarray,
        gray: np.ndarray,
        prev_gray: np.ndarray,
        t: float,
    ) -> Box | None:
        cv2, c = self._cv2, self.config
        h, w = mask.shape
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
        if n <= 1:
            self.last_mask = None
            return None
        areas = stats[1:, cv2.CC_STAT_AREA]
        ok = np.flatnonzero(areas >= c.min_area_frac * h * w) + 1
        if ok.size == 0:
            self.last_mask = None
            return None
        # Moving pixels per blob; near the previous box counts double (track, do not hop).
        motion = np.bincount(labels[moving_px], minlength=n).astype(float)
        score = motion[ok]
        last = self._track[-1] if self._track else None
        if last is not None:
            cx = stats[ok, cv2.CC_STAT_LEFT] + stats[ok, cv2.CC_STAT_WIDTH] / 2
            cy = stats[ok, cv2.CC_STAT_TOP] + stats[ok, cv2.CC_STAT_HEIGHT] / 2
            near = np.hypot(cx - last.x_px, cy - last.y_px) < max(last.h_px, 20.0)
            score = score * np.where(near, 2.0, 1.0)
        k = int(ok[int(np.argmax(score))])
        if motion[k] <= 0:
            self.last_mask = None
            return None
        x0, y0, bw, bh, _ = stats[k]
        self.last_mask = labels == k
        roi = (slice(y0, y0 + bh), slice(x0, x0 + bw))
        changed = float(np.mean(cv2.absdiff(gray[roi], prev_gray[roi]) > c.diff_threshold))
        return Box(t, x0 + bw / 2, y0 + bh / 2, float(bw), float(bh), changed)

    def _body_flow(self, box: Box, prev_gray: np.ndarray, gray: np.ndarray, dt: float) -> Box:
        """Fit ``flow = s (p - centre) + (tx, ty)`` to the optical flow inside the blob.

        ``s`` (expansion per frame) measures approach / retreat and ``tx`` the motion across
        the image, from the whole body's flow rather than from the box, whose height jumps
        whenever segmentation gains or loses a limb, a shadow or the image border.
        """
        if dt <= 0 or self.last_mask is None:
            return box
        ys, xs = np.nonzero(self.last_mask)
        if xs.size < 30:
            return box
        if xs.size > 1500:
            pick = self._rng.choice(xs.size, 1500, replace=False)
            xs, ys = xs[pick], ys[pick]
        x0, x1 = int(xs.min()), int(xs.max()) + 1
        y0, y1 = int(ys.min()), int(ys.max()) + 1
        pad = 8  # DIS needs context around the body
        h, w = gray.shape
        a0, a1, b0, b1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
        roi_prev = np.ascontiguousarray(prev_gray[a0:a1, b0:b1])
        roi = np.ascontiguousarray(gray[a0:a1, b0:b1])
        if min(roi.shape) < 16:  # DIS needs a few patches
            return box
        flow = self._dis.calc(roi_prev, roi, None)
        u, v = flow[ys - a0, xs - b0, 0], flow[ys - a0, xs - b0, 1]
        dx, dy = xs - box.x_px, ys - box.y_px
        n = xs.size
        a = np.zeros((2 * n, 3))
        a[:n, 0], a[n:, 0], a[:n, 1], a[n:, 2] = dx, dy, 1.0, 1.0
        y = np.concatenate([u, v])
        sol = np.linalg.lstsq(a, y, rcond=None)[0]
        # One reweighting pass: swinging limbs are outliers to the body's common motion.
        r = np.abs(a @ sol - y)
        keep = r <= 2.5 * np.median(r) + 1e-6
        if keep.sum() >= 20:
            sol = np.linalg.lstsq(a[keep], y[keep], rcond=None)[0]
        return Box(
            box.t_s, box.x_px, box.y_px, box.w_px, box.h_px, box.changed_frac,
            float(sol[0] / dt), float(sol[1] / dt), float(sol[2] / dt),
        )  # fmt: skip

    def _intent(self, t: float, width_px: int, height_px: int) -> Intent:
        c = self.config
        track = list(self._track)
        if len(track) < 4 or track[-1].t_s - track[0].t_s <= 0.25:
            # Nobody moving (or not for long enough): stand.
            return self._smoother.update(t, VelocityCommand(), 0.0, 0.5, self.name)
        # A box much taller or shorter than the window's median is a partial detection (a
        # limb, the person plus a shadow): it would read as a jump in distance.
        h_med = float(np.median([b.h_px for b in track]))
        track = [b for b in track if abs(math.log(b.h_px / h_med)) < math.log(1.25)]
        ts = np.array([b.t_s for b in track])
        hs = np.array([b.h_px for b in track])
        xs = np.array([b.x_px for b in track])

        # Share of the window's frames with a consistent box: a person detected in a few
        # frames only (a sway, a flicker) is not evidence of walking.
        frame_dt = float(np.median(np.diff(ts))) if len(ts) > 1 else c.window_s
        coverage = min(1.0, len(ts) * frame_dt / c.window_s)
        if len(ts) < 4:
            return self._smoother.update(t, VelocityCommand(), 0.0, 0.5, self.name)
        f_px = self._focal_px(width_px)
        # Distance from the median box height (a scale, not a rate: its jitter does not
        # matter much); rates from the body's flow (median over the window: robust to a
        # frame whose blob was wrong).
        z_m = f_px * c.person_height_m / float(np.median(hs))
        scale_rate = float(np.median([b.scale_rate_ps for b in track]))
        # Where segmentation is clean (box heights on a line within ~3 %), the box's growth
        # is the better scale rate: optical flow under-reads expansion (texture inside a
        # body lags its outline).
        ln_h = np.log(hs)
        box_rate = _theil_sen(ts, ln_h)
        detrended = ln_h - box_rate * ts
        resid = detrended - np.median(detrended)
        clean = len(ts) >= 6 and float(np.median(np.abs(resid))) < 0.03
        # Box heights are whole pixels: a change of a few pixels is quantisation, not growth.
        grows = abs(box_rate) * (ts[-1] - ts[0]) * h_med > 4.0
        if clean and grows:
            scale_rate = box_rate
        u_pxps = float(np.median([b.u_pxps for b in track]))
        # Floor velocity seen from above: X to the camera's right, Z away from the camera.
        vz_away = -scale_rate * z_m  # growing on the image: coming closer
        if c.camera_above_body_m is not None:
            # A camera above the body's centre sees it rise toward the horizon as it walks
            # away: y - y_horizon = f dH / Z, so dZ/dt = -(dy/dt) Z^2 / (f dH). The body's
            # mean vertical flow is far steadier than its change of size, which on the tuning
            # renders (seed 7) often read walking away as approaching: it replaces it.
            v_pxps = float(np.median([b.v_pxps for b in track]))
            vz_away = -v_pxps * z_m**2 / (f_px * c.camera_above_body_m)
        # x = f X / Z: an off-centre person walking in depth also drifts across the image.
        x_off = (float(np.median(xs)) - (width_px - 1) / 2) / f_px
        vx_right = u_pxps * z_m / f_px + x_off * vz_away
        speed = math.hypot(vx_right, vz_away)
        changed = float(np.median([b.changed_frac for b in track]))
        # Both cues must agree (geometric mean): a partial blob (a head, hair) of a standing
        # person reads as far away, so its small motions scale up to a walking speed, but its
        # pixels barely change; limbs of someone shifting on the spot change but go nowhere.
        motion = coverage * math.sqrt((speed / c.moving_mps) * (changed / c.changed_frac_moving))
        walk_heading = math.atan2(vz_away, vx_right)
        confidence = min(1.0, 0.3 + 0.5 * coverage + 0.2 * min(1.0, motion))
        body = self._body_motion(t) if self.body_yaw is not None else None
        if body is None:
            # No orientation: assume the person walks forward, turning with their path.
            yaw_rate = self._yaw_rate(t, walk_heading, speed * coverage)
            raw = VelocityCommand(speed, 0.0, yaw_rate)
            confidence = min(confidence, self.FALLBACK_MAX_CONFIDENCE)
            return self._smoother.update(t, raw, motion, confidence, self.name)
        facing, yaw_rate, strength = body
        vx_b, vy_b = self._body_velocity(vx_right, vz_away, facing)
        raw = VelocityCommand(vx_b, vy_b, yaw_rate)
        # A turn on the spot barely moves the box but is locomotion all the same.
        motion = max(motion, coverage * abs(yaw_rate) / (2 * c.body_yaw_deadband_radps))
        return self._smoother.update(t, raw, motion, confidence * strength, self.name)

    def _body_velocity(self, vx_right: float, vz_away: float, facing: float) -> tuple[float, float]:
        """(vx, vy) in the body frame from the floor velocity seen from above and the facing.

        The two floor components are not equally good: motion across the image comes from
        the body's horizontal flow (a few cm/s of noise), motion in depth from its rise
        toward the horizon or its change of size (worse, and scaled by assumed heights). So
        instead of rotating the noisy vector, fit the two ways people walk, along the body
        (forward / back) or across it (sideways), each weighting the components by their
        precision, and keep the one that explains the measurement better.
        """
        c = self.config
        w = np.array([1.0 / c.across_noise_mps**2, 1.0 / c.depth_noise_mps**2])
        v = np.array([vx_right, vz_away])
        best = None
        for along in (True, False):
            ang = facing if along else facing + math.pi / 2
            d = np.array([math.cos(ang), math.sin(ang)])
            a = float(np.sum(w * d * v) / np.sum(w * d * d))
            cost = float(np.sum(w * (v - a * d) ** 2))
            if best is None or cost < best[0]:
                best = (cost, (a, 0.0) if along else (0.0, a))
        return best[1]

    def _body_motion(self, t: float) -> tuple[float, float, float] | None:
        """(facing rad, yaw rate rad/s, strength 0..1) from the CNN's recent facings, or None
        while it has too few confident ones."""
        c = self.config
        self._forget_facings(t)
        sure = [(ft, f, s) for ft, f, s in self._facing if s >= c.body_min_strength]
        recent = [(f, s) for ft, f, s in sure if ft >= t - c.body_window_s]
        if len(recent) < 3:
            return None
        f, w = np.array(recent).T
        vec = np.array([np.sum(w * np.cos(f)), np.sum(w * np.sin(f))]) / np.sum(w)
        facing = math.atan2(vec[1], vec[0])
        # Agreement of the window's facings (1: all the same) times the CNN's own certainty.
        strength = float(np.hypot(*vec)) * min(1.0, float(np.mean(w)))
        yaw_rate = 0.0
        # A rate needs a run of facings up to now (not the remains of a lost track).
        fresh = bool(sure) and sure[-1][0] >= t - 0.25
        if fresh and len(sure) >= 6 and sure[-1][0] - sure[0][0] >= 0.5 * c.heading_window_s:
            ts = np.array([a for a, _, _ in sure])
            # The slope of the doubled angle: a front / back confusion (a jump by pi) in one
            # frame must not read as a half turn.
            angle = np.unwrap(2.0 * np.array([b for _, b, _ in sure])) / 2.0
            slope = _theil_sen(ts, angle)
            resid = angle - slope * ts
            # Robust share of the variance the trend explains (median absolute deviations: the
            # first crops of a forming blob, a limb alone, are outliers, not a lack of trend).
            explained = 1.0 - (_mad(resid) / max(_mad(angle), 1e-9)) ** 2
            # Facings that scatter around their trend are noise, not a turn.
            if abs(slope) > c.body_yaw_deadband_radps and explained >= c.body_yaw_min_r2:
                yaw_rate = slope
        # The window's mean facing is that of its mean time: bring it forward to now.
        t_mean = float(np.average([ft for ft, _, s in sure if ft >= t - c.body_window_s],
                                  weights=w))  # fmt: skip
        return facing + yaw_rate * (t - t_mean), yaw_rate, strength

    def _yaw_rate(self, t: float, heading_rad: float, speed_mps: float) -> float:
        """Slope of the walking direction over the heading window (0 while nearly still)."""
        c = self.config
        if speed_mps > c.moving_mps:  # slower, the walking direction is mostly noise
            self._heading.append((t, heading_rad, speed_mps))
        while self._heading and self._heading[0][0] < t - c.heading_window_s:
            self._heading.popleft()
        if len(self._heading) < 4:
            return 0.0
        ht = np.array([a for a, _, _ in self._heading])
        if ht[-1] - ht[0] < 0.4 * c.heading_window_s:
            return 0.0
        hh = np.unwrap(np.array([b for _, b, _ in self._heading]))
        weights = np.array([s for _, _, s in self._heading])  # slow samples point anywhere
        slope, offset = np.polyfit(ht, hh, 1, w=weights)
        # A heading that scatters around its trend is noise (distance from box height jitters
        # more than a slow turn changes the walking direction): no turn unless the fit explains
        # most of the heading's variance.
        resid = hh - (slope * ht + offset)
        spread = float(np.average((hh - np.average(hh, weights=weights)) ** 2, weights=weights))
        explained = 1.0 - float(np.average(resid**2, weights=weights)) / max(spread, 1e-9)
        yaw = float(slope)
        if explained < c.heading_min_r2 or abs(yaw) < c.yaw_deadband_radps:
            return 0.0
        return yaw - math.copysign(c.yaw_deadband_radps, yaw)


@functools.cache
def _shipped_body_yaw() -> BodyYawModel | None:
    """The shipped body-yaw CNN, or None (logged once) where it cannot be had. Loaded once
    per process: every estimator shares it (inference only, no state)."""
    try:
        return load_body_yaw()
    except (BodyYawModelError, ImportError) as exc:
        _log.warning("third-person estimator without body orientation (track only): %s", exc)
        return None


def _mad(x: np.ndarray) -> float:
    """Median absolute deviation."""
    return float(np.median(np.abs(x - np.median(x))))


def _theil_sen(t: np.ndarray, y: np.ndarray) -> float:
    """Median of the pairwise slopes: a line fit that ignores up to ~29 % outliers."""
    i, j = np.triu_indices(len(t), k=1)
    dt = t[j] - t[i]
    ok = dt > 1e-6
    if not ok.any():
        return 0.0
    return float(np.median((y[j] - y[i])[ok] / dt[ok]))
