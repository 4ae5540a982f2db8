"""Checkpoint folders: self-describing, no pickles.

Layout::

    CKPT/
      config.json           format, version, PolicyConfig (denoiser, sampler, observation
                            terms, action representation), training summary
      model.safetensors     the inference weights (the EMA weights when trained)
      normalization.json    observation / action / command statistics (normalize.py)
      robot.json            joint names, default pose, kp, kd, action scale, control dt,
                            observation spec, command ranges
      validation.json       optional: the validation report the checkpoint earned
      training/             optional: the resumable training state (train.py)

Each file is written to ``*.tmp`` and renamed. Loading checks the robot metadata against
the robot it will drive (joint names and order, control dt, observation spec, default pose)
and raises ``CheckpointMismatchError`` naming what was expected and what was found.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from humanoid_teleop import g1
from humanoid_teleop.fileio import write_atomic
from humanoid_teleop.policy.errors import CheckpointError, CheckpointMismatchError
from humanoid_teleop.policy.inference import DiffusionPolicy, PolicyConfig, RobotMeta
from humanoid_teleop.policy.model import Denoiser
from humanoid_teleop.policy.normalize import NormalizationError, Normalizer
from humanoid_teleop.policy.observation import ObservationSpec, ObservationSpecError

FORMAT_NAME = "humanoid-teleop.policy"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NORMALIZATION_FILE = "normalization.json"
ROBOT_FILE = "robot.json"
VALIDATION_FILE = "validation.json"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, NORMALIZATION_FILE, ROBOT_FILE)


def write_json(path: Path, value) -> None:
    write_atomic(path, (json.dumps(value, indent=1) + "\n").encode())


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path}: missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def state_dict_bytes(tensors: Mapping[str, torch.Tensor], metadata: dict | None = None) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable safetensors: {exc}") from exc


def save_checkpoint(
    path: str | os.PathLike,
    policy: DiffusionPolicy,
    *,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    training: dict | None = None,
    validation_report: dict | None = None,
) -> Path:
    """Write ``policy`` (or ``state_dict`` in its place, e.g. EMA weights) as a checkpoint."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    weights = state_dict if state_dict is not None else policy.model.state_dict()
    write_atomic(root / WEIGHTS_FILE, state_dict_bytes(weights, {"format": FORMAT_NAME}))
    write_json(root / NORMALIZATION_FILE, policy.normalizer.to_json())
    write_json(root / ROBOT_FILE, policy.robot.to_dict())
    if validation_report is not None:
        write_json(root / VALIDATION_FILE, validation_report)
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "policy": policy.config.to_dict(),
        "training": training or {},
    }
    write_json(root / CONFIG_FILE, config)  # last: a folder with config.json is complete
    return root


def save_validation_report(path: str | os.PathLike, report: dict) -> None:
    write_json(Path(path) / VALIDATION_FILE, report)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-9)


def check_robot(
    root: Path,
    robot: RobotMeta,
    config: PolicyConfig,
    *,
    joint_names: Sequence[str],
    control_dt_s: float,
    default_pose_rad: np.ndarray | None,
    observation_spec: ObservationSpec | None,
) -> None:
    """Raise CheckpointMismatchError on the first difference from the robot's facts."""
    if tuple(robot.joint_names) != tuple(joint_names):
        diff = [(i, e, g) for i, (e, g) in enumerate(zip(joint_names, robot.joint_names)) if e != g]
        raise CheckpointMismatchError(
            str(root), f"joint_names ({len(robot.joint_names)} names; first differences "
            f"(index, expected, got): {diff[:3]})", tuple(joint_names), robot.joint_names,
        )  # fmt: skip
    if not _close(robot.control_dt_s, control_dt_s):
        raise CheckpointMismatchError(str(root), "control_dt_s", control_dt_s, robot.control_dt_s)
    if default_pose_rad is not None and not np.allclose(
        robot.default_pose_rad, default_pose_rad, rtol=0, atol=1e-9
    ):
        raise CheckpointMismatchError(str(root), "default_pose_rad",
                                      [float(v) for v in default_pose_rad],
                                      list(robot.default_pose_rad))  # fmt: skip
    try:
        stored = ObservationSpec.from_dict(robot.observation_spec)  # known terms, right sizes
    except ObservationSpecError as exc:
        raise CheckpointMismatchError(
            str(root), "observation_spec", "terms this robot's ObservationBuilder knows", str(exc)
        ) from exc
    if stored.terms != config.observation_spec.terms:
        raise CheckpointError(
            f"{root}: robot.json observation spec {list(stored.terms)} differs from "
            f"config.json's {list(config.observation_spec.terms)}"
        )
    if observation_spec is not None and observation_spec.terms != stored.terms:
        raise CheckpointMismatchError(
            str(root), "observation_spec", list(observation_spec.terms), list(stored.terms)
        )


def load_checkpoint(
    path: str | os.PathLike,
    *,
    joint_names: Sequence[str] = g1.JOINT_NAMES,
    control_dt_s: float = g1.CONTROL_DT_S,
    default_pose_rad: np.ndarray | None = g1.DEFAULT_POSE_RAD,
    observation_spec: ObservationSpec | None = None,
    seed: int = 0,
    num_inference_steps: int | None = None,
    init_noise_scale: float | None = None,
) -> DiffusionPolicy:
    """Load a checkpoint folder for a robot with these facts (default: the G1 at 50 Hz).

    ``num_inference_steps`` overrides the stored DDIM step count (training covers every
    timestep, so any count works; fewer is faster and coarser); ``init_noise_scale`` the
    stored sampling temperature (``SamplerConfig``).
    """
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(f"{root}: no such checkpoint folder")
    missing = [f for f in REQUIRED_FILES if not (root / f).is_file()]
    if missing:
        raise CheckpointError(f"{root}: not a complete checkpoint, missing {missing}")
    meta = read_json(root / CONFIG_FILE)
    if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{root / CONFIG_FILE}: expected format {FORMAT_NAME!r} version {FORMAT_VERSION}, "
            f"got {meta.get('format')!r} version {meta.get('format_version')!r}"
        )
    try:
        config = PolicyConfig.from_dict(meta["policy"])
        robot = RobotMeta.from_dict(read_json(root / ROBOT_FILE))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{root}: invalid config or robot metadata: {exc}") from exc
    overrides = {
        name: value
        for name, value in (("num_inference_steps", num_inference_steps),
                            ("init_noise_scale", init_noise_scale))
        if value is not None
    }  # fmt: skip
    if overrides:
        try:
            sampler = dataclasses.replace(config.sampler, **overrides)
        except ValueError as exc:
            raise CheckpointError(f"{root}: {exc}") from exc
        config = dataclasses.replace(config, sampler=sampler)
    check_robot(root, robot, config, joint_names=joint_names, control_dt_s=control_dt_s,
                default_pose_rad=default_pose_rad, observation_spec=observation_spec)  # fmt: skip
    try:
        normalizer = Normalizer.load(root / NORMALIZATION_FILE)
        normalizer.check_sizes(config.denoiser.obs_dim, config.denoiser.action_dim)
    except NormalizationError as exc:
        raise CheckpointError(f"{root / NORMALIZATION_FILE}: {exc}") from exc
    model = Denoiser(config.denoiser)
    tensors = load_tensors(root / WEIGHTS_FILE)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{root / WEIGHTS_FILE}: weights do not fit the config: {exc}"
        ) from exc
    return DiffusionPolicy(config, model, normalizer, robot, seed=seed)


def read_validation_report(path: str | os.PathLike) -> dict | None:
    p = Path(path) / VALIDATION_FILE
    return read_json(p) if p.is_file() else None
