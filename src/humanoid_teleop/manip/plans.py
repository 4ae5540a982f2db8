"""Manipulation plan jobs: what ``POST /api/v1/plan/<planner>`` queues and ``humanoid-teleop
plan <planner>`` runs in the foreground.

    arm     palm waypoints (pelvis frame) -> IK -> joint trajectory -> twin validation
    visual  first frame + instruction and/or 2D trajectory -> image model -> 3x3 plan grid
    rigvid  RGB-D frames + first-frame object mask -> 6D object track -> hand targets -> IK
            -> joint trajectory -> twin validation

Requests are checked completely before a job exists (``PlanRequestError``: the service's
422), so a job fails only on what needs the work itself to find out (a waypoint out of
reach, an object lost by the tracker, a model that does not load). Artefacts are written into
a ``.work-*`` folder inside the output folder and renamed into place, ``report.json`` last:
its presence means every other artefact of the job is complete (the job workers rely on it).

Validated trajectories (arm, rigvid): ``trajectory.npz`` = ``t_s`` (T,), ``q_rad`` (T, 29)
the planned joint targets at ``waypoint_dt_s``, ``joint_names``, and ``t_measured_s`` (N,),
``q_measured_rad`` (N, 29) what the twin's joints did at the control rate (t = 0 at the start
of the lead-in from the stand pose). The verdict is ``validate.validate_arm_trajectory``'s:
upright throughout, every judged arm joint within ``tracking_tolerance_rad`` of the plan
after the lead-in, torques within the motors' limits.

This module imports only numpy at the top: the server imports it for the file lists.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

Planner = Literal["arm", "visual", "rigvid"]
PLANNERS: tuple[str, ...] = ("arm", "visual", "rigvid")
Progress = Callable[[str, float], None]

# The files of a plan job's folder, beside report.json: inputs first, then artefacts.
PLAN_INPUTS: dict[str, tuple[str, ...]] = {
    "arm": ("input.json",),
    "visual": ("input.json", "input.png"),
    "rigvid": ("input.json", "input.npz"),
}
PLAN_FRAMES: tuple[str, ...] = tuple(f"frame_{i}.png" for i in range(9))
PLAN_ARTIFACTS: dict[str, tuple[str, ...]] = {
    "arm": ("trajectory.npz", "preview.mp4", "report.json"),
    "visual": ("grid.png", "overlay.png", *PLAN_FRAMES, "preview.mp4", "report.json"),
    "rigvid": ("object_trajectory.json", "track.png", "trajectory.npz", "preview.mp4",
               "report.json"),
}  # fmt: skip
# Report keys too big for job listings (the job's own page gets them).
BULKY_REPORT_KEYS: tuple[str, ...] = ("q_traj_rad", "palm_path_pelvis_m")

# Input limits: beyond them a request is refused up front rather than run for minutes.
MAX_WAYPOINTS = 100
MAX_REACH_M = 1.5  # |coordinate| of a palm waypoint, pelvis frame
MAX_SPEED_MPS = 1.0
MAX_IMAGE_SIDE_PX = 2048
MIN_IMAGE_SIDE_PX = 16
MAX_TRAJECTORY_POINTS = 256
MAX_INSTRUCTION_CHARS = 500
MAX_RIGVID_FRAMES = 600
MAX_RIGVID_SIDE_PX = 1280
MAX_FPS = 60.0


class PlanRequestError(ValueError):
    """A plan request that cannot be planned as given (the service answers 422)."""


def job_kind(planner: str) -> str:
    """The job table's ``kind`` of a planner's jobs."""
    if planner not in PLANNERS:
        raise PlanRequestError(f"planner: expected one of {PLANNERS}, got {planner!r}")
    return f"plan-{planner}"


def planner_of(kind: str) -> str:
    planner = kind.removeprefix("plan-")
    if kind == planner or planner not in PLANNERS:
        raise ValueError(f"job kind {kind!r} is not a plan job")
    return planner


def plan_errors() -> tuple[type[Exception], ...]:
    """What a plan fails with on valid input (reported as the job's error, no traceback):
    a waypoint out of reach, a lost object, plus ValueError (a model that does not load,
    geometry with no answer)."""
    from humanoid_teleop.manip.arm import IkError
    from humanoid_teleop.manip.track import TrackingError

    return (ValueError, IkError, TrackingError)


def _side(value: Any) -> str:
    if value not in ("left", "right"):
        raise PlanRequestError(f"side: expected 'left' or 'right', got {value!r}")
    return value


def _number(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo < value <= hi:
        raise PlanRequestError(f"{name}: expected a number in ({lo:g}, {hi:g}], got {value!r}")
    return float(value)


def _points(name: str, value: Any, dim: int, max_points: int, min_points: int) -> np.ndarray:
    try:
        pts = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise PlanRequestError(f"{name}: expected a list of points of {dim} numbers") from exc
    if pts.ndim != 2 or pts.shape[1] != dim or not min_points <= len(pts) <= max_points:
        raise PlanRequestError(
            f"{name}: expected {min_points}..{max_points} points of {dim} numbers, got shape "
            f"{pts.shape}"
        )
    if not np.all(np.isfinite(pts)):
        raise PlanRequestError(f"{name}: every coordinate must be finite")
    return pts


def _only_keys(obj: Any, allowed: tuple[str, ...], what: str) -> dict:
    if not isinstance(obj, dict):
        raise PlanRequestError(f"{what}: expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise PlanRequestError(f"{what}: unknown fields {unknown}; expected {list(allowed)}")
    return obj


# -- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmPlanRequest:
    """Palm waypoints (N, 3), pelvis frame (x forward, y left, z up), or offsets from the
    palm's ready position (the arm raised in front of the body) when ``relative``."""

    points_m: np.ndarray
    side: str = "right"
    relative: bool = False
    speed_mps: float = 0.15

    @classmethod
    def from_json(cls, obj: Any) -> ArmPlanRequest:
        obj = _only_keys(obj, ("points", "side", "relative", "speed_mps"), "arm plan")
        if "points" not in obj:
            raise PlanRequestError("points: required, a list of [x, y, z] palm waypoints (m)")
        points = _points("points", obj["points"], 3, MAX_WAYPOINTS, 1)
        if np.abs(points).max() > MAX_REACH_M:
            raise PlanRequestError(f"points: coordinates beyond {MAX_REACH_M} m of the pelvis")
        relative = obj.get("relative", False)
        if not isinstance(relative, bool):
            raise PlanRequestError(f"relative: expected true or false, got {relative!r}")
        speed = _number("speed_mps", obj.get("speed_mps", 0.15), 0.0, MAX_SPEED_MPS)
        return cls(points, _side(obj.get("side", "right")), relative, speed)

    def to_json(self) -> dict:
        return {"points": self.points_m.tolist(), "side": self.side, "relative": self.relative,
                "speed_mps": self.speed_mps}  # fmt: skip


@dataclass(frozen=True)
class VisualPlanRequest:
    """A text instruction, a 2D trajectory (N, 2) in pixels (x, y) of the first frame drawn
    as an arrow, or both."""

    instruction: str = ""
    trajectory_px: np.ndarray | None = None

    @classmethod
    def from_json(cls, obj: Any) -> VisualPlanRequest:
        obj = _only_keys(obj, ("instruction", "trajectory"), "visual plan")
        instruction = obj.get("instruction") or ""
        if not isinstance(instruction, str) or len(instruction) > MAX_INSTRUCTION_CHARS:
            raise PlanRequestError(
                f"instruction: expected text of at most {MAX_INSTRUCTION_CHARS} characters"
            )
        trajectory = obj.get("trajectory")
        if trajectory is not None:
            trajectory = _points("trajectory", trajectory, 2, MAX_TRAJECTORY_POINTS, 2)
        if not instruction.strip() and trajectory is None:
            raise PlanRequestError("a visual plan needs an instruction, a trajectory, or both")
        return cls(instruction.strip(), trajectory)

    def check_frame(self, frame_rgb: np.ndarray) -> None:
        """The trajectory must lie on the frame it is drawn over."""
        if self.trajectory_px is None:
            return
        h, w = frame_rgb.shape[:2]
        x, y = self.trajectory_px.T
        if x.min() < 0 or y.min() < 0 or x.max() > w - 1 or y.max() > h - 1:
            raise PlanRequestError(
                f"trajectory: points must lie inside the {w}x{h} image (x in 0..{w - 1}, "
                f"y in 0..{h - 1})"
            )

    def to_json(self) -> dict:
        traj = None if self.trajectory_px is None else self.trajectory_px.tolist()
        return {"instruction": self.instruction, "trajectory": traj}


@dataclass(frozen=True)
class RigvidPlanRequest:
    """Options of an object-imitation plan; the frames come as an .npz (``RigvidInput``)."""

    side: str = "right"
    fps: float = 10.0  # the frames' rate: consecutive object poses become waypoints this far apart
    grasp_index: int = 0  # the frame at which the hand holds the object

    @classmethod
    def from_json(cls, obj: Any) -> RigvidPlanRequest:
        obj = _only_keys(obj, ("side", "fps", "grasp_index"), "rigvid plan")
        fps = _number("fps", obj.get("fps", 10.0), 0.0, MAX_FPS)
        grasp = obj.get("grasp_index", 0)
        if isinstance(grasp, bool) or not isinstance(grasp, int) or grasp < 0:
            raise PlanRequestError(f"grasp_index: expected an integer >= 0, got {grasp!r}")
        return cls(_side(obj.get("side", "right")), fps, grasp)

    def to_json(self) -> dict:
        return asdict(self)


# -- input files -----------------------------------------------------------------------------------


def decode_image(data: bytes) -> np.ndarray:
    """PNG / JPEG / WebP / BMP bytes -> (H, W, 3) uint8 RGB; PlanRequestError otherwise."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR) if data else None
    if bgr is None:
        raise PlanRequestError("image: not a decodable PNG, JPEG, WebP or BMP image")
    h, w = bgr.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE_PX or max(h, w) > MAX_IMAGE_SIDE_PX:
        raise PlanRequestError(f"image: expected sides of {MIN_IMAGE_SIDE_PX}.."
                               f"{MAX_IMAGE_SIDE_PX} px, got {w}x{h}")  # fmt: skip
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: could not write the PNG")


def read_png(path: Path) -> np.ndarray:
    return decode_image(Path(path).read_bytes())


@dataclass(frozen=True)
class RigvidInput:
    """The arrays of a rigvid plan's .npz (names are the file's keys):

    - ``depth`` (T, H, W) float: metres along the optical axis, or a monocular model's
      relative depth when ``metric_first_depth`` is given; <= 0 / nan = no depth.
    - ``K`` (3, 3) pinhole intrinsics in pixels.
    - ``mask`` (H, W) bool: the object in frame 0.
    - ``T_pelvis_cam`` (4, 4): the camera in the robot's pelvis frame (camera axes OpenCV:
      x right, y down, z forward).
    - optional ``rgb`` (T, H, W, 3) uint8: only for ``track.png`` (the path over frame 0).
    - optional ``metric_first_depth`` (H, W): a metric depth of frame 0; the relative depths
      are scaled onto it over the mask.
    - optional ``T_pelvis_hand_at_grasp`` (4, 4): the palm when it holds the object at
      ``grasp_index``; default: the palm of the ready pose (arm raised in front).
    """

    depth: np.ndarray
    K: np.ndarray
    mask: np.ndarray
    T_pelvis_cam: np.ndarray
    rgb: np.ndarray | None = None
    metric_first_depth: np.ndarray | None = None
    T_pelvis_hand_at_grasp: np.ndarray | None = None

    REQUIRED = ("depth", "K", "mask", "T_pelvis_cam")
    OPTIONAL = ("rgb", "metric_first_depth", "T_pelvis_hand_at_grasp")

    @classmethod
    def load(cls, path: Path) -> RigvidInput:
        """Read and check the .npz; PlanRequestError names the first array that is wrong."""
        import zipfile

        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise PlanRequestError(f"input: not a readable .npz of plain arrays ({exc})") from exc
        unknown = sorted(set(arrays) - set(cls.REQUIRED) - set(cls.OPTIONAL))
        missing = [k for k in cls.REQUIRED if k not in arrays]
        if missing or unknown:
            raise PlanRequestError(f"input.npz: missing arrays {missing}, unknown arrays "
                                   f"{unknown}; expected {list(cls.REQUIRED)} + optional "
                                   f"{list(cls.OPTIONAL)}")  # fmt: skip
        return cls.checked(arrays)

    @classmethod
    def checked(cls, a: dict[str, np.ndarray]) -> RigvidInput:
        """The arrays as a RigvidInput, after the shape/dtype/rigidity checks (also used by
        ``rigvid_models`` for the first frame it generates a video from)."""
        def numeric(name: str, shape: tuple) -> np.ndarray:
            x = a[name]
            if x.dtype.kind not in "fiub" or x.shape != shape:
                raise PlanRequestError(
                    f"{name}: expected a numeric array of shape {shape}, got {x.dtype} {x.shape}"
                )
            return x.astype(float) if x.dtype.kind != "b" else x

        depth = a["depth"]
        if depth.ndim != 3 or depth.dtype.kind not in "fiu":
            raise PlanRequestError(f"depth: expected (T, H, W) numbers, got {depth.dtype} "
                                   f"{depth.shape}")  # fmt: skip
        t, h, w = depth.shape
        if not 2 <= t <= MAX_RIGVID_FRAMES or not 8 <= min(h, w) <= max(h, w) <= MAX_RIGVID_SIDE_PX:
            raise PlanRequestError(
                f"depth: expected 2..{MAX_RIGVID_FRAMES} frames of 8..{MAX_RIGVID_SIDE_PX} px "
                f"sides, got {depth.shape}"
            )
        K = numeric("K", (3, 3))
        if not (np.all(np.isfinite(K)) and K[0, 0] > 0 and K[1, 1] > 0):
            raise PlanRequestError("K: expected finite intrinsics with positive focal lengths")
        mask = numeric("mask", (h, w)).astype(bool)
        if not mask.any():
            raise PlanRequestError("mask: selects no pixel (the object in frame 0)")
        transforms = {}
        for name in ("T_pelvis_cam", "T_pelvis_hand_at_grasp"):
            if name in a:
                T = numeric(name, (4, 4))
                R = T[:3, :3]
                if not (np.allclose(T[3], [0, 0, 0, 1]) and np.allclose(R @ R.T, np.eye(3),
                                                                        atol=1e-4)):  # fmt: skip
                    raise PlanRequestError(f"{name}: expected a rigid (4, 4) homogeneous "
                                           "transform (orthonormal rotation, last row 0 0 0 1)")  # fmt: skip
                transforms[name] = T
        rgb = a.get("rgb")
        if rgb is not None and (rgb.dtype != np.uint8 or rgb.shape != (t, h, w, 3)):
            raise PlanRequestError(
                f"rgb: expected uint8 {(t, h, w, 3)}, got {rgb.dtype} {rgb.shape}"
            )
        metric = numeric("metric_first_depth", (h, w)) if "metric_first_depth" in a else None
        return cls(depth.astype(float), K, mask, transforms["T_pelvis_cam"], rgb, metric,
                   transforms.get("T_pelvis_hand_at_grasp"))  # fmt: skip

    def check(self, request: RigvidPlanRequest) -> None:
        if request.grasp_index >= len(self.depth):
            raise PlanRequestError(f"grasp_index: expected 0..{len(self.depth) - 1}, "
                                   f"got {request.grasp_index}")  # fmt: skip


# -- running ---------------------------------------------------------------------------------------


def _write_atomically(out_dir: Path, write: Callable[[Path], dict]) -> dict:
    """``write(work)`` fills a fresh ``.work-*`` folder and returns the report; the files are
    then renamed into ``out_dir``, report.json last (a reader never sees half a result)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=out_dir))
    try:
        report = write(work)
        (work / "report.json").write_text(json.dumps(report, indent=1))
        for path in sorted(work.iterdir()):
            if path.name != "report.json":
                path.replace(out_dir / path.name)
        (work / "report.json").replace(out_dir / "report.json")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _staged(progress: Progress | None, stages: dict[str, float]) -> Progress:
    """Overall progress from (stage, fraction within the stage); ``stages`` = start fractions."""
    names = list(stages)

    def report(stage: str, fraction: float) -> None:
        if progress is None:
            return
        i = names.index(stage)
        lo, hi = stages[stage], stages[names[i + 1]] if i + 1 < len(names) else 1.0
        progress(stage, lo + (hi - lo) * min(max(fraction, 0.0), 1.0))

    return report


def _validated_trajectory(work: Path, q_traj_rad: np.ndarray, dt_s: float, side: str) -> dict:
    """Validate in the twin (preview.mp4 on the way), write trajectory.npz; the report part."""
    from humanoid_teleop import g1
    from humanoid_teleop.manip.validate import ArmValidationConfig, validate_arm_trajectory

    config = ArmValidationConfig(arm=side)  # the documented tolerance: judge the moving arm
    tolerance = {"tracking_tolerance_rad": config.tracking_tolerance_rad,
                 "max_torque_ratio": config.max_torque_ratio, "lead_in_s": config.lead_in_s,
                 "settle_s": config.settle_s}  # fmt: skip
    result = validate_arm_trajectory(q_traj_rad, dt_s, config, video=work / "preview.mp4")
    dt_control = result.duration_s / max(len(result.q_measured_rad), 1)
    np.savez(work / "trajectory.npz", t_s=np.arange(len(q_traj_rad)) * dt_s, q_rad=q_traj_rad,
             joint_names=np.array(g1.JOINT_NAMES),
             t_measured_s=np.arange(len(result.q_measured_rad)) * dt_control,
             q_measured_rad=result.q_measured_rad)  # fmt: skip
    return {
        "side": side,
        "joint_names": list(g1.JOINT_NAMES),
        "waypoint_dt_s": dt_s,
        "q_traj_rad": np.asarray(q_traj_rad).tolist(),
        "validation": result.to_dict(),
        "tolerance": tolerance,
        "passed": result.passed,
    }


def _publish_validated(
    out_dir: Path, report: dict, q_traj_rad: np.ndarray, dt_s: float, side: str,
    stage: Progress, started: float, write_more: Callable[[Path], None] | None = None,
) -> dict:  # fmt: skip
    """The shared tail of the arm and rigvid plans: ``write_more(work)`` (the planner's own
    artefacts), validation in the twin, then everything published with the report."""

    def write(work: Path) -> dict:
        stage("validate", 0.0)
        if write_more is not None:
            write_more(work)
        report.update(_validated_trajectory(work, q_traj_rad, dt_s, side))
        stage("write", 0.0)
        report["wall_s"] = round(time.perf_counter() - started, 2)
        return report

    published = _write_atomically(out_dir, write)
    stage("write", 1.0)
    return published


def run_arm_plan(request: ArmPlanRequest, out_dir: Path, progress: Progress | None = None) -> dict:
    """Palm waypoints -> joint trajectory validated in the twin. Raises ``arm.IkError`` when
    a waypoint is out of reach."""
    from humanoid_teleop.manip.reach import ReachConfig, reach_trajectory
    from humanoid_teleop.manip.validate import ArmValidationConfig

    started = time.perf_counter()
    stage = _staged(progress, {"ik": 0.0, "validate": 0.1, "write": 0.95})
    stage("ik", 0.0)
    config = ReachConfig(side=request.side, speed_mps=request.speed_mps,
                         validation=ArmValidationConfig(arm=request.side))  # fmt: skip
    reach = reach_trajectory(request.points_m, config, relative=request.relative)

    report = {"planner": "arm", "request": request.to_json(),
              "palm_path_pelvis_m": reach.palm_path_pelvis_m.tolist(),
              "ik_max_position_error_m": reach.ik_max_position_error_m}  # fmt: skip
    return _publish_validated(out_dir, report, reach.q_traj_rad, config.waypoint_dt_s,
                              request.side, stage, started)  # fmt: skip


def _write_slideshow(path: Path, frames: list[np.ndarray], fps: float = 2.0) -> None:
    """The 9 plan frames as a video (yuv420p wants even sides: an odd last row/column goes)."""
    from humanoid_teleop.sim.render import Mp4Writer

    h, w = frames[0].shape[0] // 2 * 2, frames[0].shape[1] // 2 * 2
    with Mp4Writer(path, w, h, fps) as mp4:
        for frame in frames:
            mp4.write(np.ascontiguousarray(frame[:h, :w]))


def run_visual_plan(
    request: VisualPlanRequest, frame_rgb: np.ndarray, load_pipeline: Callable[[], Any],
    out_dir: Path, progress: Progress | None = None, *, model: str = "",
) -> dict:  # fmt: skip
    """First frame + instruction/trajectory -> plan grid, its 9 frames and a slideshow.

    ``load_pipeline()`` returns the image pipeline (``planner.load_image_planner``); it is
    called here so loading a large model shows as this job's ``load`` stage."""
    from humanoid_teleop.manip.planner import make_plan

    request.check_frame(frame_rgb)
    started = time.perf_counter()
    stage = _staged(progress, {"load": 0.0, "generate": 0.3, "write": 0.9})
    stage("load", 0.0)
    pipeline = load_pipeline()
    stage("generate", 0.0)
    plan = make_plan(pipeline, frame_rgb, instruction=request.instruction,
                     trajectory_px=request.trajectory_px)  # fmt: skip

    def write(work: Path) -> dict:
        stage("write", 0.0)
        write_png(work / "grid.png", plan.grid_rgb)
        if request.trajectory_px is not None:
            write_png(work / "overlay.png", plan.condition_rgb)
        for name, frame in zip(PLAN_FRAMES, plan.frames_rgb, strict=True):
            write_png(work / name, frame)
        _write_slideshow(work / "preview.mp4", list(plan.frames_rgb))
        return {
            "planner": "visual", "request": request.to_json(), "model": model,
            "prompt": plan.prompt, "frame_size": [frame_rgb.shape[1], frame_rgb.shape[0]],
            "grid_size": [plan.grid_rgb.shape[1], plan.grid_rgb.shape[0]],
            "frames": list(PLAN_FRAMES),
            # A plan grid is images only: motion comes from it through depth (rigvid).
            "validated": False, "wall_s": round(time.perf_counter() - started, 2),
        }  # fmt: skip

    report = _write_atomically(out_dir, write)
    stage("write", 1.0)
    return report


def _grasp(side: str, T_pelvis_hand: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(palm pose (4, 4), joints (29,)) holding the object at the grasp frame."""
    from humanoid_teleop.manip.arm import ArmKinematics, IkError
    from humanoid_teleop.manip.reach import ready_pose_rad

    kin = ArmKinematics(side)
    q0 = ready_pose_rad(side)
    if T_pelvis_hand is None:
        return kin.forward(q0), q0
    r = kin.solve(T_pelvis_hand[:3, 3], T_pelvis_hand[:3, :3], q0)
    if not r.converged:
        raise IkError(f"T_pelvis_hand_at_grasp: out of reach (missed by "
                      f"{r.position_error_m:.3f} m / {math.degrees(r.rotation_error_rad):.1f} deg)")  # fmt: skip
    return T_pelvis_hand, r.q_rad


def run_rigvid_plan(
    request: RigvidPlanRequest, data: RigvidInput, out_dir: Path,
    progress: Progress | None = None,
) -> dict:  # fmt: skip
    """RGB-D frames of an object moving -> the arm motion that moves it so, validated."""
    from humanoid_teleop.manip.geometry import project_points
    from humanoid_teleop.manip.grid import draw_trajectory
    from humanoid_teleop.manip.rigvid import ObjectImitationConfig, imitate_object_motion

    data.check(request)
    started = time.perf_counter()
    stage = _staged(progress, {"track": 0.0, "validate": 0.4, "write": 0.95})
    stage("track", 0.0)
    hand, q_grasp = _grasp(request.side, data.T_pelvis_hand_at_grasp)
    result = imitate_object_motion(
        data.depth, data.K, data.mask, data.T_pelvis_cam, hand, q_grasp,
        grasp_index=request.grasp_index, metric_first_depth_m=data.metric_first_depth,
        config=ObjectImitationConfig(side=request.side),
    )  # fmt: skip
    dt = 1.0 / request.fps

    def write_track(work: Path) -> None:
        align = result.depth_alignment
        objects = {
            "t_s": (np.arange(len(result.T_pelvis_obj)) * dt).tolist(),
            "T_pelvis_obj": result.T_pelvis_obj.tolist(),
            "T_cam_obj": result.track.T_cam_obj.tolist(),
            "hand_targets_pelvis": result.hand_targets_pelvis.tolist(),
            "icp_rms_m": result.track.rms_m.tolist(),
            "icp_inlier_fraction": result.track.inlier_fraction.tolist(),
            "depth_alignment": None if align is None else asdict(align),
        }
        (work / "object_trajectory.json").write_text(json.dumps(objects, indent=1))
        if data.rgb is not None:  # the object's path over the first frame
            uv = project_points(result.track.T_cam_obj[:, :3, 3], data.K)
            uv = uv[np.all(np.isfinite(uv), axis=1)]
            if len(uv) >= 2:
                write_png(work / "track.png", draw_trajectory(data.rgb[0], uv))

    report = {"planner": "rigvid", "request": request.to_json(), "frames": len(data.depth),
              "grasp_index": request.grasp_index,
              "ik_max_position_error_m": result.ik_max_position_error_m,
              "icp_max_rms_m": float(result.track.rms_m.max())}  # fmt: skip
    return _publish_validated(out_dir, report, result.q_traj_rad, dt, request.side, stage,
                              started, write_track)  # fmt: skip


# -- the job child's side ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImagePlannerSource:
    """Where the visual planner's model comes from (the server's HT_IMAGE_PLANNER_* settings)."""

    path: Path | None = None
    lora: Path | None = None
    steps: int | None = None

    def problem(self) -> str | None:
        """Why a visual plan cannot run now, or None. Cheap: no model is loaded."""
        import importlib.util

        if self.path is None:
            return ("the visual planner is not configured: set HT_IMAGE_PLANNER_PATH to a local "
                    "diffusers image-to-image checkpoint directory")  # fmt: skip
        if not (Path(self.path) / "model_index.json").is_file():
            return f"the visual planner's checkpoint {self.path} has no model_index.json"
        if self.lora is not None and not Path(self.lora).exists():
            return f"the visual planner's LoRA {self.lora} does not exist"
        if importlib.util.find_spec("diffusers") is None:
            return "the visual planner needs diffusers: pip install -e '.[manip]'"
        return None

    def load(self):
        from humanoid_teleop.manip.planner import PlannerLoadError, load_image_planner

        problem = self.problem()
        if problem is not None:
            raise PlannerLoadError(problem)
        return load_image_planner(self.path, self.lora, num_inference_steps=self.steps)

    def to_json(self) -> dict:
        return {"path": None if self.path is None else str(self.path),
                "lora": None if self.lora is None else str(self.lora), "steps": self.steps}  # fmt: skip

    @classmethod
    def from_json(cls, obj: dict) -> ImagePlannerSource:
        return cls(Path(obj["path"]) if obj.get("path") else None,
                   Path(obj["lora"]) if obj.get("lora") else None, obj.get("steps"))  # fmt: skip


def run_plan_job(kind: str, folder: Path, planner_source: ImagePlannerSource,
                 progress: Progress | None = None) -> dict:  # fmt: skip
    """A queued plan job: read its inputs from ``folder`` (as the service staged them) and
    write its artefacts there."""
    folder = Path(folder)
    planner = planner_of(kind)
    params = json.loads((folder / "input.json").read_text())
    if planner == "arm":
        return run_arm_plan(ArmPlanRequest.from_json(params), folder, progress)
    if planner == "visual":
        frame = read_png(folder / "input.png")
        return run_visual_plan(VisualPlanRequest.from_json(params), frame, planner_source.load,
                               folder, progress, model=str(planner_source.path))  # fmt: skip
    data = RigvidInput.load(folder / "input.npz")
    return run_rigvid_plan(RigvidPlanRequest.from_json(params), data, folder, progress)
