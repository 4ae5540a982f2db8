"""RIGVid's model stages around the geometry in ``rigvid``: video generation, the VLM success
filter, monocular depth; and the pipeline that chains them into an arm trajectory.

    first RGB frame + instruction -> VideoGenerator -> frames (regenerated until the
    VlmSuccessFilter accepts their 4-frame summary, up to 5 times) -> MonocularDepth ->
    relative depth -> scale/shift onto the real first depth (align_relative_depth)
    -> rigvid.imitate_object_motion (6D track -> hand targets -> IK) -> joint trajectory

Every stage is an injected callable, so the pipeline runs with scripted stages in tests and
with real models in use. The loaders read local directories only (nothing is downloaded) and
fail with ``RigvidModelError`` (a ``ValueError``) saying what is wrong: no such directory,
not a checkpoint of the expected kind, the extra not installed, weights that do not load.

- ``load_depth_model``: a transformers depth-estimation checkpoint (``AutoModelForDepthEstimation``
  + ``AutoImageProcessor``: DPT, Depth Anything, ZoeDepth, GLPN, ...). Relative DPT and Depth
  Anything models predict inverse depth (disparity) up to an affine map; metric ones predict
  depth. ``MonocularDepth.output`` says which, and the alignment is fitted in that space.
- ``VlmSuccessFilter``: the project's VLM backend (``vlm.vlm_backend.load_vlm``) asked
  ``prompts.success_filter_question`` about the summary image; the answer is parsed strictly
  (``prompts.parse_yes_no``). An answer that is neither yes nor no rejects the video and is
  logged as such: regenerating is the safe reading of "the judge did not say".
- ``load_video_generator``: a local diffusers image-to-video pipeline (SVD, CogVideoX-I2V,
  Wan-I2V, LTX-I2V, ...); ``grid_video_generator`` turns the visual planner's 3x3 plan grid
  (``planner.make_plan``) into a 9-frame video, so one image model serves both planners.

torch, transformers and diffusers are imported lazily (the ``vlm`` / ``manip`` extras).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from humanoid_teleop.manip.geometry import ScaleShift, align_depth_scale_shift
from humanoid_teleop.manip.prompts import PromptError, parse_yes_no, success_filter_question
from humanoid_teleop.manip.rigvid import (
    MAX_REGENERATIONS,
    FilteredVideo,
    ObjectImitation,
    ObjectImitationConfig,
    Verdict,
    generate_until_accepted,
    imitate_object_motion,
)

DepthOutput = Literal["depth", "disparity"]
VideoGenerator = Callable[[np.ndarray, str], Sequence[np.ndarray]]  # (first frame, task) -> frames
# Relative models of these families predict disparity; their metric variants (and every other
# family transformers maps to depth estimation) predict depth.
_DISPARITY_FAMILIES = ("dpt", "depth_anything")
# diffusers pipeline class names that take a first frame and return a video.
_IMAGE_TO_VIDEO_MARKERS = ("ImageToVideo", "I2V", "StableVideoDiffusion")


class RigvidModelError(ValueError):
    """A RIGVid model stage cannot be loaded or run as configured; the message says why."""


def _local_dir(path: str | Path, what: str, marker: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise RigvidModelError(f"{path}: no such directory (expected a local {what})")
    if not (path / marker).is_file():
        raise RigvidModelError(f"{path}: no {marker}, not a {what}")
    return path


def _device(device: str | None):
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _resize_rgb(frame: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    import cv2

    if frame.shape[:2] == (height_px, width_px):
        return frame
    return cv2.resize(frame, (width_px, height_px), interpolation=cv2.INTER_AREA)


# -- monocular depth ---------------------------------------------------------------------------


class DepthStage(Protocol):
    output: DepthOutput

    def __call__(self, frames_rgb: Sequence[np.ndarray]) -> np.ndarray: ...


class MonocularDepth:
    """(T of (H, W, 3) uint8) -> (T, H, W) float32 relative depth or disparity (``output``),
    at the frames' own resolution (the model's map is resized bilinearly)."""

    def __init__(self, model, processor, output: DepthOutput, device: str, batch: int = 4):
        if output not in ("depth", "disparity"):
            raise RigvidModelError(f"output: expected 'depth' or 'disparity', got {output!r}")
        self.model, self.processor, self.output = model, processor, output
        self.device, self.batch = device, batch

    def __call__(self, frames_rgb: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        frames = [np.asarray(f) for f in frames_rgb]
        if not frames or any(f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8
                             or f.shape != frames[0].shape for f in frames):  # fmt: skip
            raise RigvidModelError(
                "frames: expected one or more (H, W, 3) uint8 frames of one size"
            )
        h, w = frames[0].shape[:2]
        out = []
        for i in range(0, len(frames), self.batch):
            inputs = self.processor(images=frames[i : i + self.batch], return_tensors="pt")
            with torch.inference_mode():
                pred = self.model(pixel_values=inputs["pixel_values"].to(self.device))
            depth = pred.predicted_depth.float()[:, None]  # (B, 1, h', w')
            depth = torch.nn.functional.interpolate(depth, (h, w), mode="bilinear",
                                                    align_corners=False)  # fmt: skip
            out.append(depth[:, 0].cpu().numpy())
        return np.concatenate(out).astype(np.float32)


def depth_output_of(model_config) -> DepthOutput:
    """What a depth checkpoint predicts, from its config (see ``_DISPARITY_FAMILIES``)."""
    metric = getattr(model_config, "depth_estimation_type", "relative") == "metric"
    return "disparity" if model_config.model_type in _DISPARITY_FAMILIES and not metric else "depth"


def load_depth_model(
    path: str | Path, *, output: DepthOutput | None = None, device: str | None = None,
) -> MonocularDepth:  # fmt: skip
    """A local transformers depth-estimation checkpoint directory (config.json, weights,
    preprocessor_config.json). ``output``: what it predicts, inferred from the config when
    None (``depth_output_of``); give it for a family predicting the other."""
    path = _local_dir(path, "depth-estimation checkpoint directory", "config.json")
    if output not in (None, "depth", "disparity"):
        raise RigvidModelError(f"output: expected 'depth', 'disparity' or None, got {output!r}")
    try:
        import torch  # noqa: F401 - transformers' models need it; say so here if missing
        import transformers
        from transformers.models.auto.modeling_auto import MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES
    except ImportError as exc:
        raise RigvidModelError(f"the depth stage needs torch and transformers "
                               f"(pip install -e '.[manip]'): {exc}") from exc  # fmt: skip
    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise RigvidModelError(
            f"{path}: config.json is not a readable model config ({exc})"
        ) from exc
    if config.model_type not in MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES:
        raise RigvidModelError(
            f"{path}: a {config.model_type!r} model is not a depth-estimation model (expected "
            f"one of {sorted(MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES)})"
        )
    if not (path / "preprocessor_config.json").is_file():
        raise RigvidModelError(f"{path}: no preprocessor_config.json (the image processor)")
    device = _device(device)
    try:
        model = transformers.AutoModelForDepthEstimation.from_pretrained(
            path, local_files_only=True
        )
        processor = transformers.AutoImageProcessor.from_pretrained(path, local_files_only=True)
    except (ValueError, OSError, KeyError, RuntimeError) as exc:
        raise RigvidModelError(f"{path}: the depth checkpoint does not load "
                               f"({type(exc).__name__}: {exc})") from exc  # fmt: skip
    model.to(device).eval()
    return MonocularDepth(model, processor, output or depth_output_of(config), device)


@dataclass(frozen=True)
class AlignedDepth:
    depth_m: np.ndarray  # (T, H, W) metric depth, nan where the prediction has none
    alignment: ScaleShift  # fitted in ``space``: metres, or 1/m for disparity
    space: DepthOutput


def align_relative_depth(
    relative: np.ndarray, metric_first_depth_m: np.ndarray, mask: np.ndarray,
    output: DepthOutput,
) -> AlignedDepth:  # fmt: skip
    """Relative depth (T, H, W) -> metric, with the scale/shift fitted on frame 0 over
    ``mask`` against the real sensor's depth of that frame.

    A disparity prediction is affine in *inverse* depth, so it is fitted to 1 / metric and
    inverted afterwards; fitting it to depth directly would bend every plane."""
    relative = np.asarray(relative, dtype=float)
    metric = np.asarray(metric_first_depth_m, dtype=float)
    if relative.ndim != 3 or metric.shape != relative.shape[1:]:
        raise RigvidModelError(f"expected relative (T, H, W) and metric (H, W) depth of one size, "
                               f"got {relative.shape} and {metric.shape}")  # fmt: skip
    if output == "depth":
        fit = align_depth_scale_shift(relative[0], metric, mask)
        depth = fit.apply(relative)
    elif output == "disparity":
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.where(metric > 0, 1.0 / metric, np.nan)
            fit = align_depth_scale_shift(relative[0], inverse, mask)
            disparity = fit.apply(relative)
            depth = 1.0 / disparity
    else:
        raise RigvidModelError(f"output: expected 'depth' or 'disparity', got {output!r}")
    depth[~(np.isfinite(depth) & (depth > 0))] = np.nan  # behind the camera: no depth
    return AlignedDepth(depth, fit, output)


# -- the VLM success filter ---------------------------------------------------------------------


def success_filter_vlm_config(**overrides):
    """The VLM backend's config for judging one 2x2 summary image: a larger image than the
    intent backend's (four frames share it), one image per query, a short answer."""
    from humanoid_teleop.vlm.vlm_backend import VlmConfig

    options = {"frames": 1, "image_width_px": 448, "image_height_px": 336, "max_new_tokens": 8}
    return VlmConfig(**{**options, **overrides})


class VlmSuccessFilter:
    """summary image (2H, 2W, 3) -> ``Verdict`` from a VLM asked whether the video shows
    ``instruction`` done. ``describer``: ``vlm_backend.VlmDescriber`` or anything with its
    ``describe(images, prompt)``."""

    def __init__(self, describer, instruction: str):
        self.question = success_filter_question(instruction)  # PromptError on an empty task
        self._describer = describer

    @classmethod
    def from_path(cls, path: str | Path, instruction: str, config=None) -> VlmSuccessFilter:
        """A local VLM checkpoint (``vlm_backend.load_vlm``; its ``VlmLoadError`` is a
        ValueError too)."""
        from humanoid_teleop.vlm.vlm_backend import load_vlm

        return cls(load_vlm(path, config or success_filter_vlm_config()), instruction)

    def __call__(self, summary_rgb: np.ndarray) -> Verdict:
        text = self._describer.describe([np.asarray(summary_rgb)], self.question).text
        try:
            return Verdict(parse_yes_no(text), text)
        except PromptError as exc:
            return Verdict(False, text, str(exc))


# -- video generation ---------------------------------------------------------------------------


def grid_video_generator(image_pipeline) -> VideoGenerator:
    """The visual planner's image model as a video generator: its 3x3 plan grid, read in
    snake order, is a 9-frame video starting at the given frame."""
    from humanoid_teleop.manip.planner import make_plan

    def generate(first_rgb: np.ndarray, instruction: str) -> list[np.ndarray]:
        return list(make_plan(image_pipeline, first_rgb, instruction=instruction).frames_rgb)

    return generate


def load_video_generator(
    path: str | Path, *, num_frames: int | None = None, num_inference_steps: int | None = None,
    device: str | None = None,
) -> VideoGenerator:  # fmt: skip
    """A local diffusers image-to-video pipeline directory (model_index.json naming an
    image-to-video pipeline class). ``num_frames`` / ``num_inference_steps``: the pipeline's
    defaults when None."""
    path = _local_dir(path, "diffusers pipeline directory", "model_index.json")
    try:
        class_name = json.loads((path / "model_index.json").read_text())["_class_name"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise RigvidModelError(f"{path}: model_index.json names no pipeline class ({exc})") from exc
    if not any(m in class_name for m in _IMAGE_TO_VIDEO_MARKERS):
        raise RigvidModelError(f"{path}: {class_name} is not an image-to-video pipeline "
                               f"(expected a class name with one of {_IMAGE_TO_VIDEO_MARKERS})")  # fmt: skip
    for name, value in (("num_frames", num_frames), ("num_inference_steps", num_inference_steps)):
        if value is not None and value < 1:
            raise RigvidModelError(f"{name}: expected >= 1, got {value}")
    try:
        import diffusers
    except ImportError as exc:
        raise RigvidModelError(f"the video generator needs diffusers (pip install -e "
                               f"'.[manip]'): {exc}") from exc  # fmt: skip
    if not hasattr(diffusers, class_name):
        raise RigvidModelError(f"{path}: this diffusers ({diffusers.__version__}) has no "
                               f"{class_name}")  # fmt: skip
    try:
        pipe = diffusers.DiffusionPipeline.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise RigvidModelError(f"{path}: the video pipeline does not load ({exc})") from exc
    pipe.to(_device(device))
    pipe.set_progress_bar_config(disable=True)
    accepted = inspect.signature(pipe.__call__).parameters
    options = {k: v for k, v in (("num_frames", num_frames),
                                 ("num_inference_steps", num_inference_steps))
               if v is not None and k in accepted}  # fmt: skip

    def generate(first_rgb: np.ndarray, instruction: str) -> list[np.ndarray]:
        from PIL import Image

        # SVD is conditioned on the image only; the others take the task as a prompt too.
        prompt = {"prompt": instruction} if "prompt" in accepted else {}
        video = pipe(image=Image.fromarray(first_rgb), **prompt, **options).frames[0]
        return [np.asarray(f.convert("RGB"), dtype=np.uint8) for f in video]

    return generate


def conform_video(frames: Sequence[np.ndarray], first_rgb: np.ndarray) -> list[np.ndarray]:
    """A generated video at the real first frame's size, with the real first frame first:
    the object mask and the metric depth belong to that frame, not to the model's
    re-rendering of it."""
    frames = [np.asarray(f) for f in frames]
    if len(frames) < 2 or any(f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8
                              for f in frames):  # fmt: skip
        raise RigvidModelError(f"generated video: expected >= 2 (H, W, 3) uint8 frames, got "
                               f"{[(f.shape, str(f.dtype)) for f in frames[:2]]}...")  # fmt: skip
    h, w = first_rgb.shape[:2]
    return [first_rgb.copy(), *(_resize_rgb(f, w, h) for f in frames[1:])]


# -- the pipeline ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedRgbd:
    video: FilteredVideo  # the accepted video (frame 0 = the real frame) and the filter's log
    relative_depth: np.ndarray  # (T, H, W) the depth model's output
    depth: AlignedDepth


@dataclass(frozen=True)
class GeneratedImitation(GeneratedRgbd):
    imitation: ObjectImitation  # track, hand targets, joint trajectory


def generate_rgbd(
    first_rgb: np.ndarray, metric_first_depth_m: np.ndarray, first_mask: np.ndarray,
    instruction: str, *, generator: VideoGenerator, depth_model: DepthStage,
    success_filter: Callable[[np.ndarray], bool | Verdict],
    max_regenerations: int = MAX_REGENERATIONS, progress: Callable[[str], None] | None = None,
) -> GeneratedRgbd:  # fmt: skip
    """The model half of RIGVid: a video of ``instruction`` done from the real first frame
    (regenerated until the filter accepts it) with metric depth aligned on the object's mask.
    Raises ``rigvid.NoAcceptableVideoError`` when every generation is rejected."""
    first = np.asarray(first_rgb)
    if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
        raise RigvidModelError(
            f"first_rgb: expected (H, W, 3) uint8, got {first.shape} {first.dtype}"
        )
    success_filter_question(instruction)  # an empty task fails before any generation
    say = progress or (lambda _stage: None)

    def generate(attempt: int) -> list[np.ndarray]:
        say(f"generate {attempt + 1}/{max_regenerations + 1}")
        return conform_video(generator(first, instruction), first)

    video = generate_until_accepted(generate, success_filter, max_regenerations)
    say("depth")
    relative = np.asarray(depth_model(video.frames), dtype=float)
    aligned = align_relative_depth(relative, metric_first_depth_m, first_mask, depth_model.output)
    return GeneratedRgbd(video, relative, aligned)


def imitate_generated_video(
    first_rgb: np.ndarray, metric_first_depth_m: np.ndarray, K: np.ndarray,
    first_mask: np.ndarray, T_pelvis_cam: np.ndarray, instruction: str, *,
    generator: VideoGenerator, depth_model: DepthStage,
    success_filter: Callable[[np.ndarray], bool | Verdict],
    T_pelvis_hand_at_grasp: np.ndarray, q_at_grasp_rad: np.ndarray, grasp_index: int = 0,
    max_regenerations: int = MAX_REGENERATIONS, config: ObjectImitationConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> GeneratedImitation:  # fmt: skip
    """RIGVid end to end from one real RGB-D frame and the task in words: ``generate_rgbd``
    then ``rigvid.imitate_object_motion``. Raises what those raise (``NoAcceptableVideoError``,
    ``track.TrackingError``, ``arm.IkError``)."""
    rgbd = generate_rgbd(first_rgb, metric_first_depth_m, first_mask, instruction,
                         generator=generator, depth_model=depth_model,
                         success_filter=success_filter, max_regenerations=max_regenerations,
                         progress=progress)  # fmt: skip
    if progress is not None:
        progress("track")
    imitation = imitate_object_motion(
        rgbd.depth.depth_m, K, first_mask, T_pelvis_cam, T_pelvis_hand_at_grasp, q_at_grasp_rad,
        grasp_index=grasp_index, config=config,
    )  # fmt: skip
    return GeneratedImitation(rgbd.video, rgbd.relative_depth, rgbd.depth, imitation)


# -- files: the first frame in, a rigvid plan's input out ---------------------------------------------


@dataclass(frozen=True)
class FirstFrame:
    """The real RGB-D frame a generated video starts from (an .npz): ``rgb`` (H, W, 3) uint8,
    ``depth`` (H, W) metres, ``K``, ``mask``, ``T_pelvis_cam``, optional
    ``T_pelvis_hand_at_grasp``: the arrays of a rigvid plan's input, for one frame."""

    rgb: np.ndarray
    depth_m: np.ndarray
    K: np.ndarray
    mask: np.ndarray
    T_pelvis_cam: np.ndarray
    T_pelvis_hand_at_grasp: np.ndarray | None

    @classmethod
    def load(cls, path: str | Path) -> FirstFrame:
        """Read and check; ``plans.PlanRequestError`` names the first array that is wrong."""
        import zipfile

        from humanoid_teleop.manip.plans import PlanRequestError, RigvidInput

        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise PlanRequestError(f"{path}: not a readable .npz of plain arrays ({exc})") from exc
        allowed = ("rgb", "depth", "K", "mask", "T_pelvis_cam", "T_pelvis_hand_at_grasp")
        missing = [k for k in allowed[:5] if k not in arrays]
        if missing or set(arrays) - set(allowed):
            raise PlanRequestError(f"{path}: expected arrays {list(allowed[:5])} + optional "
                                   f"T_pelvis_hand_at_grasp, got {sorted(arrays)}")  # fmt: skip
        rgb, depth = arrays["rgb"], arrays["depth"]
        if (
            rgb.dtype != np.uint8
            or rgb.ndim != 3
            or rgb.shape[2] != 3
            or depth.shape != rgb.shape[:2]
        ):
            raise PlanRequestError(f"rgb, depth: expected (H, W, 3) uint8 and (H, W) of one size, "
                                   f"got {rgb.dtype} {rgb.shape} and {depth.shape}")  # fmt: skip
        # The rest is checked exactly as a rigvid plan's input (a 2-frame video of this frame).
        checked = RigvidInput.checked({**arrays, "depth": np.stack([depth, depth]),
                                        "rgb": np.stack([rgb, rgb])})  # fmt: skip
        return cls(rgb, checked.depth[0], checked.K, checked.mask, checked.T_pelvis_cam,
                   checked.T_pelvis_hand_at_grasp)  # fmt: skip

    def rigvid_input(self, rgbd: GeneratedRgbd, path: str | Path) -> Path:
        """Write ``rgbd`` as the .npz ``plans.RigvidInput`` reads (metric depth, nan = none),
        so ``humanoid-teleop plan rigvid`` / POST /api/v1/plan/rigvid tracks and validates it."""
        arrays = {"depth": rgbd.depth.depth_m, "K": self.K, "mask": self.mask,
                  "T_pelvis_cam": self.T_pelvis_cam, "rgb": np.stack(rgbd.video.frames)}  # fmt: skip
        if self.T_pelvis_hand_at_grasp is not None:
            arrays["T_pelvis_hand_at_grasp"] = self.T_pelvis_hand_at_grasp
        np.savez_compressed(path, **arrays)
        return Path(path)
