"""The diffusion locomotion policy: (proprioceptive history, intent) -> ActionChunk.

    from humanoid_teleop.policy import load_policy, PolicyController
    policy = load_policy("path/to/checkpoint")     # None: the shipped default
    chunk = policy.predict(history, intent)         # ActionChunk, H ticks
    controller = PolicyController(policy)           # the Controller protocol

Modules: observation (the named observation terms, torch-free), model (denoiser + config),
sampler (DDIM), normalize, inference (DiffusionPolicy), checkpoint, controller, train.
Importing this package does not import torch (the sim and dataset code use
``policy.observation``); torch loads with the first name that needs it.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from humanoid_teleop.policy.errors import (
    CheckpointError,
    CheckpointMismatchError,
    PolicyNotShippedError,
)

if TYPE_CHECKING:
    from humanoid_teleop.policy.controller import PolicyController, ThreadedPolicyController
    from humanoid_teleop.policy.inference import DiffusionPolicy

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "DiffusionPolicy",
    "PolicyController",
    "PolicyNotShippedError",
    "ThreadedPolicyController",
    "default_checkpoint_path",
    "load_policy",
]

_LAZY = {
    "DiffusionPolicy": "humanoid_teleop.policy.inference",
    "PolicyController": "humanoid_teleop.policy.controller",
    "ThreadedPolicyController": "humanoid_teleop.policy.controller",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_checkpoint_path() -> Path:
    """Where the shipped default checkpoint lives: ``humanoid_teleop/assets/policy/``."""
    return Path(str(resources.files("humanoid_teleop") / "assets" / "policy"))


def load_policy(path: str | os.PathLike | None = None, **kwargs) -> DiffusionPolicy:
    """Load a checkpoint folder (None: the shipped default) for the G1 at 50 Hz.

    Keyword arguments go to ``checkpoint.load_checkpoint`` (robot facts to check against,
    sampling seed). Raises PolicyNotShippedError when asked for the default and none is
    shipped, CheckpointMismatchError when the checkpoint was made for another robot setup.
    """
    if path is None:
        root = default_checkpoint_path()
        if not (root / "config.json").is_file():
            raise PolicyNotShippedError(
                f"no trained policy is shipped yet (nothing at {root}); train one with "
                f"`humanoid-teleop train --data DIR --out CKPT` and use `policy:CKPT`"
            )
        path = root
    from humanoid_teleop.policy.checkpoint import load_checkpoint

    return load_checkpoint(path, **kwargs)
