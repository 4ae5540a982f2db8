"""The visual planner job (arXiv 2512.00532) around an injected image-generation pipeline.

The pipeline is anything callable as ``pipeline(prompt=str, image=(H, W, 3) uint8) ->
(3H', 3W', 3) uint8`` (a grid image). ``load_image_planner`` builds one from a local diffusers
checkpoint (+ optional LoRA); diffusers is imported only there, behind ``PlannerLoadError``,
so everything else here runs and is tested without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from humanoid_teleop.manip.grid import (
    GRID_COLS,
    GRID_ROWS,
    ArrowStyle,
    GridError,
    compose_grid,
    decompose_grid,
    draw_trajectory,
)
from humanoid_teleop.manip.prompts import plan_prompt

ImagePipeline = Callable[..., np.ndarray]


class PlannerLoadError(ValueError):
    """The image-generation model could not be loaded (missing extra, bad directory)."""


@dataclass(frozen=True)
class VisualPlan:
    prompt: str
    condition_rgb: np.ndarray  # (H, W, 3) what the model saw: the frame, arrow drawn if any
    grid_rgb: np.ndarray  # (3H, 3W, 3) the plan, first cell = the given frame
    frames_rgb: tuple[np.ndarray, ...]  # 9 x (H, W, 3), plan order


def make_plan(
    pipeline: ImagePipeline, frame_rgb: np.ndarray, *, instruction: str = "",
    trajectory_px: np.ndarray | None = None, arrow: ArrowStyle | None = None,
) -> VisualPlan:  # fmt: skip
    """One visual plan from the first frame and an instruction and/or a drawn trajectory.

    The generated grid is resized per cell to the frame's size if the model works at another
    resolution, and its first cell is replaced by the given frame: the plan starts from what
    the camera saw, not from the model's re-rendering of it.
    """
    frame = np.asarray(frame_rgb)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise GridError(f"frame_rgb: expected (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    if trajectory_px is not None:
        condition = draw_trajectory(frame, trajectory_px, arrow)
        prompt = plan_prompt("trajectory", instruction)
    else:
        condition = frame.copy()
        prompt = plan_prompt("instruction", instruction)
    grid = np.asarray(pipeline(prompt=prompt, image=condition))
    if grid.ndim != 3 or grid.shape[2] != 3 or grid.dtype != np.uint8:
        raise GridError(f"pipeline output: expected (H, W, 3) uint8, got {grid.shape} {grid.dtype}")
    h, w = frame.shape[:2]
    if grid.shape[:2] != (GRID_ROWS * h, GRID_COLS * w):
        import cv2  # lazy: only a model working at another resolution needs resizing

        grid = cv2.resize(grid, (GRID_COLS * w, GRID_ROWS * h), interpolation=cv2.INTER_AREA)
    frames = decompose_grid(grid)
    frames[0] = frame.copy()
    return VisualPlan(prompt, condition, compose_grid(frames), tuple(frames))


def load_image_planner(
    model_dir: str | Path, lora_path: str | Path | None = None, *,
    num_inference_steps: int | None = None, device: str | None = None,
) -> ImagePipeline:  # fmt: skip
    """A pipeline from a local diffusers image-to-image checkpoint directory (+ LoRA).

    ``num_inference_steps``: the pipeline's default when None. ``device``: cuda when there
    is one, else cpu, when None. Nothing is downloaded (``local_files_only``)."""
    model_dir = Path(model_dir)
    if not (model_dir / "model_index.json").is_file():
        raise PlannerLoadError(f"{model_dir}: no model_index.json, not a diffusers checkpoint")
    if lora_path is not None and not Path(lora_path).exists():
        raise PlannerLoadError(f"{lora_path}: no such LoRA file or directory")
    if num_inference_steps is not None and num_inference_steps < 1:
        raise PlannerLoadError(f"num_inference_steps: expected >= 1, got {num_inference_steps}")
    try:
        import diffusers
        import torch
    except ImportError as exc:
        raise PlannerLoadError(
            f"the visual planner needs the diffusers package, which is not installed "
            f"(pip install -e '.[manip]'): {exc}"
        ) from exc
    try:
        pipe = diffusers.AutoPipelineForImage2Image.from_pretrained(
            model_dir, local_files_only=True
        )
    except (OSError, ValueError, KeyError) as exc:  # missing weights, unknown pipeline class
        raise PlannerLoadError(
            f"{model_dir}: not a loadable image-to-image pipeline: {exc}"
        ) from exc
    if lora_path is not None:
        pipe.load_lora_weights(str(lora_path))
    pipe.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    pipe.set_progress_bar_config(disable=True)  # jobs report their own progress
    options = {} if num_inference_steps is None else {"num_inference_steps": num_inference_steps}

    def run(prompt: str, image: np.ndarray) -> np.ndarray:
        from PIL import Image

        out = pipe(prompt=prompt, image=Image.fromarray(image), **options).images[0]
        return np.asarray(out.convert("RGB"), dtype=np.uint8)

    return run
