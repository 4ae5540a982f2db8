"""The hardware gate: a real robot only moves under a policy the twin has validated.

A checkpoint earns the right to drive hardware with ``humanoid-teleop validate --controller
policy:CKPT --attach``: the report is written into the checkpoint (``validation.json``) with
``checkpoint_sha256``, a digest of the files that decide the policy's behaviour. The gate
refuses to arm a hardware robot unless

- the report exists, says ``passed`` and covers at least ``min_episodes`` episodes;
- its digest matches the checkpoint as it is now (retraining or editing any gated file
  invalidates the report);
- the checkpoint's gains (robot.json) lie inside the hardware envelope;
- its fall rate and torque use are within the gate's limits.

Torch-free on purpose: the gate runs where the robot is driven, before any model loads.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from humanoid_teleop import g1

# The files that decide what the policy does; validation.json and training/ are not among
# them (the report cannot cover itself; training state does not change the weights used).
GATED_FILES = ("config.json", "model.safetensors", "normalization.json", "robot.json")
REPORT_FILE = "validation.json"


class HardwareGateError(RuntimeError):
    """The checkpoint may not drive a hardware robot; the message lists every reason."""


@dataclass(frozen=True)
class GateConfig:
    min_episodes: int = 20
    max_fall_rate: float = 0.03  # the policy's validation bar (issue: fall_rate <= 0.03)
    max_torque_ratio: float = 1.0

    def __post_init__(self):
        if self.min_episodes < 1 or not 0.0 <= self.max_fall_rate <= 1.0:
            raise ValueError("need min_episodes >= 1 and 0 <= max_fall_rate <= 1")


def checkpoint_digest(checkpoint_dir: str | os.PathLike) -> str:
    """sha256 over the gated files' names and bytes, in a fixed order."""
    root = Path(checkpoint_dir)
    h = hashlib.sha256()
    for name in GATED_FILES:
        path = root / name
        if not path.is_file():
            raise HardwareGateError(f"{root}: not a checkpoint ({name} is missing)")
        h.update(name.encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def attach_report(checkpoint_dir: str | os.PathLike, report: dict) -> dict:
    """Write ``report`` into the checkpoint, bound to its current digest; returns it."""
    from humanoid_teleop.fileio import write_atomic

    bound = {**report, "checkpoint_sha256": checkpoint_digest(checkpoint_dir)}
    write_atomic(Path(checkpoint_dir) / REPORT_FILE, (json.dumps(bound, indent=1) + "\n").encode())
    return bound


def check_hardware_gate(
    checkpoint_dir: str | os.PathLike, config: GateConfig | None = None
) -> dict:
    """Return the checkpoint's validation report, or raise HardwareGateError with every
    reason it may not drive hardware."""
    config = config or GateConfig()
    root = Path(checkpoint_dir)
    digest = checkpoint_digest(root)
    try:
        report = json.loads((root / REPORT_FILE).read_text())
    except FileNotFoundError:
        raise HardwareGateError(
            f"{root}: no validation report; run `humanoid-teleop validate --controller "
            f"policy:{root} --episodes {config.min_episodes * 5} --attach` first"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise HardwareGateError(f"{root / REPORT_FILE}: unreadable: {exc}") from exc
    reasons = []
    if report.get("checkpoint_sha256") != digest:
        reasons.append("the validation report was made for other weights or config "
                       "(checkpoint digest differs); validate this checkpoint again")  # fmt: skip
    if report.get("passed") is not True:
        reasons.append("the validation report did not pass")
    episodes = int(report.get("episodes", 0))
    if episodes < config.min_episodes:
        reasons.append(f"validated on {episodes} episodes, the gate needs {config.min_episodes}")
    fall_rate = float(report.get("fall_rate", 1.0))
    if fall_rate > config.max_fall_rate:
        reasons.append(f"fall_rate {fall_rate:.3f} > {config.max_fall_rate}")
    torque = float(report.get("max_torque_ratio", float("inf")))
    if torque > config.max_torque_ratio:
        reasons.append(f"max_torque_ratio {torque:.2f} > {config.max_torque_ratio}")
    try:
        robot = json.loads((root / "robot.json").read_text())
        kp_max, kd_max = max(robot["kp"]), max(robot["kd"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        reasons.append(f"robot.json has no usable gains: {exc}")
    else:
        if kp_max > g1.KP_MAX or kd_max > g1.KD_MAX:
            reasons.append(f"gains outside the hardware envelope: kp max {kp_max} "
                           f"(<= {g1.KP_MAX}), kd max {kd_max} (<= {g1.KD_MAX})")  # fmt: skip
    if reasons:
        raise HardwareGateError(f"{root}: refused for hardware: " + "; ".join(reasons))
    return report
