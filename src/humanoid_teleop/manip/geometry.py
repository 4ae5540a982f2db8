"""Camera geometry shared by the manipulation planners (RIGVid, 4D-video-generation helpers).

Conventions: pinhole intrinsics ``K`` (3, 3) in pixels; camera frame x right, y down,
z forward (OpenCV), metres. Poses are homogeneous (4, 4) transforms named ``T_<to>_<from>``:
``p_b = T_b_a @ p_a``. Pixels are (u, v) = (column, row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation


class GeometryError(ValueError):
    """Inputs that no geometric answer can come from (bad shapes, too few valid pixels...)."""


def _intrinsics(K: np.ndarray) -> np.ndarray:
    K = np.asarray(K, dtype=float)
    if K.shape != (3, 3) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise GeometryError(f"K: expected (3, 3) with positive focal lengths, got {K!r}")
    return K


def _transform(T: np.ndarray, name: str) -> np.ndarray:
    T = np.asarray(T, dtype=float)
    if T.shape != (4, 4) or not np.allclose(T[3], [0, 0, 0, 1]):
        raise GeometryError(f"{name}: expected a (4, 4) homogeneous transform, got {T!r}")
    return T


def make_transform(rot: np.ndarray, trans_m: np.ndarray) -> np.ndarray:
    """(3, 3) rotation + (3,) translation -> (4, 4)."""
    T = np.eye(4)
    T[:3, :3] = rot
    T[:3, 3] = trans_m
    return T


def apply_transform(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(4, 4) applied to (..., 3) points."""
    return points @ T[:3, :3].T + T[:3, 3]


def pointmap_from_depth(depth_m: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(H, W) depth along the optical axis -> (H, W, 3) camera-frame points; pixels with no
    valid depth (<= 0, nan, inf) are nan so they cannot be mistaken for the camera origin."""
    K = _intrinsics(K)
    depth = np.asarray(depth_m, dtype=float)
    if depth.ndim != 2:
        raise GeometryError(f"depth_m: expected (H, W), got {depth.shape}")
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(float)
    valid = np.isfinite(depth) & (depth > 0)
    z = np.where(valid, depth, np.nan)
    x = (u - K[0, 2] - K[0, 1] * (v - K[1, 2]) / K[1, 1]) / K[0, 0] * z
    y = (v - K[1, 2]) / K[1, 1] * z
    return np.stack([x, y, z], axis=-1)


def project_points(points_c_m: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 3) camera-frame points -> (N, 2) pixels (u, v); points at or behind the camera
    plane give nan."""
    K = _intrinsics(K)
    p = np.asarray(points_c_m, dtype=float).reshape(-1, 3)
    z = np.where(p[:, 2] > 1e-9, p[:, 2], np.nan)
    uvw = p @ K.T
    return np.stack([uvw[:, 0] / z, uvw[:, 1] / z], axis=-1)


def reproject_pixels(
    uv_a_px: np.ndarray, depth_a_m: np.ndarray, K_a: np.ndarray, K_b: np.ndarray,
    T_b_a: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Pixels (N, 2) of view a with their depths (N,) -> (pixels (N, 2) in view b, the points
    (N, 3) in camera b's frame). The two views are calibrated: ``T_b_a`` maps a's frame to b's."""
    K_a, K_b = _intrinsics(K_a), _intrinsics(K_b)
    T_b_a = _transform(T_b_a, "T_b_a")
    uv = np.asarray(uv_a_px, dtype=float).reshape(-1, 2)
    z = np.asarray(depth_a_m, dtype=float).reshape(-1)
    if len(z) != len(uv):
        raise GeometryError(f"depth_a_m: expected {len(uv)} depths, got {len(z)}")
    rays = np.linalg.solve(K_a, np.stack([uv[:, 0], uv[:, 1], np.ones(len(uv))]))  # (3, N)
    points_a = (rays * (z / rays[2])).T
    points_b = apply_transform(T_b_a, points_a)
    return project_points(points_b, K_b), points_b


@dataclass(frozen=True)
class ScaleShift:
    """metric_depth ~= scale * predicted_depth + shift over the fitted pixels."""

    scale: float
    shift_m: float
    rms_residual_m: float
    num_pixels: int

    def apply(self, predicted_depth: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(predicted_depth, dtype=float) + self.shift_m


def align_depth_scale_shift(
    predicted_depth: np.ndarray, metric_depth_m: np.ndarray, mask: np.ndarray | None = None,
    *, min_pixels: int = 10,
) -> ScaleShift:  # fmt: skip
    """Least-squares scale and shift that bring a monocular depth prediction (relative,
    up to an affine map) onto measured metric depth, over ``mask`` (H, W) bool (e.g. around the
    manipulated object, where the metric sensor is trusted) and pixels valid in both."""
    pred = np.asarray(predicted_depth, dtype=float)
    metric = np.asarray(metric_depth_m, dtype=float)
    if pred.shape != metric.shape:
        raise GeometryError(f"depth shapes differ: {pred.shape} vs {metric.shape}")
    valid = np.isfinite(pred) & np.isfinite(metric) & (metric > 0)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != pred.shape:
            raise GeometryError(f"mask: expected {pred.shape}, got {mask.shape}")
        valid &= mask
    n = int(valid.sum())
    if n < max(2, min_pixels):
        raise GeometryError(f"depth alignment needs >= {max(2, min_pixels)} valid pixels, got {n}")
    x, y = pred[valid], metric[valid]
    if np.ptp(x) < 1e-12:
        raise GeometryError("predicted depth is constant over the mask: scale is unobservable")
    A = np.stack([x, np.ones_like(x)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(A, y, rcond=None)
    rms = float(np.sqrt(np.mean((A @ [scale, shift] - y) ** 2)))
    return ScaleShift(float(scale), float(shift), rms, n)


def fuse_poses(
    T_a: np.ndarray, confidence_a: float, T_b: np.ndarray, confidence_b: float
) -> np.ndarray:
    """Confidence-weighted fusion of two estimates (4, 4) of one pose (e.g. from two views,
    already in a common frame): weighted mean translation and weighted chordal-L2 mean
    rotation. A zero-confidence estimate is ignored; both zero is an error."""
    T_a, T_b = _transform(T_a, "T_a"), _transform(T_b, "T_b")
    w = np.array([confidence_a, confidence_b], dtype=float)
    if np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise GeometryError(f"confidences: expected >= 0 with a positive sum, got {w}")
    w = w / w.sum()
    rot = Rotation.from_matrix(np.stack([T_a[:3, :3], T_b[:3, :3]])).mean(weights=w)
    return make_transform(rot.as_matrix(), w[0] * T_a[:3, 3] + w[1] * T_b[:3, 3])


def finger_centroid_distance_m(finger_a_points: np.ndarray, finger_b_points: np.ndarray) -> float:
    """Distance between the centroids of two fingers' points (N, 3) and (M, 3), ignoring nan
    points (pixels without depth)."""
    a = np.asarray(finger_a_points, dtype=float).reshape(-1, 3)
    b = np.asarray(finger_b_points, dtype=float).reshape(-1, 3)
    a, b = a[np.all(np.isfinite(a), axis=1)], b[np.all(np.isfinite(b), axis=1)]
    if len(a) == 0 or len(b) == 0:
        raise GeometryError("a finger has no valid points")
    return float(np.linalg.norm(a.mean(axis=0) - b.mean(axis=0)))


@dataclass(frozen=True)
class GripperConfig:
    """Per-task threshold on the finger-centroid distance; the hysteresis band stops the
    state chattering when the measured distance is noisy near the threshold."""

    threshold_m: float = 0.04
    hysteresis_m: float = 0.01

    def __post_init__(self):
        if not self.threshold_m > 0:
            raise ValueError(f"threshold_m: expected > 0, got {self.threshold_m}")
        if not 0 <= self.hysteresis_m < 2 * self.threshold_m:
            raise ValueError(
                f"hysteresis_m: expected 0 <= h < 2 * threshold, got {self.hysteresis_m}"
            )

    @property
    def close_below_m(self) -> float:
        return self.threshold_m - self.hysteresis_m / 2

    @property
    def open_above_m(self) -> float:
        return self.threshold_m + self.hysteresis_m / 2


# Per-task presets: the width (m) of what the fingers close on in each task. Holding it, the
# finger centroids sit one finger thickness further apart than the object is wide (each
# centroid is half a finger inside its surface), so a threshold that suits a pen reads a
# hand holding a mug as open, and one that suits a mug reads a pinch as closed too late.
GRIPPER_TASK_OBJECT_WIDTH_M: dict[str, float] = {
    "pinch": 0.01,  # pen, card, cable
    "pick": 0.04,  # small box, fruit, tool handle
    "drawer": 0.025,  # a handle held between the fingers
    "bottle": 0.065,  # bottle, can; pouring
    "mug": 0.08,  # mug body, jar
}


def gripper_config_for_object(width_m: float, *, finger_thickness_m: float = 0.015,
                              margin_m: float = 0.01) -> GripperConfig:  # fmt: skip
    """Closed = the finger centroids no further apart than holding an object ``width_m``
    wide (+ ``margin_m`` for a loose grip and depth noise); the hysteresis band is the margin."""
    if not width_m >= 0 or not finger_thickness_m >= 0 or not margin_m > 0:
        raise ValueError(f"expected width_m >= 0, finger_thickness_m >= 0, margin_m > 0, got "
                         f"{width_m}, {finger_thickness_m}, {margin_m}")  # fmt: skip
    return GripperConfig(threshold_m=width_m + finger_thickness_m + margin_m, hysteresis_m=margin_m)


def gripper_preset(task: str) -> GripperConfig:
    """The gripper thresholds of a task in ``GRIPPER_TASK_OBJECT_WIDTH_M``."""
    if task not in GRIPPER_TASK_OBJECT_WIDTH_M:
        raise ValueError(
            f"task: expected one of {sorted(GRIPPER_TASK_OBJECT_WIDTH_M)}, got {task!r}"
        )
    return gripper_config_for_object(GRIPPER_TASK_OBJECT_WIDTH_M[task])


class GripperStateEstimator:
    """Open/closed from a stream of finger distances; starts open unless told otherwise."""

    def __init__(self, config: GripperConfig | None = None, *, closed: bool = False):
        self.config = config or GripperConfig()
        self.closed = closed

    def update(self, distance_m: float) -> bool:
        """Feed one distance; returns whether the gripper is closed."""
        if not np.isfinite(distance_m) or distance_m < 0:
            raise GeometryError(f"distance_m: expected finite >= 0, got {distance_m}")
        if self.closed and distance_m > self.config.open_above_m:
            self.closed = False
        elif not self.closed and distance_m < self.config.close_below_m:
            self.closed = True
        return self.closed

    def run(self, distances_m: np.ndarray) -> np.ndarray:
        """(T,) distances -> (T,) bool closed."""
        return np.array([self.update(float(d)) for d in np.asarray(distances_m).reshape(-1)])
