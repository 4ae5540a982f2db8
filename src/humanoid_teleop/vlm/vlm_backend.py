"""Transformers VLM backend: a local vision-language checkpoint describes the motion in the last
few frames; the description (strict parser) or a small learned head over its pooled hidden
state becomes the Intent.

- ``load_vlm(path)``: a local checkpoint directory through the transformers Auto classes
  (config -> ``AutoModelForImageTextToText``, ``AutoTokenizer``). Nothing is downloaded.
  ``VlmLoadError`` (a ``ValueError``) says what is wrong: no such directory, no config.json,
  a config that is not a vision-language model, transformers not installed, weights that do
  not load.
- ``VlmDescriber.describe(images, prompt)``: generates a short text and returns it with the
  pooled latent (mean over the prompt tokens of the last layer's hidden states, float32).
  Inputs for the Qwen2-VL / Qwen2.5-VL families are built by hand (the processor classes need
  torchvision, which the CPU stack lacks): each frame is resized to a multiple of 28 px,
  normalised with the CLIP mean / std and cut into the 14 px patches (2x2 merge windows,
  the frame repeated over the temporal patch) the vision tower expects; the text repeats the
  image pad token once per merged patch; ``mm_token_type_ids`` marks image tokens. Other
  families (SmolVLM, ...) go through ``AutoProcessor`` where it loads.
- ``IntentHead``: an optional MLP (latent -> walk logit, vx, vy, yaw rate) saved as
  ``intent_head.safetensors`` + ``intent_head.json`` in the checkpoint directory (or given
  explicitly); when present its output is used instead of the parsed text.
- ``VlmIntentEstimator``: the ``IntentEstimator``. ``update(frame)`` keeps one frame every
  ``sample_period_s`` in a ring buffer of ``frames`` and returns at once with the newest
  finished intent (``frame_timestamp_s`` = the newest frame the VLM saw; ``latent`` set); a
  worker thread runs the model at most ``rate_hz`` times a second on the newest K frames.
  Text the parser rejects (and no head) gives a ``stand`` intent with confidence 0: the safe
  reading of "the model did not say".

torch and transformers are imported lazily (the ``vlm`` extra).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

from humanoid_teleop.contracts import (
    VIEWS,
    WALK_COMMAND_RANGES,
    CommandRanges,
    Frame,
    Intent,
    VelocityCommand,
)
from humanoid_teleop.vlm.motion_text import NominalSpeeds, parse_motion_text

PROMPTS = {
    "egocentric": "Describe the motion of the first-person individual.",
    "third_person": "Describe the motion of the person.",
}
HEAD_WEIGHTS = "intent_head.safetensors"
HEAD_CONFIG = "intent_head.json"
_CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
_CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
_QWEN_TYPES = ("qwen2_vl", "qwen2_5_vl")


class VlmLoadError(ValueError):
    """A VLM checkpoint directory cannot be used; the message says why."""


class VlmInferenceError(RuntimeError):
    """The model failed while running (its worker thread stopped)."""


@dataclass(frozen=True)
class VlmConfig:
    """How the backend samples, prompts and runs the model."""

    view: str = "egocentric"
    frames: int = 4  # K frames per query
    sample_period_s: float = 0.25  # spacing of the frames in the ring buffer
    rate_hz: float = 2.0  # at most this many queries per second
    image_width_px: int = 224  # each frame's size for the vision tower (multiples of 28)
    image_height_px: int = 168
    max_new_tokens: int = 12
    device: str = "cpu"
    dtype: str = "float32"  # float32 | bfloat16 | float16
    speeds: NominalSpeeds = field(default_factory=NominalSpeeds)
    ranges: CommandRanges = WALK_COMMAND_RANGES

    def __post_init__(self):
        if self.view not in VIEWS:
            raise ValueError(f"view: expected one of {VIEWS}, got {self.view!r}")
        if not 1 <= self.frames <= 32:
            raise ValueError(f"frames: expected 1..32, got {self.frames}")
        if not 0 < self.sample_period_s <= 5 or not 0 < self.rate_hz <= 60:
            raise ValueError("sample_period_s: expected 0..5 s and rate_hz: 0..60")
        for name in ("image_width_px", "image_height_px"):
            v = getattr(self, name)
            if v % 28 or not 28 <= v <= 1344:
                raise ValueError(f"{name}: expected a multiple of 28 in 28..1344, got {v}")
        if not 1 <= self.max_new_tokens <= 256:
            raise ValueError(f"max_new_tokens: expected 1..256, got {self.max_new_tokens}")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype: expected float32|bfloat16|float16, got {self.dtype!r}")

    @property
    def prompt(self) -> str:
        return PROMPTS[self.view]


# -- loading --------------------------------------------------------------------------------


def _require_transformers():
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise VlmLoadError(
            f"the VLM backend needs torch and transformers (pip install '.[vlm]'): {exc}"
        ) from exc
    return torch, transformers


def load_vlm(path: str | Path, config: VlmConfig | None = None) -> VlmDescriber:
    """The model and tokenizer in ``path`` (a local directory), ready to describe frames."""
    config = config or VlmConfig()
    path = Path(path)
    if not path.exists():
        raise VlmLoadError(f"{path}: no such directory (expected a local VLM checkpoint)")
    if not path.is_dir():
        raise VlmLoadError(f"{path}: not a directory (expected a local VLM checkpoint folder)")
    if not (path / "config.json").is_file():
        raise VlmLoadError(f"{path}: no config.json, not a transformers checkpoint directory")
    torch, transformers = _require_transformers()
    try:
        model_config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise VlmLoadError(f"{path}: config.json is not a readable model config ({exc})") from exc
    if getattr(model_config, "vision_config", None) is None:
        raise VlmLoadError(
            f"{path}: a {model_config.model_type!r} model without a vision tower, not a "
            "vision-language model (expected e.g. Qwen2-VL, Qwen2.5-VL, SmolVLM)"
        )
    dtype = getattr(torch, config.dtype)
    try:
        model = transformers.AutoModelForImageTextToText.from_pretrained(
            path, local_files_only=True, dtype=dtype
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (ValueError, OSError, KeyError, RuntimeError) as exc:
        raise VlmLoadError(
            f"{path}: the checkpoint does not load ({type(exc).__name__}: {exc})"
        ) from exc
    model.to(config.device).eval()
    processor = None
    if model_config.model_type not in _QWEN_TYPES:
        try:
            processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
        except (ValueError, OSError, KeyError, ImportError, AttributeError) as exc:
            raise VlmLoadError(
                f"{path}: no usable processor for {model_config.model_type!r} ({exc}); "
                f"inputs are built by hand only for {_QWEN_TYPES}"
            ) from exc
    head = IntentHead.load(path) if (path / HEAD_WEIGHTS).is_file() else None
    return VlmDescriber(model, tokenizer, processor, config, head)


# -- inference ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Description:
    text: str
    latent: np.ndarray  # (D,) float32: mean of the last hidden states over the prompt
    head_output: np.ndarray | None  # (4,) walk logit, vx, vy, yaw rate, when a head is loaded
    seconds: float  # inference time


class VlmDescriber:
    """One loaded model: frames + prompt -> (text, pooled latent). Not thread-safe: one caller."""

    def __init__(self, model, tokenizer, processor, config: VlmConfig, head: IntentHead | None):
        import torch

        self.model, self.tokenizer, self.processor = model, tokenizer, processor
        self.config, self.head = config, head
        self._torch = torch
        mc = model.config
        self.model_type = mc.model_type
        self.hidden_size = int(mc.get_text_config().hidden_size)
        if head is not None and head.config.latent_dim != self.hidden_size:
            raise VlmLoadError(
                f"intent head expects latents of {head.config.latent_dim}, "
                f"the model gives {self.hidden_size}"
            )

    def describe(self, images: list[np.ndarray], prompt: str | None = None) -> Description:
        torch = self._torch
        start = time.perf_counter()
        prompt = prompt or self.config.prompt
        if self.processor is None:
            inputs = self._qwen_inputs(images, prompt)
        else:
            inputs = self._processor_inputs(images, prompt)
        inputs = {k: v.to(self.config.device) for k, v in inputs.items()}
        n_prompt = inputs["input_ids"].shape[1]
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=self.config.max_new_tokens, do_sample=False,
                return_dict_in_generate=True, output_hidden_states=True,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )  # fmt: skip
            # hidden_states[0]: the prompt pass, one tensor per layer; the last is the top.
            last = out.hidden_states[0][-1][0]  # (L, D)
            latent = last.float().mean(dim=0)
            head_out = None
            if self.head is not None:
                head_out = self.head(latent[None].to(self.head.device))[0].float().cpu().numpy()
        text = self.tokenizer.decode(out.sequences[0, n_prompt:], skip_special_tokens=True)
        return Description(
            text.strip(), latent.cpu().numpy().astype(np.float32), head_out,
            time.perf_counter() - start,
        )  # fmt: skip

    # -- inputs ---------------------------------------------------------------------------
    def _qwen_inputs(self, images: list[np.ndarray], prompt: str) -> dict:
        """Qwen2-VL / Qwen2.5-VL inputs without the processor (see the module docstring)."""
        torch, mc = self._torch, self.model.config
        vc = mc.vision_config
        patch, merge, tp = vc.patch_size, vc.spatial_merge_size, vc.temporal_patch_size
        w, h = self.config.image_width_px, self.config.image_height_px
        if w % (patch * merge) or h % (patch * merge):
            raise ValueError(f"image size {w}x{h}: expected multiples of {patch * merge}")
        gh, gw = h // patch, w // patch
        tokens_per_image = gh * gw // (merge * merge)
        pixel_rows, grids = [], []
        for img in images:
            x = (_resize(img, w, h).astype(np.float32) / 255.0 - _CLIP_MEAN) / _CLIP_STD
            x = x.transpose(2, 0, 1)  # (C, H, W)
            x = x.reshape(3, gh // merge, merge, patch, gw // merge, merge, patch)
            x = x.transpose(1, 4, 2, 5, 0, 3, 6)  # (gh/m, gw/m, m, m, C, ph, pw)
            x = np.broadcast_to(x[:, :, :, :, :, None], (*x.shape[:5], tp, patch, patch))
            pixel_rows.append(x.reshape(gh * gw, 3 * tp * patch * patch))
            grids.append((1, gh, gw))
        tok = self.tokenizer
        ids: list[int] = []
        types: list[int] = []

        def text(s: str) -> None:
            piece = tok(s, add_special_tokens=False)["input_ids"]
            ids.extend(piece)
            types.extend([0] * len(piece))

        chat = "<|im_start|>" in tok.get_vocab()
        text("<|im_start|>user\n" if chat else "")
        for _ in images:
            ids.append(mc.vision_start_token_id)
            ids.extend([mc.image_token_id] * tokens_per_image)
            ids.append(mc.vision_end_token_id)
            types.extend([0] + [1] * tokens_per_image + [0])
        text(f"{prompt}<|im_end|>\n<|im_start|>assistant\n" if chat else f"{prompt}\n")
        input_ids = torch.tensor([ids], dtype=torch.long)
        return {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "mm_token_type_ids": torch.tensor([types], dtype=torch.int32),
            "pixel_values": torch.from_numpy(np.concatenate(pixel_rows)).to(self.model.dtype),
            "image_grid_thw": torch.tensor(grids, dtype=torch.long),
        }

    def _processor_inputs(self, images: list[np.ndarray], prompt: str) -> dict:
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": prompt}]
        messages = [{"role": "user", "content": content}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        size = (self.config.image_width_px, self.config.image_height_px)
        frames = [_resize(img, *size) for img in images]
        inputs = self.processor(text=text, images=[frames], return_tensors="pt")
        return {k: v for k, v in inputs.items() if hasattr(v, "to")}


def _resize(image_rgb: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    import cv2

    if image_rgb.shape[:2] == (height_px, width_px):
        return image_rgb
    return cv2.resize(image_rgb, (width_px, height_px), interpolation=cv2.INTER_AREA)


# -- intent head ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IntentHeadConfig:
    latent_dim: int
    hidden: int = 128
    ranges: CommandRanges = WALK_COMMAND_RANGES  # the outputs are clamped to these

    def __post_init__(self):
        if self.latent_dim < 1 or self.hidden < 1:
            raise ValueError(f"latent_dim and hidden: expected >= 1, got {self.latent_dim}, "
                             f"{self.hidden}")  # fmt: skip

    def to_json(self) -> str:
        d = asdict(self)
        d["ranges"] = self.ranges.as_dict()
        return json.dumps({"format": "intent_head/1", **d}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> IntentHeadConfig:
        d = json.loads(text)
        if d.pop("format", None) != "intent_head/1":
            raise VlmLoadError("intent head config: expected format 'intent_head/1'")
        d["ranges"] = CommandRanges(**{k: tuple(v) for k, v in d["ranges"].items()})
        return cls(**d)


def _make_head_module(config: IntentHeadConfig):
    import torch

    class _Head(torch.nn.Module):
        """latent (B, D) -> (B, 4): walk logit, vx, vy, yaw rate (raw units)."""

        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.LayerNorm(config.latent_dim),
                torch.nn.Linear(config.latent_dim, config.hidden),
                torch.nn.GELU(),
                torch.nn.Linear(config.hidden, 4),
            )

        def forward(self, latent):
            return self.net(latent)

    return _Head()


class IntentHead:
    """Latent -> (walk logit, vx, vy, yaw rate); trained by the project (``fit``)."""

    def __init__(self, config: IntentHeadConfig, module=None):
        self.config = config
        self.module = module if module is not None else _make_head_module(config)
        self.module.eval()

    @property
    def device(self):
        return next(self.module.parameters()).device

    def __call__(self, latent):
        return self.module(latent)

    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        save_file(state, str(folder / HEAD_WEIGHTS))
        (folder / HEAD_CONFIG).write_text(self.config.to_json())

    @classmethod
    def load(cls, folder: str | Path) -> IntentHead:
        from safetensors.torch import load_file

        folder = Path(folder)
        try:
            config = IntentHeadConfig.from_json((folder / HEAD_CONFIG).read_text())
            head = cls(config)
            head.module.load_state_dict(load_file(str(folder / HEAD_WEIGHTS)))
        except (OSError, KeyError, TypeError, RuntimeError, json.JSONDecodeError) as exc:
            raise VlmLoadError(f"{folder}: intent head does not load ({exc})") from exc
        head.module.eval()
        return head

    def fit(
        self, latents: np.ndarray, walking: np.ndarray, commands: np.ndarray, epochs: int = 200,
        lr: float = 3e-3, seed: int = 0,
    ) -> float:  # fmt: skip
        """Full-batch Adam on (N, D) latents, (N,) walking labels, (N, 3) commands; returns the
        final loss (BCE on walking + MSE on the commands of walking samples)."""
        import torch

        torch.manual_seed(seed)
        x = torch.as_tensor(latents, dtype=torch.float32)
        y_walk = torch.as_tensor(walking, dtype=torch.float32)
        y_cmd = torch.as_tensor(commands, dtype=torch.float32)
        opt = torch.optim.Adam(self.module.parameters(), lr=lr)
        self.module.train()
        loss = torch.zeros(())
        for _ in range(epochs):
            out = self.module(x)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], y_walk)
            mse = ((out[:, 1:] - y_cmd) ** 2).sum(dim=1)
            loss = loss + (mse * y_walk).sum() / y_walk.sum().clamp(min=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.module.eval()
        return float(loss.detach())

    def intent_fields(self, output: np.ndarray) -> tuple[str, VelocityCommand, float]:
        """(skill, clamped command, confidence) from one (4,) output."""
        p_walk = 1.0 / (1.0 + math.exp(-float(output[0])))
        if p_walk < 0.5:
            return "stand", VelocityCommand(), 1.0 - p_walk
        command = self.config.ranges.clamp(VelocityCommand(*(float(v) for v in output[1:4])))
        return "walk", command, p_walk


# -- the estimator --------------------------------------------------------------------------


class VlmIntentEstimator:
    """IntentEstimator running a VLM in its own worker thread; see the module docstring.

    Use as a context manager or call ``close()``: the worker is a daemon thread but holds the
    model. ``describer`` is injectable (tests, a shared model).
    """

    name = "vlm"

    def __init__(self, describer: VlmDescriber, config: VlmConfig | None = None):
        self.config = config or describer.config
        self.view = self.config.view
        self._describer = describer
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._buffer: deque[Frame] = deque(maxlen=self.config.frames)
        self._latest: Intent | None = None
        self._submitted_t_s: float | None = None  # newest frame time the worker has taken
        self.last_text: str | None = None
        self.last_seconds: float | None = None
        self.error: BaseException | None = None  # the worker's fatal error, if any
        self._busy = False
        self.queries = 0
        self._worker = threading.Thread(target=self._run, name="vlm-intent", daemon=True)
        self._worker.start()

    @classmethod
    def from_path(cls, path: str | Path, config: VlmConfig | None = None) -> VlmIntentEstimator:
        return cls(load_vlm(path, config), config)

    def reset(self) -> None:
        with self._lock:
            self._buffer.clear()
            self._latest = None
            self._submitted_t_s = None

    def update(self, frame: Frame) -> Intent | None:
        """Keep ``frame`` if a sample is due, wake the worker, return the newest result."""
        with self._lock:
            last = self._buffer[-1].timestamp_s if self._buffer else -math.inf
            if frame.timestamp_s - last >= self.config.sample_period_s * 0.999:
                self._buffer.append(frame)
                if len(self._buffer) == self.config.frames:
                    self._wake.set()
            return self._latest

    def latest(self) -> Intent | None:
        with self._lock:
            return self._latest

    def wait_idle(self, timeout_s: float) -> Intent | None:
        """Offline use (the CLI, tests): block until the worker has answered on the newest
        frames it was given (or ``timeout_s``), then return the newest result. Raises
        ``VlmInferenceError`` if the worker died."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.error is not None:
                raise VlmInferenceError(f"VLM inference failed: {self.error}") from self.error
            with self._lock:
                pending = (
                    len(self._buffer) == self.config.frames
                    and self._buffer[-1].timestamp_s != self._submitted_t_s
                )
                if not pending and not self._busy:
                    return self._latest
            time.sleep(0.002)
        return self.latest()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout=10.0)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _run(self) -> None:
        period = 1.0 / self.config.rate_hz
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                frames = list(self._buffer)
                fresh = len(frames) == self.config.frames and (
                    frames[-1].timestamp_s != self._submitted_t_s
                )
                if fresh:
                    self._submitted_t_s = frames[-1].timestamp_s
                    self._busy = True
            if not fresh:
                continue
            started = time.monotonic()
            try:
                intent = self._infer(frames)
            except Exception as exc:  # noqa: BLE001 - reported through .error, not lost
                self.error = exc
                with self._lock:
                    self._busy = False
                return
            with self._lock:
                self._latest = intent
                self._busy = False
            self.queries += 1
            # Rate limit: the model runs at most rate_hz; newer frames wake it afterwards.
            self._stop.wait(max(0.0, period - (time.monotonic() - started)))
            with self._lock:
                if self._buffer and self._buffer[-1].timestamp_s != self._submitted_t_s:
                    self._wake.set()

    def _infer(self, frames: list[Frame]) -> Intent:
        desc = self._describer.describe([f.image_rgb for f in frames], self.config.prompt)
        self.last_text, self.last_seconds = desc.text, desc.seconds
        t = frames[-1].timestamp_s
        head = self._describer.head
        if head is not None and desc.head_output is not None:
            skill, command, confidence = head.intent_fields(desc.head_output)
            return Intent(skill, command, confidence, f"{self.name}-head", t, desc.latent)
        parsed = parse_motion_text(desc.text, self.config.speeds, self.config.ranges)
        if parsed is None:
            return Intent("stand", VelocityCommand(), 0.0, self.name, t, desc.latent)
        return Intent(parsed.skill, parsed.command, 0.8, self.name, t, desc.latent)
