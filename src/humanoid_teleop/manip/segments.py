"""Segment-by-segment open-loop execution with re-planning (4D-video-generation planners).

A generated plan is only as good as the scene it was generated from; executing all of it
open-loop lets errors grow. Executing it a segment at a time and planning again from what
was observed after each segment bounds the drift to one segment's worth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

Obs = TypeVar("Obs")


@dataclass(frozen=True)
class SegmentConfig:
    segment_steps: int = 10  # plan steps executed open-loop before re-planning
    max_segments: int = 50

    def __post_init__(self):
        if self.segment_steps < 1 or self.max_segments < 1:
            raise ValueError(
                f"segment_steps and max_segments must be >= 1, got "
                f"{self.segment_steps}, {self.max_segments}"
            )


@dataclass(frozen=True)
class SegmentRun(Generic[Obs]):
    executed: np.ndarray  # (N, D) every step actually sent, in order
    plans: int  # how many times the planner ran
    finished: bool  # ``done`` said so (False: segments ran out, or a plan was empty)
    last_observation: Obs


def execute_in_segments(
    plan: Callable[[Obs], np.ndarray],
    execute: Callable[[np.ndarray], Obs],
    done: Callable[[Obs], bool],
    observation: Obs,
    config: SegmentConfig | None = None,
) -> SegmentRun[Obs]:
    """``plan(obs) -> (T, D)`` steps; ``execute((S, D)) -> obs`` runs them open-loop and
    observes; ``done(obs)`` ends the run. Each round executes the plan's first
    ``segment_steps`` steps (or all of a shorter plan) and plans again."""
    cfg = config or SegmentConfig()
    executed: list[np.ndarray] = []
    plans = 0
    for _ in range(cfg.max_segments):
        if done(observation):
            break
        steps = np.asarray(plan(observation), dtype=float)
        plans += 1
        if steps.ndim != 2:
            raise ValueError(f"plan: expected (T, D) steps, got {steps.shape}")
        if len(steps) == 0:
            break  # the planner has nothing left to do but the task is not done
        segment = steps[: cfg.segment_steps]
        observation = execute(segment)
        executed.append(segment)
    width = executed[0].shape[1] if executed else 0
    out = np.concatenate(executed) if executed else np.zeros((0, width))
    return SegmentRun(out, plans, bool(done(observation)), observation)
