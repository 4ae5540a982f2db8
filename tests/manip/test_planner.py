import json

import numpy as np
import pytest

from humanoid_teleop.manip.grid import decompose_grid
from humanoid_teleop.manip.planner import PlannerLoadError, load_image_planner, make_plan


class TinyRandomPipeline:
    """Stands in for a generator: a seeded random grid at a given resolution."""

    def __init__(self, height, width):
        self.shape = (height, width, 3)
        self.calls = []

    def __call__(self, prompt, image):
        self.calls.append((prompt, image.copy()))
        return np.random.default_rng(0).integers(0, 256, self.shape, dtype=np.uint8)


def _frame():
    return np.random.default_rng(1).integers(0, 256, (16, 24, 3), dtype=np.uint8)


def test_instruction_plan_keeps_the_given_frame_first():
    pipe = TinyRandomPipeline(48, 72)
    plan = make_plan(pipe, _frame(), instruction="push the box left")
    assert plan.grid_rgb.shape == (48, 72, 3) and len(plan.frames_rgb) == 9
    np.testing.assert_array_equal(plan.frames_rgb[0], _frame())
    np.testing.assert_array_equal(plan.grid_rgb[:16, :24], _frame())
    for a, b in zip(decompose_grid(plan.grid_rgb), plan.frames_rgb):
        np.testing.assert_array_equal(a, b)
    prompt, seen = pipe.calls[0]
    assert "push the box left" in prompt and np.array_equal(seen, _frame())


def test_trajectory_plan_draws_the_arrow_and_resizes():
    pipe = TinyRandomPipeline(96, 96)  # the model's own resolution
    pts = np.array([[2.0, 14.0], [20.0, 3.0]])
    plan = make_plan(pipe, _frame(), trajectory_px=pts)
    assert plan.grid_rgb.shape == (48, 72, 3)
    assert "arrow" in plan.prompt
    assert not np.array_equal(pipe.calls[0][1], _frame())  # the arrow was drawn


def test_loader_errors_are_clear(tmp_path):
    with pytest.raises(PlannerLoadError, match="model_index.json"):
        load_image_planner(tmp_path)
    (tmp_path / "model_index.json").write_text(json.dumps({}))
    with pytest.raises(PlannerLoadError, match="LoRA"):
        load_image_planner(tmp_path, tmp_path / "missing.safetensors")
    try:
        import diffusers  # noqa: F401
    except ImportError:
        with pytest.raises(PlannerLoadError, match="diffusers"):
            load_image_planner(tmp_path)
