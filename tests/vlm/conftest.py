"""Rendered G1 clips with ground truth, rendered once per test session (~20 s)."""

from __future__ import annotations

import pytest

from humanoid_teleop.contracts import VelocityCommand as V


@pytest.fixture(scope="session")
def sim_clips():
    from humanoid_teleop.vlm.sim_clips import SimClipSpec, render_clip

    specs = {
        "turn_left": SimClipSpec(((3.0, V(0.15, 0.0, 0.5)),), cameras=("head",)),
        "turn_right": SimClipSpec(((3.0, V(0.15, 0.0, -0.5)),), cameras=("head",)),
        "stand_walk_stand": SimClipSpec(((1.5, V()), (3.0, V(0.3, 0.0, 0.0)), (2.0, V()))),
    }
    return {name: render_clip(spec) for name, spec in specs.items()}
