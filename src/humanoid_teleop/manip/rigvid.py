"""Imitating an object's motion in a (generated or uploaded) RGB-D video (RIGVid), geometry
part: depth alignment -> 6D object track -> hand targets -> arm joint trajectory.

The model-dependent stages (video generation, monocular depth, the VLM success filter) feed
this with depth frames; the result goes to ``validate.validate_arm_trajectory`` and, on
hardware, through ``arm.execute_with_backtracking`` with the tracked object as feedback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from humanoid_teleop.manip.arm import ArmKinematics, IkResult, Side, retarget_object_trajectory
from humanoid_teleop.manip.geometry import ScaleShift, align_depth_scale_shift
from humanoid_teleop.manip.grid import summary_image
from humanoid_teleop.manip.track import ObjectTrack, TrackerConfig, track_object


@dataclass(frozen=True)
class ObjectImitationConfig:
    side: Side = "right"
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    use_orientation: bool = True  # follow the object's rotation too, not only its path

    def __post_init__(self):
        if self.side not in ("left", "right"):
            raise ValueError(f"side: expected 'left' or 'right', got {self.side!r}")


@dataclass(frozen=True)
class ObjectImitation:
    depth_alignment: ScaleShift | None  # None when the depths were metric already
    track: ObjectTrack  # in the camera frame
    T_pelvis_obj: np.ndarray  # (T, 4, 4) the object trajectory the plan follows
    hand_targets_pelvis: np.ndarray  # (T, 4, 4) palm targets
    q_traj_rad: np.ndarray  # (T, 29)
    ik: tuple[IkResult, ...]

    @property
    def ik_max_position_error_m(self) -> float:
        return max(r.position_error_m for r in self.ik)


def imitate_object_motion(
    depths: np.ndarray,
    K: np.ndarray,
    first_mask: np.ndarray,
    T_pelvis_cam: np.ndarray,
    T_pelvis_hand_at_grasp: np.ndarray,
    q_at_grasp_rad: np.ndarray,
    *,
    grasp_index: int = 0,
    metric_first_depth_m: np.ndarray | None = None,
    config: ObjectImitationConfig | None = None,
) -> ObjectImitation:
    """Depth frames (T, H, W) of the object moving -> the arm motion that moves it so.

    ``depths`` are metric, or relative (a monocular depth model's output) when
    ``metric_first_depth_m`` (H, W) is given: the scale/shift is then fitted on the object's
    mask in the first frame, where the real sensor saw the same scene.
    ``T_pelvis_hand_at_grasp`` is the palm pose when the object was grasped (at frame
    ``grasp_index``), ``q_at_grasp_rad`` (29,) the joints there, which seed the IK.
    """
    cfg = config or ObjectImitationConfig()
    depths = np.asarray(depths, dtype=float)
    alignment = None
    if metric_first_depth_m is not None:
        alignment = align_depth_scale_shift(depths[0], metric_first_depth_m, first_mask)
        depths = alignment.apply(depths)
    track = track_object(depths, K, first_mask, cfg.tracker)
    T_pelvis_obj = np.asarray(T_pelvis_cam, dtype=float) @ track.T_cam_obj
    targets = retarget_object_trajectory(T_pelvis_obj, T_pelvis_hand_at_grasp, grasp_index)
    kin = ArmKinematics(cfg.side)
    q_traj, results = kin.solve_trajectory(
        targets, q_at_grasp_rad, use_orientation=cfg.use_orientation
    )
    return ObjectImitation(alignment, track, T_pelvis_obj, targets, q_traj, tuple(results))


MAX_REGENERATIONS = 5  # RIGVid: a video the filter rejects is regenerated up to 5 times


class NoAcceptableVideoError(RuntimeError):
    """Every generated video was rejected by the success filter; ``attempts`` says why."""

    def __init__(self, message: str, attempts: tuple[Verdict, ...] = ()):
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True)
class Verdict:
    """The success filter's judgement of one generated video."""

    accepted: bool
    answer: str = ""  # the judge's raw text (a VLM's answer), for the attempt log
    error: str | None = None  # why an answer counted as a rejection without saying "no"

    def to_dict(self) -> dict:
        return {"accepted": self.accepted, "answer": self.answer, "error": self.error}


@dataclass(frozen=True)
class FilteredVideo:
    frames: Sequence[np.ndarray]  # the accepted video, (H, W, 3) uint8 frames
    log: tuple[Verdict, ...]  # one verdict per generated video, the last one accepted

    @property
    def attempts(self) -> int:
        """1 = the first generation was accepted."""
        return len(self.log)


def generate_until_accepted(
    generate: Callable[[int], Sequence[np.ndarray]],
    accept: Callable[[np.ndarray], bool | Verdict],
    max_regenerations: int = MAX_REGENERATIONS,
) -> FilteredVideo:
    """``generate(attempt)`` -> frames; ``accept(summary (2H, 2W, 3))`` (the VLM filter,
    ``rigvid_models.VlmSuccessFilter``, or any bool-returning judge) judges the 4-frame
    summary. Returns the first accepted video with the log of every verdict; raises
    ``NoAcceptableVideoError`` (carrying the log) when 1 + ``max_regenerations`` were not."""
    if max_regenerations < 0:
        raise ValueError(f"max_regenerations: expected >= 0, got {max_regenerations}")
    log: list[Verdict] = []
    for attempt in range(max_regenerations + 1):
        frames = generate(attempt)
        verdict = accept(summary_image(frames))
        log.append(verdict if isinstance(verdict, Verdict) else Verdict(bool(verdict)))
        if log[-1].accepted:
            return FilteredVideo(frames, tuple(log))
    answers = "; ".join(repr(v.error or v.answer) for v in log if v.error or v.answer)
    raise NoAcceptableVideoError(
        f"the success filter rejected all {max_regenerations + 1} generated videos"
        + (f" ({answers})" if answers else ""), tuple(log),
    )  # fmt: skip
