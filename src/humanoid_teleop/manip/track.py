"""Weight-free 6D object tracking: depth point clouds + point-to-point ICP (RIGVid's tracker
stand-in).

The object's model is its point cloud in the first frame (from the given mask). Each later
frame is cropped around where the previous pose puts the model, and ICP (nearest neighbours
from a KD-tree, closed-form Kabsch/SVD updates) aligns the model to the crop, starting from
the previous frame's pose. Aligning to the first frame's model rather than chaining
frame-to-frame increments keeps the error from accumulating along the video.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial import cKDTree

from humanoid_teleop.manip.geometry import apply_transform, make_transform, pointmap_from_depth


class TrackingError(RuntimeError):
    """The object was lost: too few points or correspondences to estimate a pose."""


def kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rigid (4, 4) T minimising sum |T source_i - target_i|^2, for paired (N, 3) points."""
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3:
        raise ValueError(f"expected paired (N, 3) points, got {source.shape} and {target.shape}")
    if len(source) < 3:
        raise TrackingError(f"Kabsch needs >= 3 pairs, got {len(source)}")
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    H = (source - mu_s).T @ (target - mu_t)
    U, _, Vt = np.linalg.svd(H)
    # The sign fix keeps a proper rotation when the best orthogonal map is a reflection.
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0])
    R = Vt.T @ D @ U.T
    return make_transform(R, mu_t - R @ mu_s)


@dataclass(frozen=True)
class IcpConfig:
    max_iterations: int = 50
    max_correspondence_m: float = 0.02  # pairs farther apart are outliers (occlusion, clutter)
    tolerance_m: float = 1e-6  # stop when the update moves the points less than this (rms)
    min_correspondences: int = 20

    def __post_init__(self):
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations: expected >= 1, got {self.max_iterations}")
        if not self.max_correspondence_m > 0:
            raise ValueError(f"max_correspondence_m: expected > 0, got {self.max_correspondence_m}")
        if self.min_correspondences < 3:
            raise ValueError(f"min_correspondences: expected >= 3, got {self.min_correspondences}")


@dataclass(frozen=True)
class IcpResult:
    T_target_source: np.ndarray  # (4, 4)
    rms_m: float  # over the final inliers
    inlier_fraction: float
    iterations: int


def icp(
    source: np.ndarray,
    target: np.ndarray,
    T_init: np.ndarray | None = None,
    config: IcpConfig | None = None,
    *,
    target_tree: cKDTree | None = None,
) -> IcpResult:
    """Point-to-point ICP aligning ``source`` (N, 3) onto ``target`` (M, 3)."""
    cfg = config or IcpConfig()
    source = np.asarray(source, dtype=float)
    target = np.asarray(target, dtype=float)
    tree = target_tree if target_tree is not None else cKDTree(target)
    T = np.eye(4) if T_init is None else np.asarray(T_init, dtype=float).copy()
    rms, frac, it = np.inf, 0.0, 0
    for it in range(1, cfg.max_iterations + 1):
        moved = apply_transform(T, source)
        dist, idx = tree.query(moved, distance_upper_bound=cfg.max_correspondence_m)
        ok = np.isfinite(dist)
        if ok.sum() < cfg.min_correspondences:
            raise TrackingError(
                f"ICP: {int(ok.sum())} correspondences within {cfg.max_correspondence_m} m, "
                f"need {cfg.min_correspondences}"
            )
        rms, frac = float(np.sqrt(np.mean(dist[ok] ** 2))), float(ok.mean())
        dT = kabsch(moved[ok], target[idx[ok]])
        T = dT @ T
        step = np.sqrt(np.mean(np.sum((apply_transform(dT, moved[ok]) - moved[ok]) ** 2, 1)))
        if step < cfg.tolerance_m:
            break
    return IcpResult(T, rms, frac, it)


def masked_points(depth_m: np.ndarray, K: np.ndarray, mask: np.ndarray | None = None
                  ) -> np.ndarray:  # fmt: skip
    """(H, W) depth (+ optional (H, W) bool mask) -> (N, 3) valid camera-frame points."""
    pm = pointmap_from_depth(depth_m, K)
    valid = np.all(np.isfinite(pm), axis=-1)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != valid.shape:
            raise ValueError(f"mask: expected {valid.shape}, got {mask.shape}")
        valid &= mask
    return pm[valid]


@dataclass(frozen=True)
class TrackerConfig:
    icp: IcpConfig = IcpConfig()
    crop_margin_m: float = 0.03  # scene points this close to the predicted object are kept
    voxel_m: float = 0.0  # > 0: subsample the model on this grid (speed)
    # A second ICP pass with a tighter gate: once roughly aligned, surface the first frame saw
    # but this one does not (self-occlusion as the object turns) must stop pulling the pose.
    refine_correspondence_m: float = 0.008

    def __post_init__(self):
        if not self.crop_margin_m > 0:
            raise ValueError(f"crop_margin_m: expected > 0, got {self.crop_margin_m}")
        if self.voxel_m < 0:
            raise ValueError(f"voxel_m: expected >= 0, got {self.voxel_m}")
        if not 0 < self.refine_correspondence_m <= self.icp.max_correspondence_m:
            raise ValueError(
                f"refine_correspondence_m: expected in (0, {self.icp.max_correspondence_m}], "
                f"got {self.refine_correspondence_m}"
            )


@dataclass(frozen=True)
class ObjectTrack:
    """``T_cam_obj_m[t]`` (T, 4, 4): the object frame (origin at the first frame's masked
    centroid, axes parallel to the camera's at t = 0) in the camera frame at frame t."""

    T_cam_obj: np.ndarray  # (T, 4, 4)
    rms_m: np.ndarray  # (T,) ICP residual per frame (0 at t = 0)
    inlier_fraction: np.ndarray  # (T,)

    def relative_motion(self) -> np.ndarray:
        """(T, 4, 4) object motion since frame 0, in the camera frame: T_t @ inv(T_0)."""
        return self.T_cam_obj @ np.linalg.inv(self.T_cam_obj[0])


def _voxel_subsample(points: np.ndarray, voxel_m: float) -> np.ndarray:
    if voxel_m <= 0:
        return points
    keys = np.floor(points / voxel_m).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)
    return points[np.sort(first)]


def track_object(
    depths_m: np.ndarray, K: np.ndarray, first_mask: np.ndarray,
    config: TrackerConfig | None = None,
) -> ObjectTrack:  # fmt: skip
    """Track the object selected by ``first_mask`` (H, W) through ``depths_m`` (T, H, W)."""
    cfg = config or TrackerConfig()
    depths = np.asarray(depths_m, dtype=float)
    if depths.ndim != 3 or len(depths) < 1:
        raise ValueError(f"depths_m: expected (T, H, W), got {depths.shape}")
    points0 = masked_points(depths[0], K, first_mask)
    if len(points0) < cfg.icp.min_correspondences:
        raise TrackingError(f"first mask has {len(points0)} valid depth points")
    origin = points0.mean(axis=0)
    model_o = _voxel_subsample(points0 - origin, cfg.voxel_m)  # (N, 3) object frame
    poses = np.zeros((len(depths), 4, 4))
    poses[0] = make_transform(np.eye(3), origin)
    rms = np.zeros(len(depths))
    inliers = np.ones(len(depths))
    for t in range(1, len(depths)):
        scene = masked_points(depths[t], K)
        predicted = apply_transform(poses[t - 1], model_o)
        near, _ = cKDTree(predicted).query(scene, distance_upper_bound=cfg.crop_margin_m)
        crop = scene[np.isfinite(near)]
        if len(crop) < cfg.icp.min_correspondences:
            raise TrackingError(f"frame {t}: {len(crop)} points near the predicted object")
        tree = cKDTree(crop)
        coarse = icp(model_o, crop, poses[t - 1], cfg.icp, target_tree=tree)
        fine_cfg = replace(cfg.icp, max_correspondence_m=cfg.refine_correspondence_m)
        result = icp(model_o, crop, coarse.T_target_source, fine_cfg, target_tree=tree)
        poses[t] = result.T_target_source
        rms[t], inliers[t] = result.rms_m, result.inlier_fraction
    return ObjectTrack(poses, rms, inliers)
