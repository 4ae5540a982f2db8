"""A small CNN that reads one arm's 7 joint angles off a single RGB image of the G1 (PoseDiff's
single-image estimator), trained on renders of the twin.

- ``ArmPoseRenderer``: the twin standing in its home pose (pelvis fixed, no physics: only the
  picture matters), one arm at random angles inside ``ArmPoseDataConfig``'s sampling box, seen
  by a free camera in front of the robot whose look-at point, distance and angles are jittered
  per image so the model does not learn one exact viewpoint. ``render_dataset`` draws a
  seeded set of (images, angles).
- ``ArmPoseNet``: 4 stages of (stride-2 conv, conv) with batch norm, a flattened 6x6 map and
  an MLP head; outputs the angles normalised to [-1, 1] over the sampling box. Flattening
  instead of global pooling keeps *where* the hand is, which is most of the signal.
- ``ArmPoseEstimator``: the trained model with its config; ``save`` / ``load`` a folder of
  ``arm_pose.safetensors`` + ``arm_pose.json`` (joint names, image size, sampling box, camera,
  normalisation, held-out error). Loading fails on any mismatch with ``g1`` (``ArmPoseLoadError``).
- ``train_arm_pose`` (seeded, CPU, minutes) and ``evaluate`` (per-joint absolute error).

The shipped checkpoint lives in ``humanoid_teleop/assets/arm_pose/`` (``shipped_arm_pose``),
its held-out error per joint in its JSON; ``humanoid-teleop arm-pose`` reproduces it. What a
96 px capsule render shows bounds what any model can read from it: the shoulder and elbow
move the whole forearm, the wrist joints roll capsules about their own axes or tilt a hand of
a few pixels, so the wrist errors stay near chance. torch and mujoco are imported lazily.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Self

import numpy as np

from humanoid_teleop import g1

FORMAT = "arm_pose/1"
WEIGHTS = "arm_pose.safetensors"
CONFIG = "arm_pose.json"
ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "arm_pose"


class ArmPoseLoadError(ValueError):
    """An arm-pose checkpoint that cannot be used; the message says why."""


@dataclass(frozen=True)
class CameraJitter:
    """The data camera: a free camera at ``distance_m`` from ``lookat_m`` (pelvis-at-origin
    world frame, robot facing +x); azimuth 180 = straight in front. Each image draws its
    look-at point, distance and angles uniformly within the ``*_jitter`` half-widths."""

    lookat_m: tuple[float, float, float] = (0.1, -0.2, 0.95)
    distance_m: float = 1.05
    azimuth_deg: float = 180.0
    elevation_deg: float = -8.0
    lookat_jitter_m: float = 0.03
    distance_jitter_m: float = 0.1
    azimuth_jitter_deg: float = 5.0
    elevation_jitter_deg: float = 4.0

    def __post_init__(self):
        if not 0.5 <= self.distance_m - self.distance_jitter_m:
            raise ValueError("camera: distance_m - distance_jitter_m must be >= 0.5 m")
        if min(self.lookat_jitter_m, self.distance_jitter_m, self.azimuth_jitter_deg,
               self.elevation_jitter_deg) < 0:  # fmt: skip
            raise ValueError("camera: jitter half-widths must be >= 0")


@dataclass(frozen=True)
class ArmPoseDataConfig:
    """What the renders show. ``range_fraction`` shrinks each joint's limits about their
    middle: the last 15 % of a G1 arm's range puts the hand inside the torso or behind the
    back, poses no manipulation plan asks for and no single image disambiguates."""

    side: Literal["left", "right"] = "right"
    image_px: int = 96
    variant: Literal["capsule", "mesh"] = "capsule"  # capsules render ~5x faster on CPU
    range_fraction: float = 0.85
    camera: CameraJitter = field(default_factory=CameraJitter)

    def __post_init__(self):
        if self.side not in ("left", "right"):
            raise ValueError(f"side: expected 'left' or 'right', got {self.side!r}")
        if self.image_px % 16 or not 32 <= self.image_px <= 256:
            raise ValueError(f"image_px: expected a multiple of 16 in 32..256, got {self.image_px}")
        if self.variant not in ("capsule", "mesh"):
            raise ValueError(f"variant: expected 'capsule' or 'mesh', got {self.variant!r}")
        if not 0.1 <= self.range_fraction <= 1.0:
            raise ValueError(f"range_fraction: expected 0.1..1, got {self.range_fraction}")

    @property
    def arm(self) -> slice:
        return g1.RIGHT_ARM if self.side == "right" else g1.LEFT_ARM

    @property
    def joint_names(self) -> tuple[str, ...]:
        return g1.JOINT_NAMES[self.arm]

    @property
    def sample_box_rad(self) -> np.ndarray:
        """(7, 2) lower, upper: the joint limits shrunk by ``range_fraction`` about their middle."""
        lim = g1.POSITION_LIMITS_RAD[self.arm]
        mid, half = lim.mean(axis=1), (lim[:, 1] - lim[:, 0]) / 2 * self.range_fraction
        return np.stack([mid - half, mid + half], axis=1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ArmPoseDataConfig:
        d = dict(d)
        d["camera"] = CameraJitter(**{k: tuple(v) if isinstance(v, list) else v
                                      for k, v in d["camera"].items()})  # fmt: skip
        return cls(**d)


class ArmPoseRenderer:
    """Offscreen renders of the twin with one arm posed; see the module docstring.

    Needs a headless GL backend chosen before mujoco is imported (``sim.render``)."""

    def __init__(self, config: ArmPoseDataConfig | None = None):
        import mujoco

        from humanoid_teleop.sim.model import build_model

        self.config = c = config or ArmPoseDataConfig()
        self._mujoco = mujoco
        self.model = build_model(c.variant)
        self.data = mujoco.MjData(self.model)
        mujoco.mj_resetDataKeyframe(self.model, self.data, self.model.key("home").id)
        self._qpos_arm = np.array([self.model.joint(n).qposadr[0] for n in c.joint_names])
        vis = self.model.vis.global_
        vis.offwidth, vis.offheight = max(vis.offwidth, c.image_px), max(vis.offheight, c.image_px)
        self._renderer = mujoco.Renderer(self.model, c.image_px, c.image_px)
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE

    def render(self, q_arm_rad: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(7,) arm angles -> (S, S, 3) uint8; the camera is jittered when ``rng`` is given."""
        q = np.asarray(q_arm_rad, dtype=float)
        if q.shape != (7,) or not np.all(np.isfinite(q)):
            raise ValueError(f"q_arm_rad: expected 7 finite angles, got {q.shape}")
        cam, j = self._camera, self.config.camera
        u = rng.uniform(-1.0, 1.0, 6) if rng is not None else np.zeros(6)
        cam.lookat[:] = np.asarray(j.lookat_m) + u[:3] * j.lookat_jitter_m
        cam.distance = j.distance_m + u[3] * j.distance_jitter_m
        cam.azimuth = j.azimuth_deg + u[4] * j.azimuth_jitter_deg
        cam.elevation = j.elevation_deg + u[5] * j.elevation_jitter_deg
        self.data.qpos[self._qpos_arm] = q
        self._mujoco.mj_kinematics(self.model, self.data)
        self._renderer.update_scene(self.data, camera=cam)
        return self._renderer.render()

    def sample_angles(self, n: int, rng: np.random.Generator) -> np.ndarray:
        box = self.config.sample_box_rad
        return rng.uniform(box[:, 0], box[:, 1], size=(n, 7))

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def render_dataset(
    n: int, seed: int, config: ArmPoseDataConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``n`` seeded renders: (images (n, S, S, 3) uint8, angles (n, 7) rad). The same seed
    gives the same set; train and held-out sets use different seeds."""
    if n < 1:
        raise ValueError(f"n: expected >= 1, got {n}")
    rng = np.random.default_rng(seed)
    with ArmPoseRenderer(config) as renderer:
        q = renderer.sample_angles(n, rng)
        s = renderer.config.image_px
        images = np.empty((n, s, s, 3), np.uint8)
        for i in range(n):
            images[i] = renderer.render(q[i], rng)
            if progress is not None and (i + 1) % 200 == 0:
                progress(i + 1, n)
    return images, q


# -- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmPoseNetConfig:
    channels: tuple[int, ...] = (16, 32, 48, 64)  # one stride-2 stage each
    hidden: int = 128

    def __post_init__(self):
        if len(self.channels) != 4 or min(self.channels) < 1 or self.hidden < 1:
            raise ValueError(f"expected 4 positive channel counts and hidden >= 1, got "
                             f"{self.channels}, {self.hidden}")  # fmt: skip


def _make_net(net: ArmPoseNetConfig, image_px: int):
    import torch
    from torch import nn

    layers: list[nn.Module] = []
    c_in = 3
    for c in net.channels:
        layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c),
                   nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c), nn.ReLU(inplace=True)]  # fmt: skip
        c_in = c
    side = image_px // 16
    return nn.Sequential(
        *layers, nn.Flatten(), nn.Dropout(0.1), nn.Linear(c_in * side * side, net.hidden),
        nn.ReLU(inplace=True), nn.Linear(net.hidden, 7), torch.nn.Tanh(),
    )  # fmt: skip


@dataclass(frozen=True)
class ArmPoseError:
    """Absolute joint errors on a labelled set (degrees)."""

    per_joint_mae_deg: dict[str, float]
    median_deg: float  # over every joint of every image
    p90_deg: float
    mean_deg: float
    images: int

    def to_dict(self) -> dict:
        return asdict(self)


class ArmPoseEstimator:
    """RGB image(s) -> the 7 angles of ``data.side``'s arm (rad, ``data.joint_names`` order)."""

    def __init__(self, data: ArmPoseDataConfig, net: ArmPoseNetConfig | None = None,
                 metadata: dict | None = None):  # fmt: skip
        import torch

        self.data, self.net = data, net or ArmPoseNetConfig()
        self.metadata = dict(metadata or {})
        self._torch = torch
        self.module = _make_net(self.net, data.image_px).eval()
        box = torch.as_tensor(data.sample_box_rad, dtype=torch.float32)
        self._mid, self._half = box.mean(dim=1), (box[:, 1] - box[:, 0]) / 2

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def _inputs(self, images_rgb: np.ndarray):
        images = np.asarray(images_rgb)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images: expected (H, W, 3) or (N, H, W, 3) uint8, got "
                             f"{images.shape} {images.dtype}")  # fmt: skip
        s = self.data.image_px
        if images.shape[1:3] != (s, s):
            import cv2  # a camera image: resized to what the model was trained on

            images = np.stack([cv2.resize(im, (s, s), interpolation=cv2.INTER_AREA)
                               for im in images])  # fmt: skip
        return self._torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)

    @staticmethod
    def _normalise(x_uint8):
        """(N, 3, S, S) uint8 -> float in [-1, 1]; done per batch so a training set stays uint8."""
        return x_uint8.float().div_(127.5).sub_(1.0)

    def predict(self, images_rgb: np.ndarray, batch: int = 256) -> np.ndarray:
        """(H, W, 3) or (N, H, W, 3) uint8 -> (7,) or (N, 7) angles in rad."""
        single = np.asarray(images_rgb).ndim == 3
        x = self._inputs(images_rgb)
        self.module.eval()
        with self._torch.inference_mode():
            out = [self.module(self._normalise(x[i : i + batch])) for i in range(0, len(x), batch)]
        q = (self._torch.cat(out) * self._half + self._mid).numpy().astype(float)
        return q[0] if single else q

    def evaluate(self, images_rgb: np.ndarray, q_true_rad: np.ndarray) -> ArmPoseError:
        err = np.degrees(np.abs(self.predict(images_rgb) - np.asarray(q_true_rad)))
        return ArmPoseError(
            {n: round(float(e), 2) for n, e in zip(self.data.joint_names, err.mean(axis=0),
                                                   strict=True)},
            round(float(np.median(err)), 2), round(float(np.percentile(err, 90)), 2),
            round(float(err.mean()), 2), len(err),
        )  # fmt: skip

    # -- checkpoint ----------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # Half precision halves the shipped file; the error it adds is measured in the tests.
        state = {k: (v.half() if v.is_floating_point() else v).detach().contiguous()
                 for k, v in self.module.state_dict().items()}  # fmt: skip
        save_file(state, str(folder / WEIGHTS))
        config = {"format": FORMAT, "joint_names": list(self.data.joint_names),
                  "data": self.data.to_dict(), "net": asdict(self.net), **self.metadata}  # fmt: skip
        (folder / CONFIG).write_text(json.dumps(config, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path = ASSET_DIR) -> ArmPoseEstimator:
        folder = Path(folder)
        for name in (CONFIG, WEIGHTS):
            if not (folder / name).is_file():
                raise ArmPoseLoadError(f"{folder}: no {name}, not an arm-pose checkpoint")
        try:
            import torch  # noqa: F401 - the model needs it; say so here, not mid-construction
            from safetensors.torch import load_file
        except ImportError as exc:
            raise ArmPoseLoadError(f"the arm-pose model needs torch and safetensors "
                                   f"(pip install -e '.[policy]'): {exc}") from exc  # fmt: skip
        try:
            d = json.loads((folder / CONFIG).read_text())
        except json.JSONDecodeError as exc:
            raise ArmPoseLoadError(f"{folder / CONFIG}: not JSON ({exc})") from exc
        if d.get("format") != FORMAT:
            raise ArmPoseLoadError(f"{folder / CONFIG}: expected format {FORMAT!r}, "
                                   f"got {d.get('format')!r}")  # fmt: skip
        try:
            data = ArmPoseDataConfig.from_dict(d["data"])
            net = ArmPoseNetConfig(**{k: tuple(v) if isinstance(v, list) else v
                                      for k, v in d["net"].items()})  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ArmPoseLoadError(f"{folder / CONFIG}: bad config ({exc})") from exc
        # Joint order is data: a checkpoint for another joint order must not load silently.
        if tuple(d.get("joint_names", ())) != data.joint_names:
            raise ArmPoseLoadError(f"{folder / CONFIG}: joint_names {d.get('joint_names')} do not "
                                   f"match the G1's {data.side} arm {data.joint_names}")  # fmt: skip
        metadata = {k: v for k, v in d.items()
                    if k not in ("format", "joint_names", "data", "net")}  # fmt: skip
        est = cls(data, net, metadata)
        try:
            state = {k: v.float() if v.is_floating_point() else v
                     for k, v in load_file(str(folder / WEIGHTS)).items()}  # fmt: skip
            est.module.load_state_dict(state)
        except (RuntimeError, OSError, ValueError) as exc:
            raise ArmPoseLoadError(f"{folder / WEIGHTS}: weights do not fit the config "
                                   f"({exc})") from exc  # fmt: skip
        est.module.eval()
        return est


# -- training ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmPoseTrainConfig:
    epochs: int = 24
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    max_seconds: float = 600.0  # stop early (and say so) rather than run past this

    def __post_init__(self):
        if self.epochs < 1 or self.batch < 1 or not self.lr > 0 or not self.max_seconds > 0:
            raise ValueError("epochs, batch >= 1 and lr, max_seconds > 0 expected")


def train_arm_pose(
    images: np.ndarray, q_rad: np.ndarray, data: ArmPoseDataConfig,
    config: ArmPoseTrainConfig | None = None, net: ArmPoseNetConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> ArmPoseEstimator:  # fmt: skip
    """Seeded AdamW + one-cycle schedule, smooth-L1 on the normalised angles. Augmentation:
    per-image brightness and contrast (the renders' lighting is fixed, cameras' is not);
    no flips, which would swap which arm is seen. ``metadata['training']`` records it."""
    import torch

    cfg = config or ArmPoseTrainConfig()
    if len(images) != len(q_rad) or len(images) < cfg.batch:
        raise ValueError(f"expected as many images as labels, at least one batch "
                         f"({cfg.batch}); got {len(images)} and {len(q_rad)}")  # fmt: skip
    torch.manual_seed(cfg.seed)
    est = ArmPoseEstimator(data, net)
    x_all = est._inputs(images)
    y_all = (torch.as_tensor(q_rad, dtype=torch.float32) - est._mid) / est._half
    steps_per_epoch = len(x_all) // cfg.batch
    opt = torch.optim.AdamW(est.module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    started = time.perf_counter()
    epochs_done, loss_value = 0, math.nan
    est.module.train()
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(x_all), generator=gen)
        total = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch : (b + 1) * cfg.batch]
            x = est._normalise(x_all[idx])
            gain = torch.empty(len(idx), 1, 1, 1).uniform_(0.75, 1.25, generator=gen)
            offset = torch.empty(len(idx), 1, 1, 1).uniform_(-0.15, 0.15, generator=gen)
            x = (x * gain + offset).clamp_(-1.0, 1.0)
            loss = torch.nn.functional.smooth_l1_loss(est.module(x), y_all[idx], beta=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        epochs_done, loss_value = epoch + 1, total / steps_per_epoch
        if log is not None:
            log(f"epoch {epochs_done}/{cfg.epochs} loss {loss_value:.4f} "
                f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
        if time.perf_counter() - started > cfg.max_seconds:
            break
    est.module.eval()
    est.metadata["training"] = {
        **asdict(cfg), "images": len(x_all), "epochs_done": epochs_done,
        "final_loss": round(loss_value, 5), "seconds": round(time.perf_counter() - started, 1),
        "parameters": est.parameters,
    }  # fmt: skip
    return est


def shipped_arm_pose() -> ArmPoseEstimator:
    """The checkpoint shipped in ``assets/arm_pose`` (its held-out error in its JSON)."""
    return ArmPoseEstimator.load(ASSET_DIR)


HELD_OUT_SEED_OFFSET = 1_000_003  # held-out renders never share a seed with training sets


def build_arm_pose_checkpoint(
    out_dir: str | Path, train_images: int = 12000, held_out_images: int = 500,
    data: ArmPoseDataConfig | None = None, train: ArmPoseTrainConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:  # fmt: skip
    """Render a training set, train, render a held-out set (another seed), measure the
    error there and save the checkpoint with that error in its JSON. Returns the report
    (render throughput, training time, held-out error)."""
    data, train = data or ArmPoseDataConfig(), train or ArmPoseTrainConfig()
    say = log or (lambda _msg: None)
    started = time.perf_counter()
    images, q = render_dataset(train_images, train.seed, data,
                               lambda i, n: say(f"rendered {i}/{n}"))  # fmt: skip
    render_s = time.perf_counter() - started
    say(f"rendered {train_images} training images in {render_s:.0f} s")
    est = train_arm_pose(images, q, data, train, log=say)
    held_images, held_q = render_dataset(held_out_images, train.seed + HELD_OUT_SEED_OFFSET, data)
    est.metadata["held_out"] = {"seed": train.seed + HELD_OUT_SEED_OFFSET,
                                **est.evaluate(held_images, held_q).to_dict()}  # fmt: skip
    est.save(out_dir)
    # The shipped weights are float16: report the error of what was actually saved.
    saved = ArmPoseEstimator.load(out_dir)
    report = {
        "render_images_per_s": round(train_images / render_s, 1),
        "training": est.metadata["training"],
        "held_out": est.metadata["held_out"],
        "held_out_saved_float16": saved.evaluate(held_images, held_q).to_dict(),
        "checkpoint_bytes": (Path(out_dir) / WEIGHTS).stat().st_size,
    }
    return report
