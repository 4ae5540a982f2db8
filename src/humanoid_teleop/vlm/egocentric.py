"""Embedded egocentric estimator: the camera wearer's locomotion from optical flow.

Per frame pair: DIS optical flow (OpenCV, ~1-3 ms at 320x240), median flow of textured pixels
in horizontal floor bands, then a linear fit of the camera's ego-motion to those medians under
a ground-plane model:

- Assumptions (``EgocentricConfig``, documented defaults): a pinhole camera with horizontal
  field of view ``hfov_deg``, pitched down by ``pitch_deg``, at ``camera_height_m`` above a
  flat floor; pixels below the horizon see the floor (their depth follows from the
  geometry), pixels above it see the far field (infinite depth: rotation only).
- For every band centre the image displacement caused by a small unit motion along each of
  6 degrees of freedom (translation right / down / forward in the level camera frame, yaw,
  pitch, roll) is computed numerically once by moving the 3-D point and re-projecting it, so
  the signs come from geometry, not from a hand-derived formula. Each frame solves
  ``B m = flow`` (ridge least squares) for ``m``: forward and lateral translation (metres:
  the scale is the assumed camera height, times ``forward_gain``) and the yaw angle.
- Gait: the vertical bob (mean vertical flow of the bands) is band-passed over the last
  ``gait_window_s``; the share of its power at 1.2-3.2 Hz (humans and the G1 twin step at
  ~1.5-2.5 Hz) is the gait score, which adds to the evidence of walking.
- Evidence: the per-frame fits are averaged over ``evidence_window_s``, leaving out frames
  whose lateral speed or yaw rate is implausibly large (the sidestep / turn ambiguity).
- Output: ``IntentSmoother`` (low-pass, walk / stand hysteresis, clamping).

Sign conventions (body frame of the wearer): forward motion -> vx > 0; moving left -> vy > 0;
turning left (counter-clockwise seen from above) -> yaw_rate > 0: the scene then moves right
in the image.

Cannot tell apart: a flat floor from other surfaces (walls, people passing by are outliers
the robust fit down-weights); the true scale (it is the assumed camera height: a wrong height
scales vx, vy linearly); head turns from body turns (a wearer looking around reads as
turning); backwards walking is reported (vx < 0) but was not evaluated.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from humanoid_teleop.contracts import Frame, Intent, VelocityCommand
from humanoid_teleop.vlm.estimator import IntentSmoother, SmootherConfig, resize_for_estimation


@dataclass(frozen=True)
class EgocentricConfig:
    """Camera assumptions and thresholds.

    Defaults describe a chest- or head-worn camera on a person (1.5 m, pitched 20 degrees
    down, 70 degree horizontal field of view, typical of phones in video mode); see
    ``g1_head_camera_config`` for the twin's head camera.
    """

    hfov_deg: float = 70.0
    pitch_deg: float = 20.0  # camera looks this far below the horizon
    camera_height_m: float = 1.5
    flow_preset: str = "ultrafast"  # DIS preset: ultrafast (~1 ms) or fast (~3 ms)
    min_gradient: float = 12.0  # Sobel magnitude a pixel needs to constrain the flow
    min_points: int = 40  # fewer textured pixels in a band: the band is not used
    gait_window_s: float = 2.0
    gait_band_hz: tuple[float, float] = (1.2, 3.2)
    # Speeds that count as clearly moving (motion evidence 1.0); walking ~0.3 m/s is 1.5.
    moving_vx_mps: float = 0.2
    moving_vy_mps: float = 0.1
    moving_yaw_radps: float = 0.25
    bands: int = 4  # horizontal floor bands below the horizon, see _ego_motion
    # Band medians under-read the floor's expansion (textured edges lag in DIS); calibrated
    # on the twin's head-camera renders (vlm/sim_clips.py: fitted 0.10 vs true 0.21 m/s).
    forward_gain: float = 2.0
    fit_pitch: bool = False  # pitch is nearly collinear with forward motion on a floor
    lateral_ridge: float = 200.0  # px^2 per (m / frame)^2, see _ego_motion
    evidence_window_s: float = 0.6  # raw estimates are averaged over this before thresholding
    # A frame whose fit exceeds either limit is left out of the average: when the bands
    # cannot separate a sidestep from a turn the solve trades one for the other, and a single
    # such frame (seen: vy +4.2 m/s with yaw -4.7 rad/s) outweighs a window of good ones.
    # Forward speed has no such limit: the floor's expansion arrives in bursts, and
    # dropping the large frames loses forward walking (tuned on the seed-7 renders).
    max_frame_vy_mps: float = 1.0
    max_frame_yaw_radps: float = 2.0
    smoother: SmootherConfig = field(default_factory=SmootherConfig)

    def __post_init__(self):
        if not 20.0 <= self.hfov_deg <= 170.0:
            raise ValueError(f"hfov_deg: expected 20..170, got {self.hfov_deg}")
        if not 0.0 <= self.pitch_deg <= 60.0:
            raise ValueError(f"pitch_deg: expected 0..60 (down), got {self.pitch_deg}")
        if not 0.2 <= self.camera_height_m <= 3.0:
            raise ValueError(f"camera_height_m: expected 0.2..3 m, got {self.camera_height_m}")
        if self.flow_preset not in ("ultrafast", "fast", "medium"):
            raise ValueError(f"flow_preset: expected ultrafast|fast|medium, got {self.flow_preset}")
        if not 2 <= self.bands <= 12:
            raise ValueError(f"bands: expected 2..12, got {self.bands}")
        lo, hi = self.gait_band_hz
        if not 0 < lo < hi:
            raise ValueError(f"gait_band_hz: expected 0 < lo < hi, got {self.gait_band_hz}")
        for name in ("moving_vx_mps", "moving_vy_mps", "moving_yaw_radps", "evidence_window_s",
                     "max_frame_vy_mps", "max_frame_yaw_radps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: expected > 0, got {getattr(self, name)}")


def g1_head_camera_config(**overrides) -> EgocentricConfig:
    """The twin's ``head`` camera: 75 deg vertical FOV (91.3 deg horizontal at 4:3), pitched
    20 deg down, ~1.25 m above the floor while walking (sim/model.py)."""
    values = {"hfov_deg": 91.3, "pitch_deg": 20.0, "camera_height_m": 1.25}
    values.update(overrides)
    return EgocentricConfig(**values)


# Columns of the motion basis (per frame): translation right, down, forward (m), yaw left,
# pitch up, roll (rad).
_DOF = ("right_m", "down_m", "forward_m", "yaw_left_rad", "pitch_rad", "roll_rad")


def _rot_y(angle_rad: float) -> np.ndarray:
    """Rotation about the level frame's y (down) axis; positive turns z (forward) toward -x (left)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])  # columns: new x, y, z axes


def _rot_x(angle_rad: float) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[1, 0, 0], [0, c, s], [0, -s, c]])


def _rot_z(angle_rad: float) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def motion_basis(
    xs_px: np.ndarray, ys_px: np.ndarray, width_px: int, height_px: int, config: EgocentricConfig
) -> np.ndarray:
    """(2N, 6) image displacement (px) of N pixels per unit of each ego-motion DOF (``_DOF``).

    Rows 0..N-1 are horizontal (u, right positive), N..2N-1 vertical (v, down positive).
    Level frame: x right, y down, z forward; the camera is pitched down by ``pitch_deg``.
    """
    f = (width_px / 2) / math.tan(math.radians(config.hfov_deg) / 2)
    cx, cy = (width_px - 1) / 2, (height_px - 1) / 2
    th = math.radians(config.pitch_deg)
    # Camera axes in the level frame (columns): x right, y down-back, z forward-down.
    r_pitch = np.array(
        [[1, 0, 0], [0, math.cos(th), math.sin(th)], [0, -math.sin(th), math.cos(th)]]
    )
    rays_c = np.stack([(xs_px - cx) / f, (ys_px - cy) / f, np.ones_like(xs_px, float)], axis=1)
    rays = rays_c @ r_pitch.T  # level frame
    down = rays[:, 1]
    # Floor depth from the camera height; rays at or above the horizon see the far field.
    lam = np.where(down > 1e-3, config.camera_height_m / np.maximum(down, 1e-3), 1e4)
    points = rays * lam[:, None]

    def project(rot_level: np.ndarray, trans_level: np.ndarray) -> np.ndarray:
        # Camera moved by trans and rotated by rot (columns: new axes in the old level frame).
        p_new = (points - trans_level) @ rot_level  # coordinates in the moved level frame
        p_cam = p_new @ r_pitch  # into the (pitched) camera frame
        z = np.maximum(p_cam[:, 2], 1e-6)
        return np.stack([f * p_cam[:, 0] / z + cx, f * p_cam[:, 1] / z + cy], axis=1)

    eps = 1e-4
    base = project(np.eye(3), np.zeros(3))
    cols = []
    for k in range(6):
        trans = np.zeros(3)
        rot = np.eye(3)
        if k < 3:
            trans[k] = eps
        elif k == 3:
            rot = _rot_y(eps)
        elif k == 4:
            rot = _rot_x(eps)
        else:
            rot = _rot_z(eps)
        d = (project(rot, trans) - base) / eps
        cols.append(np.concatenate([d[:, 0], d[:, 1]]))
    return np.stack(cols, axis=1)


class EgocentricEstimator:
    """IntentEstimator for a worn / held camera; see the module docstring."""

    view = "egocentric"
    name = "embedded-egocentric"

    def __init__(self, config: EgocentricConfig | None = None):
        import cv2

        self.config = c = config or EgocentricConfig()
        preset = {
            "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }[c.flow_preset]
        self._cv2 = cv2
        self._dis = cv2.DISOpticalFlow_create(preset)
        self._smoother = IntentSmoother(c.smoother)
        self._basis_key: tuple[int, int] | None = None
        self.reset()

    def reset(self) -> None:
        self._prev_gray: np.ndarray | None = None
        self._prev_t_s: float | None = None
        self._history: deque[tuple[float, np.ndarray]] = deque()  # (t, per-second motion (6,))
        self._smoother.reset()
        self.last_motion: np.ndarray | None = None  # (6,) per second, for diagnostics
        self.last_gait_score = 0.0

    def update(self, frame: Frame) -> Intent | None:
        cv2 = self._cv2
        img = resize_for_estimation(frame.image_rgb)
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        t = frame.timestamp_s
        prev, prev_t = self._prev_gray, self._prev_t_s
        self._prev_gray, self._prev_t_s = gray, t
        if prev is None or prev.shape != gray.shape or t <= prev_t:
            return None
        dt = t - prev_t
        motion = self._ego_motion(prev, gray)
        if motion is not None:
            self._history.append((t, motion / dt))
        while self._history and self._history[0][0] < t - self.config.gait_window_s:
            self._history.popleft()
        if not self._history:
            return None
        return self._intent(t)

    # -- internals ------------------------------------------------------------------------
    def _ego_motion(self, prev: np.ndarray, gray: np.ndarray) -> np.ndarray | None:
        """Per-frame motion (6,) in ``_DOF`` units, or None when too little texture.

        The floor below the horizon is cut into horizontal bands; each band's median flow of
        its textured pixels (robust to the aperture problem on single edges, to untextured
        patches and to small moving objects) is one (u, v) measurement at the band centre.
        The bands' depths differ, which separates rotation (the same shift at every depth)
        from translation (shift ~ 1 / depth). Roll and vertical translation are not fitted
        (a walker's mean roll is zero; the bob is absorbed by pitch); a small ridge on the
        lateral translation prefers turning over sidestepping when the bands cannot tell.
        """
        cv2, c = self._cv2, self.config
        h, w = gray.shape
        if self._basis_key != (w, h):
            f = (w / 2) / math.tan(math.radians(c.hfov_deg) / 2)
            horizon_px = (h - 1) / 2 - f * math.tan(math.radians(c.pitch_deg))
            top = int(max(0.0, horizon_px + 0.06 * h))
            edges = np.linspace(top, h, c.bands + 1).astype(int)
            self._bands = list(itertools.pairwise(edges))
            centres_y = np.array([(a + b - 1) / 2 for a, b in self._bands], float)
            centres_x = np.full_like(centres_y, (w - 1) / 2)
            basis = motion_basis(centres_x, centres_y, w, h, c)
            self._basis = basis[:, [0, 2, 3, 4]]  # right, forward, yaw, pitch
            if not c.fit_pitch:
                self._basis = self._basis.copy()
                self._basis[:, 3] = 0.0
            self._basis_key = (w, h)
        flow = self._dis.calc(prev, gray, None)
        gx = cv2.Sobel(prev, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(prev, cv2.CV_32F, 0, 1, ksize=3)
        textured = np.hypot(gx, gy) > c.min_gradient * 4  # Sobel 3x3 gains ~4x per unit step
        us, vs, ok = [], [], []
        for a, b in self._bands:
            sel = textured[a:b]
            ok.append(sel.sum() >= c.min_points)
            us.append(float(np.median(flow[a:b, :, 0][sel])) if ok[-1] else 0.0)
            vs.append(float(np.median(flow[a:b, :, 1][sel])) if ok[-1] else 0.0)
        ok = np.array(ok)
        if ok.sum() < 2:
            return None
        rows = np.concatenate([ok, ok])
        a = self._basis[rows]
        y = np.concatenate([us, vs])[rows]
        ridge = np.diag([c.lateral_ridge, 0.0, 0.0, 0.0 if c.fit_pitch else 1.0])
        m = np.linalg.solve(a.T @ a + ridge, a.T @ y)
        out = np.zeros(6)
        out[[0, 2, 3, 4]] = m
        out[2] *= c.forward_gain
        out[1] = float(np.mean(np.array(vs)[ok]))  # the bob signal (px / frame), for the gait
        return out

    def _intent(self, t: float) -> Intent:
        c = self.config
        plausible = [
            (ts, m) for (ts, m) in self._history
            if abs(m[0]) <= c.max_frame_vy_mps and abs(m[3]) <= c.max_frame_yaw_radps
        ]  # fmt: skip
        recent = [m for (ts, m) in plausible if ts >= t - c.evidence_window_s]
        # Textureless or implausible frames: hold the last plausible motion (none: no motion).
        recent = recent or [plausible[-1][1] if plausible else np.zeros(6)]
        mean = np.mean(recent, axis=0)
        # Body frame: forward = camera forward; left = -right; yaw left as fitted.
        vx, vy, yaw = float(mean[2]), float(-mean[0]), float(mean[3])
        self.last_motion = mean
        gait = self._gait_score()
        self.last_gait_score = gait
        speed_evidence = max(
            abs(vx) / c.moving_vx_mps, abs(vy) / c.moving_vy_mps, abs(yaw) / c.moving_yaw_radps
        )
        # A periodic bob backs up weak translation evidence; on its own (bouncing on the
        # spot) it is not enough to walk.
        motion = speed_evidence * (0.7 + 0.6 * gait)
        confidence = min(1.0, 0.4 + 0.6 * max(gait, min(1.0, speed_evidence)))
        raw = VelocityCommand(vx, vy, yaw)
        return self._smoother.update(t, raw, motion, confidence, self.name)

    def _gait_score(self) -> float:
        """Share of the vertical bob's power inside the gait band, over the last window."""
        c = self.config
        if len(self._history) < 8:
            return 0.0
        ts = np.array([h[0] for h in self._history])
        span = ts[-1] - ts[0]
        if span < 1.0:
            return 0.0
        bob = np.array([h[1][1] for h in self._history])
        # Resample on a uniform grid (frames may be dropped), remove the mean, Hann window.
        n = len(ts)
        grid = np.linspace(ts[0], ts[-1], n)
        x = np.interp(grid, ts, bob)
        x = (x - x.mean()) * np.hanning(n)
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(n, d=span / (n - 1))
        lo, hi = c.gait_band_hz
        total = power[1:].sum()
        if total <= 1e-12:
            return 0.0
        return float(power[(freqs >= lo) & (freqs <= hi)].sum() / total)
