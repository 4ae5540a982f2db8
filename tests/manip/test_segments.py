import numpy as np
import pytest

from humanoid_teleop.manip.segments import SegmentConfig, execute_in_segments

GOAL = np.array([1.0, -0.5])


class DriftingPlant:
    """A point that moves by each commanded step plus a constant drift (an unmodelled push)."""

    def __init__(self):
        self.pos = np.zeros(2)

    def execute(self, steps):
        for step in steps:
            self.pos = self.pos + step + np.array([0.004, 0.003])
        return self.pos.copy()


def _plan(pos, n=40):
    """Straight-line increments from the observed position to the goal."""
    remaining = max(1, int(np.ceil(np.linalg.norm(GOAL - pos) / 0.025)))
    return np.tile((GOAL - pos) / remaining, (min(n, remaining), 1))


def _done(pos):
    return np.linalg.norm(pos - GOAL) < 0.02


def test_replanning_bounds_the_drift_that_open_loop_accumulates():
    open_loop = DriftingPlant()
    open_loop.execute(_plan(np.zeros(2), n=1000))
    open_error = np.linalg.norm(open_loop.pos - GOAL)
    plant = DriftingPlant()
    run = execute_in_segments(_plan, plant.execute, _done, np.zeros(2), SegmentConfig(5, 100))
    assert run.finished and run.plans > 1
    assert np.linalg.norm(run.last_observation - GOAL) < 0.02 < open_error
    assert run.executed.shape[1] == 2 and len(run.executed) <= 5 * run.plans


def test_segments_run_out_and_config_validation():
    plant = DriftingPlant()
    run = execute_in_segments(_plan, plant.execute, _done, np.zeros(2), SegmentConfig(1, 3))
    assert not run.finished and run.plans == 3 and len(run.executed) == 3
    with pytest.raises(ValueError):
        SegmentConfig(segment_steps=0)
