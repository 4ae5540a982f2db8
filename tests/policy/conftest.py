"""Shared fixture: a tiny stand-controller dataset written by ``collect``."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def stand_dataset(tmp_path_factory):
    """2 short episodes of the stand controller, written by ``collect``."""
    from humanoid_teleop.control.stand import StandController
    from humanoid_teleop.sim.collect import CollectConfig, collect

    out = tmp_path_factory.mktemp("demos") / "stand"
    config = CollectConfig(episodes=2, seconds=2.0, seed=3, push_probability=0.0)
    collect(config, out, progress=False, make_controller=StandController)
    return out
