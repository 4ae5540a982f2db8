"""Prompt templates for the visual planner and the generated-video success filter.

The planner is conditioned either on a text instruction or on a 2D trajectory drawn over the
first frame (``grid.draw_trajectory``); the prompt tells the image model the grid layout,
since the 3x3 snake order is a convention the LoRA was trained on, not something it infers.
"""

from __future__ import annotations

import re
from typing import Literal

GRID_LAYOUT = (
    "A 3x3 grid of 9 video frames showing one continuous robot manipulation, read in snake "
    "order: top row left to right, middle row right to left, bottom row left to right. "
    "The top-left frame is the current scene."
)

PlanMode = Literal["instruction", "trajectory"]


class PromptError(ValueError):
    """A prompt that cannot be built (empty instruction, unknown mode)."""


def plan_prompt(mode: PlanMode, instruction: str = "") -> str:
    """The visual planner's text prompt for ``mode``; ``instruction`` is required for
    ``instruction`` mode and optional context for ``trajectory`` mode."""
    text = " ".join(instruction.split())
    if mode == "instruction":
        if not text:
            raise PromptError("instruction mode needs a non-empty instruction")
        return f"{GRID_LAYOUT} Task: {text}."
    if mode == "trajectory":
        task = f" Task: {text}." if text else ""
        return (
            f"{GRID_LAYOUT} The manipulated object follows the red arrow drawn in the first "
            f"frame, from its tail to its head.{task}"
        )
    raise PromptError(f"mode: expected 'instruction' or 'trajectory', got {mode!r}")


def success_filter_question(instruction: str) -> str:
    """The yes/no question asked of the VLM about a generated video's 4-frame summary."""
    text = " ".join(instruction.split())
    if not text:
        raise PromptError("the success filter needs the task instruction")
    return (
        "These four images are frames of one video in reading order (left to right, top to "
        f"bottom). Does the video show the task '{text}' completed, with physically "
        "plausible motion and the object never changing shape or identity? Answer yes or no."
    )


def parse_yes_no(answer: str) -> bool:
    """A VLM's answer -> True for yes; anything not starting with yes/no is an error, so a
    rambling answer is not silently counted as failure."""
    match = re.match(r"\W*(yes|no)\b", answer.lower())  # markdown/quotes before the word
    if match:
        return match.group(1) == "yes"
    raise PromptError(f"expected a yes/no answer, got {answer[:60]!r}")
