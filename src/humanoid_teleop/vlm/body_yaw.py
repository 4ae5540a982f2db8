"""Body orientation of a watched person from one crop: the cue a silhouette track lacks.

A person's track gives where they go, not which way they face, so walking backwards, a
sidestep and a turn on the spot all look like (slow) forward walking. ``BodyYawModel`` is a
small CNN the project trains itself on renders of the G1 twin (``vlm.body_yaw_train``): it
takes a square crop around the person (``crop_person``) and predicts the body's yaw relative
to the camera ray, as (sin, cos):

- ``rel_yaw = body yaw - bearing of the ray from the camera to the person`` (both seen from
  above, counter-clockwise positive). 0: the person faces away from the camera (their back is
  seen); pi: they face the camera; +pi/2: they face to the camera's left (their right side
  is seen). Appearance depends (almost) only on this angle and the camera's elevation, so
  one model serves any camera position and any place in the image.

Checkpoints describe themselves (DESIGN.md, style 12): ``body_yaw.safetensors`` (weights) and
``body_yaw.json`` (architecture, input size, crop rule, what it was trained on and its
held-out error). ``load_body_yaw`` checks both and raises ``BodyYawModelError`` with what was
expected and what arrived. torch is imported lazily (an optional dependency).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FORMAT = "humanoid-teleop/body-yaw/1"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "assets" / "third_person"
WEIGHTS_NAME = "body_yaw.safetensors"
CONFIG_NAME = "body_yaw.json"


class BodyYawModelError(RuntimeError):
    """The body-yaw checkpoint is missing, malformed or does not match its config."""


@dataclass(frozen=True)
class BodyYawConfig:
    """Architecture and input of the body-yaw CNN (stored next to the weights)."""

    input_px: int = 64  # square RGB crop
    channels: tuple[int, ...] = (16, 32, 48, 64)  # one stride-2 stage each
    # Crop side = crop_scale * the person's box height, centred on the box (a box that grew a
    # shadow or lost a limb still leaves the body inside).
    crop_scale: float = 1.3

    def __post_init__(self):
        if not 32 <= self.input_px <= 128 or self.input_px % 2 ** len(self.channels):
            raise ValueError(
                f"input_px: expected 32..128 divisible by {2 ** len(self.channels)}, "
                f"got {self.input_px}"
            )
        if not self.channels or any(c < 1 for c in self.channels):
            raise ValueError(f"channels: expected positive widths, got {self.channels}")
        if not 1.0 <= self.crop_scale <= 3.0:
            raise ValueError(f"crop_scale: expected 1..3, got {self.crop_scale}")


def crop_person(
    image_rgb: np.ndarray, cx_px: float, cy_px: float, h_px: float, config: BodyYawConfig
) -> np.ndarray:
    """(input_px, input_px, 3) uint8: a square of side ``crop_scale * h_px`` around
    (``cx_px``, ``cy_px``), padded with edge pixels where it leaves the image."""
    import cv2

    side = max(8.0, config.crop_scale * h_px)
    n = config.input_px
    s = n / side
    # Affine map image pixel -> crop pixel (one resample); warps have no area filter, so a
    # crop shrunk by more than 2x is blurred first (no aliasing).
    m = np.array([[s, 0.0, n / 2 - s * cx_px], [0.0, s, n / 2 - s * cy_px]])
    src = image_rgb
    if s < 0.5:
        k = round(0.5 / s) * 2 + 1
        src = cv2.GaussianBlur(image_rgb, (k, k), 0)
    return cv2.warpAffine(src, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def build_network(config: BodyYawConfig):
    """The CNN (torch.nn.Module): stride-2 conv stages, global average pool, linear -> 2."""
    import torch
    from torch import nn

    layers: list[nn.Module] = []
    c_in = 3
    for c_out in config.channels:
        layers += [
            nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 2)]
    net = nn.Sequential(*layers)
    net.eval()
    torch.nn.init.zeros_(net[-1].bias)
    return net


def to_tensor(crops_u8: np.ndarray):
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in -1..1."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(crops_u8)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


class BodyYawModel:
    """``predict(crops)`` -> relative yaw (rad) and the (sin, cos) vector's length (a
    confidence: short where the network hesitates between directions)."""

    def __init__(self, net, config: BodyYawConfig, meta: dict | None = None):
        self.net = net
        self.config = config
        self.meta = meta or {}

    def predict(self, crops_u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.net(to_tensor(crops_u8)).numpy()
        return np.arctan2(out[:, 0], out[:, 1]), np.hypot(out[:, 0], out[:, 1])

    def predict_one(self, image_rgb: np.ndarray, cx: float, cy: float, h: float):
        """(rel_yaw_rad, strength) of the person whose box is centred at (cx, cy), h tall."""
        yaw, strength = self.predict(crop_person(image_rgb, cx, cy, h, self.config)[None])
        return float(yaw[0]), float(strength[0])


def save_body_yaw(model: BodyYawModel, folder: Path) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in model.net.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_NAME))
    doc = {"format": FORMAT, "config": asdict(model.config), **model.meta}
    (folder / CONFIG_NAME).write_text(json.dumps(doc, indent=1) + "\n")


def load_body_yaw(folder: Path | str | None = None) -> BodyYawModel:
    """The shipped (or given) checkpoint; ``BodyYawModelError`` if absent or inconsistent."""
    folder = Path(folder) if folder is not None else DEFAULT_DIR
    weights, config_path = folder / WEIGHTS_NAME, folder / CONFIG_NAME
    missing = [p.name for p in (weights, config_path) if not p.is_file()]
    if missing:
        raise BodyYawModelError(
            f"{folder}: body-yaw checkpoint incomplete, missing {missing}; regenerate with "
            "`python -m humanoid_teleop.vlm.body_yaw_train`"
        )
    try:
        doc = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BodyYawModelError(f"{config_path}: not readable JSON ({exc})") from exc
    if doc.get("format") != FORMAT:
        raise BodyYawModelError(
            f"{config_path}: format expected {FORMAT!r}, got {doc.get('format')!r}"
        )
    raw = dict(doc.get("config", {}))
    raw["channels"] = tuple(raw.get("channels", ()))
    try:
        config = BodyYawConfig(**raw)
    except (TypeError, ValueError) as exc:
        raise BodyYawModelError(f"{config_path}: bad config ({exc})") from exc
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise BodyYawModelError(f"{weights}: not a readable safetensors file ({exc})") from exc
    net = build_network(config)
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    arrived = {k: tuple(v.shape) for k, v in state.items()}
    if expected != arrived:
        diff = sorted(set(expected.items()) ^ set(arrived.items()))[:4]
        raise BodyYawModelError(
            f"{weights}: tensors do not match the config in {config_path.name} "
            f"(first differences, name and shape: {diff})"
        )
    net.load_state_dict(state)
    net.eval()
    meta = {k: v for k, v in doc.items() if k not in ("format", "config")}
    return BodyYawModel(net, config, meta)


def wrap_rad(a):
    """Angle(s) wrapped to (-pi, pi]."""
    return np.mod(np.asarray(a) + math.pi, 2 * math.pi) - math.pi
