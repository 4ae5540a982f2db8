"""Training: demonstration windows -> denoiser, with EMA weights, resumable and seeded.

A training sample is one tick k of one episode: the ``n_obs_steps`` observations up to and
including tick k (the first one repeated before the episode start) -> the expert's labels
for ticks k .. k+H-1 (the last one repeated past the episode end), plus the command at tick
k and the skill it implies (``stand`` when zero, else ``walk``). Episodes that fell lose
their last ``fall_trim_s`` seconds: those labels are the expert failing, not a recovery.
Windows are drawn uniformly, or, with ``transition_weight`` > 1, that many times more often
when their tick lies within ``transition_window_s`` after a command change: steady walking
fills most of the data, while the policy's falls start in the weight shifts after a change.

The output folder is a checkpoint (checkpoint.py) from the first save on, holding the EMA
weights, plus ``training/``: ``state.safetensors`` (weights, EMA, AdamW moments, RNG
states) and ``state.json`` (step, configs, dataset fingerprint, the weights file's sha256).
Running again with the same folder resumes from the last save; a different dataset or
model/optimizer config is refused. The batch order, noise and timesteps come from one
seeded generator whose state is saved, so a resumed run continues the same sequence.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from humanoid_teleop import g1
from humanoid_teleop.contracts import SKILLS
from humanoid_teleop.fileio import write_atomic
from humanoid_teleop.gait import clock_phases, phase_features
from humanoid_teleop.odometry import BaseVelocityEstimator
from humanoid_teleop.policy.checkpoint import (
    load_tensors,
    read_json,
    save_checkpoint,
    state_dict_bytes,
    write_json,
)
from humanoid_teleop.policy.errors import CheckpointError
from humanoid_teleop.policy.inference import DiffusionPolicy, PolicyConfig, RobotMeta
from humanoid_teleop.policy.model import Denoiser, parameter_count
from humanoid_teleop.policy.normalize import Normalizer
from humanoid_teleop.policy.observation import ObservationSpec
from humanoid_teleop.policy.sampler import DDIM

TRAINING_DIR = "training"
STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"


class TrainError(ValueError):
    """Training cannot start or resume; the message says why."""


@dataclass(frozen=True)
class TrainConfig:
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    steps: int = 20_000
    batch_size: int = 256
    lr: float = 3e-4
    weight_decay: float = 1e-6
    warmup_steps: int = 500
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    fall_trim_s: float = 1.0
    # Windows anchored within transition_window_s after a command change are drawn
    # transition_weight times as often as the others (1: uniform).
    transition_weight: float = 1.0
    transition_window_s: float = 2.5
    # Run settings: may change between a run and its resumption.
    checkpoint_every: int = 1000
    log_every: int = 50
    max_minutes: float = 0.0  # stop (and save) after this much wall time; 0: no limit
    threads: int = 0  # torch intra-op threads; 0: torch's default

    def __post_init__(self):
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"warmup_steps: expected an int >= 0, got {self.warmup_steps!r}")
        if not (self.lr > 0 and 0 <= self.ema_decay < 1 and self.grad_clip >= 0):
            raise ValueError("need lr > 0, 0 <= ema_decay < 1, grad_clip >= 0")
        if not (self.fall_trim_s >= 0 and self.max_minutes >= 0 and self.threads >= 0):
            raise ValueError("fall_trim_s, max_minutes and threads must be >= 0")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: expected an int >= 0, got {self.seed!r}")
        if not (self.transition_weight >= 1.0 and self.transition_window_s >= 0.0):
            raise ValueError(f"need transition_weight >= 1 and transition_window_s >= 0, got "
                             f"{self.transition_weight}, {self.transition_window_s}")  # fmt: skip

    def identity(self) -> dict:
        """What a resumed run must share with the run it continues."""
        d = self.to_dict()
        for k in ("steps", "checkpoint_every", "log_every", "max_minutes", "threads"):
            del d[k]
        return d

    def to_dict(self) -> dict:
        d = asdict(self)
        d["policy"] = self.policy.to_dict()
        return d


# -- data -------------------------------------------------------------------------------


@dataclass
class TrainData:
    obs: torch.Tensor  # (N, D) normalized, every kept tick of every episode
    actions: torch.Tensor  # (N, A) normalized
    command: torch.Tensor  # (N, 3) normalized
    skill: torch.Tensor  # (N,) long
    tick: torch.Tensor  # (W,) the tick each window is anchored at
    obs_index: torch.Tensor  # (W, n_obs) rows of obs
    action_index: torch.Tensor  # (W, H) rows of actions
    weight: torch.Tensor | None  # (W,) relative sampling weight of each window; None: uniform
    normalizer: Normalizer
    robot: RobotMeta
    fingerprint: str
    episodes_used: int
    ticks_dropped: int

    @property
    def windows(self) -> int:
        return int(self.tick.shape[0])

    def draw(self, batch_size: int, gen: torch.Generator) -> torch.Tensor:
        """Window indices of one batch."""
        if self.weight is None:
            return torch.randint(self.windows, (batch_size,), generator=gen)
        return torch.multinomial(self.weight, batch_size, replacement=True, generator=gen)

    def batch(self, idx: torch.Tensor):
        t = self.tick[idx]
        return (self.obs[self.obs_index[idx]], self.actions[self.action_index[idx]],
                self.command[t], self.skill[t])  # fmt: skip


def dataset_fingerprint(*readers) -> str:
    """One hash over the datasets' specs and episode files, in order."""
    h = hashlib.sha256()
    for reader in readers:
        h.update(json.dumps(reader.observation_spec.to_dict(), sort_keys=True).encode())
        for e in reader.episodes:
            h.update(f"{e.file}:{e.length}:{e.sha256}".encode())
    return h.hexdigest()


def clock_observations(commands: np.ndarray) -> np.ndarray:
    """(T, 2) gait_phase observations for a (T, 3) command sequence: at tick k the clock's
    phase after tick k - 1 (standing at tick 0), as ``PolicyController`` observes it."""
    phases = [None] + clock_phases(commands)[:-1]
    return np.stack([phase_features(p) for p in phases])


# Terms older datasets lack that are computed from the terms they have, exactly as at run time.
DERIVABLE_TERMS = ("base_lin_vel_b_mps",)
_SENSOR_TERMS = ("joint_pos_rel_rad", "joint_vel_radps", "base_ang_vel_b_radps",
                 "projected_gravity_b")  # fmt: skip


def after_command_change(commands: np.ndarray, window_ticks: int) -> np.ndarray:
    """(T,) bool: ticks within ``window_ticks`` after a change of the (T, 3) command (the
    episode's first command, after the reset, does not count as a change)."""
    changed = np.flatnonzero(np.any(np.diff(commands, axis=0) != 0.0, axis=1)) + 1
    since = np.full(len(commands), np.iinfo(np.int64).max)
    for tick in changed:
        since[tick:] = np.minimum(since[tick:], np.arange(len(commands) - tick))
    return since < window_ticks


def observation_matrix(episode, spec: ObservationSpec, default_pose: np.ndarray) -> np.ndarray:
    """(T, spec.dim) for a recorded episode, deriving ``DERIVABLE_TERMS`` it does not store."""
    obs = dict(episode.observations)
    if "base_lin_vel_b_mps" in spec.names and "base_lin_vel_b_mps" not in obs:
        missing = [n for n in _SENSOR_TERMS if n not in obs]
        if missing:
            raise TrainError(f"episode {episode.info.index}: cannot derive base_lin_vel_b_mps "
                             f"without the terms {missing}")  # fmt: skip
        q = obs["joint_pos_rel_rad"] + default_pose
        obs["base_lin_vel_b_mps"] = BaseVelocityEstimator().series(
            q, obs["joint_vel_radps"], obs["base_ang_vel_b_radps"], obs["projected_gravity_b"]
        )
    return np.concatenate([np.asarray(obs[n], np.float64) for n in spec.names], axis=-1)


def labels_to_actions(q, dq, tau_ff, kp, kd, default_pose, action: str,
                      control_dt_s: float = g1.CONTROL_DT_S) -> np.ndarray:  # fmt: skip
    """Expert labels (T, 29) -> policy actions relative to the default pose (inference.py)."""
    q = np.asarray(q, dtype=np.float64)
    kp = np.asarray(kp, dtype=np.float64)
    if action == "q_eff":
        q = q + np.asarray(tau_ff, dtype=np.float64) / kp
    elif action == "q_pd":
        dq = np.asarray(dq, dtype=np.float64)
        tau = np.asarray(tau_ff, dtype=np.float64) + np.asarray(kd, dtype=np.float64) * dq
        q = q + dq * control_dt_s / 2 + tau / kp
    return q - np.asarray(default_pose, dtype=np.float64)


class MixedExpertWarning(UserWarning):
    """Training data labelled by experts with different settings. Seen: a DAgger round
    labelled by the expert after its posture change (pelvis 0.70 m), added to data recorded
    at 0.74 m, took the policy from 6 to 99 falls in 100 validation episodes."""


def expert_differences(dirs: Sequence, readers: Sequence) -> list[str]:
    """'field: value (dataset), value (dataset)' for each expert setting that differs
    between the datasets' headers. Settings a dataset does not record (written before the
    setting existed) are not compared."""
    flat = [_flatten((r.header.expert or {}).get("config") or {}) for r in readers]
    out = []
    for key in sorted(set().union(*flat)):
        seen = {}
        for d, values in zip(dirs, flat):
            if key in values:
                seen.setdefault(json.dumps(values[key]), []).append(Path(d).name)
        if len(seen) > 1:
            out.append(f"{key}: " + ", ".join(f"{v} ({', '.join(n)})" for v, n in seen.items()))
    return out


def _flatten(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_train_data(
    data_dirs: str | os.PathLike | Sequence[str | os.PathLike],
    config: TrainConfig,
    normalizer: Normalizer | None = None,
) -> TrainData:
    """Read datasets (one, or several: expert data plus DAgger rounds) into window index
    arrays; fits normalization unless one is given."""
    from humanoid_teleop.sim.dataset import DatasetReader

    dirs = [data_dirs] if isinstance(data_dirs, (str, os.PathLike)) else list(data_dirs)
    if not dirs:
        raise TrainError("no dataset given")
    pc = config.policy
    spec = pc.observation_spec
    n_obs, horizon = pc.denoiser.n_obs_steps, pc.denoiser.horizon
    readers = [DatasetReader(d) for d in dirs]  # each checks joint names against the G1's
    mixed = expert_differences(dirs, readers)
    if mixed:
        warnings.warn(f"the datasets were labelled by differently configured experts "
                      f"({'; '.join(mixed)}): the policy learns contradicting targets for "
                      f"similar states", MixedExpertWarning, stacklevel=2)  # fmt: skip
    obs_l, act_l, cmd_l, obs_idx, act_idx, ticks, weights = [], [], [], [], [], [], []
    gains = None
    offset = used = dropped = 0
    for data_dir, reader in zip(dirs, readers):
        if not math.isclose(reader.control_dt_s, g1.CONTROL_DT_S, abs_tol=1e-9):
            raise TrainError(f"{data_dir}: control dt {reader.control_dt_s} s, the G1 loop runs "
                             f"at {g1.CONTROL_DT_S} s")  # fmt: skip
        missing = [n for n in spec.names
                   if n not in reader.observation_spec.names and n not in DERIVABLE_TERMS]  # fmt: skip
        if missing:
            raise TrainError(f"{data_dir}: the dataset has no observation terms {missing}")
        trim = round(config.fall_trim_s / reader.control_dt_s)
        window = round(config.transition_window_s / reader.control_dt_s)
        default = np.array(reader.header.default_pose_rad)
        for ep in reader:
            length = ep.length - (trim if ep.info.fell else 0)
            if length < 1:
                dropped += ep.length
                continue
            dropped += ep.length - length
            kp, kd = np.asarray(ep["kp"], np.float64), np.asarray(ep["kd"], np.float64)
            if gains is None:
                gains = (kp, kd)
            elif not (np.allclose(gains[0], kp) and np.allclose(gains[1], kd)):
                raise TrainError(f"{data_dir}: episode {ep.info.index} has other gains than the "
                                 f"first episode; a checkpoint stores one kp, kd")  # fmt: skip
            if np.any(kp <= 0):
                raise TrainError(f"{data_dir}: kp must be > 0 for every joint (q_eff and q_pd "
                                 f"divide by it)")  # fmt: skip
            obs_ep = observation_matrix(ep, spec, default)[:length]
            if pc.gait_clock:  # the phase the clock gives at run time, from the same commands
                obs_ep[:, spec.slices()["gait_phase"]] = clock_observations(ep["command"])[:length]
            obs_l.append(obs_ep)
            act_l.append(labels_to_actions(ep["action/q_rad"][:length],
                                           ep["action/dq_radps"][:length],
                                           ep["action/tau_ff_nm"][:length], kp, kd, default,
                                           pc.action, reader.control_dt_s))  # fmt: skip
            cmd_l.append(ep["command"][:length])
            k = np.arange(length)
            obs_idx.append(offset + np.clip(k[:, None] + np.arange(1 - n_obs, 1)[None], 0,
                                            length - 1))  # fmt: skip
            act_idx.append(offset + np.clip(k[:, None] + np.arange(horizon)[None], 0, length - 1))
            ticks.append(offset + k)
            if config.transition_weight != 1.0:
                weights.append(np.where(after_command_change(ep["command"][:length], window),
                                        config.transition_weight, 1.0))  # fmt: skip
            offset += length
            used += 1
    if used == 0:
        raise TrainError(f"{', '.join(map(str, dirs))}: no usable episodes (after trimming falls)")
    reader = readers[0]
    obs = np.concatenate(obs_l).astype(np.float64)
    actions = np.concatenate(act_l)
    command = np.concatenate(cmd_l).astype(np.float64)
    ranges = reader.meta.get("collect", {}).get("command_ranges") or RobotMeta().command_ranges
    scale = [max(abs(lo), abs(hi)) for lo, hi in ranges.values()]
    if normalizer is None:
        normalizer = Normalizer.fit(obs, actions, scale)
    robot = RobotMeta(
        joint_names=reader.joint_names, default_pose_rad=tuple(default), kp=tuple(gains[0]),
        kd=tuple(gains[1]), control_dt_s=reader.control_dt_s,
        observation_spec=spec.to_dict(), command_ranges=ranges,
    )  # fmt: skip
    skill = np.where(np.all(command == 0.0, axis=1), SKILLS.index("stand"), SKILLS.index("walk"))
    f32 = torch.float32
    return TrainData(
        obs=torch.as_tensor(normalizer.normalize_obs(obs), dtype=f32),
        actions=torch.as_tensor(normalizer.normalize_action(actions), dtype=f32),
        command=torch.as_tensor(normalizer.normalize_command(command), dtype=f32),
        skill=torch.as_tensor(skill, dtype=torch.long),
        tick=torch.as_tensor(np.concatenate(ticks), dtype=torch.long),
        obs_index=torch.as_tensor(np.concatenate(obs_idx), dtype=torch.long),
        action_index=torch.as_tensor(np.concatenate(act_idx), dtype=torch.long),
        weight=torch.as_tensor(np.concatenate(weights), dtype=torch.float64) if weights else None,
        normalizer=normalizer, robot=robot, fingerprint=dataset_fingerprint(*readers),
        episodes_used=used, ticks_dropped=dropped,
    )  # fmt: skip


# -- training state -----------------------------------------------------------------------


@dataclass
class TrainSummary:
    out_dir: str
    steps_done: int
    steps_this_run: int
    resumed_from: int
    final_loss: float  # mean of the last log window
    first_loss: float  # mean of the first log window of this run
    windows: int
    episodes_used: int
    parameters: int
    wall_s: float
    stopped_by: str  # "steps" | "time" | "stop_at_step"

    def as_dict(self) -> dict:
        return asdict(self)


def _lr(config: TrainConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def _save_state(root: Path, step: int, model, ema, opt, gen, config, data, elapsed_s, losses):
    tdir = root / TRAINING_DIR
    tdir.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    opt_state = opt.state_dict()
    steps = {}
    for i, s in opt_state["state"].items():
        tensors[f"opt.{i}.exp_avg"] = s["exp_avg"]
        tensors[f"opt.{i}.exp_avg_sq"] = s["exp_avg_sq"]
        steps[str(i)] = float(s["step"])
    tensors["rng.batch"] = gen.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    blob = state_dict_bytes(tensors)
    write_atomic(tdir / STATE_TENSORS, blob)
    state = {
        "step": step,
        "elapsed_s": elapsed_s,
        "train_config": config.identity(),
        "dataset_fingerprint": data.fingerprint,
        "optimizer_steps": steps,
        "recent_losses": losses[-20:],
        "state_sha256": hashlib.sha256(blob).hexdigest(),
    }
    write_json(tdir / STATE_JSON, state)  # last: names the tensors file it belongs to


def _load_state(root: Path, model, ema, opt, gen, config, data) -> tuple[int, float]:
    tdir = root / TRAINING_DIR
    state = read_json(tdir / STATE_JSON)
    if state.get("train_config") != json.loads(json.dumps(config.identity())):
        raise TrainError(f"{root}: cannot resume: trained with another configuration "
                         f"({tdir / STATE_JSON}); use a new --out folder")  # fmt: skip
    if state.get("dataset_fingerprint") != data.fingerprint:
        raise TrainError(f"{root}: cannot resume: the dataset changed since this run started")
    blob = (tdir / STATE_TENSORS).read_bytes()
    if hashlib.sha256(blob).hexdigest() != state.get("state_sha256"):
        raise CheckpointError(f"{tdir / STATE_TENSORS}: does not match {STATE_JSON}")
    tensors = load_tensors(tdir / STATE_TENSORS)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    opt_state = opt.state_dict()
    for i_str, st in state["optimizer_steps"].items():
        i = int(i_str)
        opt_state["state"][i] = {
            "step": torch.tensor(st),
            "exp_avg": tensors[f"opt.{i}.exp_avg"],
            "exp_avg_sq": tensors[f"opt.{i}.exp_avg_sq"],
        }
    opt.load_state_dict(opt_state)
    gen.set_state(tensors["rng.batch"])
    torch.set_rng_state(tensors["rng.torch"])
    return int(state["step"]), float(state.get("elapsed_s", 0.0))


def has_training_state(out_dir: str | os.PathLike) -> bool:
    return (Path(out_dir) / TRAINING_DIR / STATE_JSON).is_file()


# -- the loop -----------------------------------------------------------------------------


def _dir_names(data_dirs) -> list[str]:
    if isinstance(data_dirs, (str, os.PathLike)):
        return [str(data_dirs)]
    return [str(d) for d in data_dirs]


def train(
    config: TrainConfig,
    data_dirs: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    progress: bool = True,
    stop_at_step: int | None = None,
) -> TrainSummary:
    """Train (or resume) into ``out_dir``; returns a summary. See the module docstring.

    ``stop_at_step`` ends this call early at that step (saving), as an interruption would.
    """
    start = time.perf_counter()
    root = Path(out_dir)
    if config.threads:
        torch.set_num_threads(config.threads)
    resume = has_training_state(root)
    if not resume and root.exists() and any(root.iterdir()):
        raise TrainError(f"{root}: exists, is not empty and holds no training state; "
                         f"refusing to overwrite it")  # fmt: skip
    normalizer = None
    if resume:  # the statistics the run started with, not refitted ones
        normalizer = Normalizer.load(root / "normalization.json")
    data = load_train_data(data_dirs, config, normalizer)

    torch.manual_seed(config.seed)
    model = Denoiser(config.policy.denoiser)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    step, elapsed_before = 0, 0.0
    if resume:
        step, elapsed_before = _load_state(root, model, ema, opt, gen, config, data)
    resumed_from = step
    ddim = DDIM(config.policy.sampler)
    n_train = config.policy.sampler.num_train_timesteps
    params, ema_params = list(model.parameters()), list(ema.parameters())
    losses: list[float] = []  # per log window
    window: list[float] = []
    log_path = root / TRAINING_DIR / "log.jsonl"
    (root / TRAINING_DIR).mkdir(parents=True, exist_ok=True)

    def export(step_now: int) -> None:
        policy = DiffusionPolicy(config.policy, ema, data.normalizer, data.robot)
        info = {"steps": step_now, "datasets": _dir_names(data_dirs), "dataset_fingerprint":
                data.fingerprint, "windows": data.windows, "episodes_used": data.episodes_used,
                "parameters": parameter_count(model), "recent_loss": losses[-1] if losses else None,
                "config": config.to_dict()}  # fmt: skip
        save_checkpoint(root, policy, training=info)
        _save_state(root, step_now, model, ema, opt, gen, config, data,
                    elapsed_before + time.perf_counter() - start, losses)  # fmt: skip

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=step, unit="step", desc="train", dynamic_ncols=True)
    deadline = start + config.max_minutes * 60 if config.max_minutes > 0 else math.inf
    stopped_by = "steps"
    model.train()
    try:
        while step < config.steps:
            if time.perf_counter() >= deadline:
                stopped_by = "time"
                break
            if stop_at_step is not None and step >= stop_at_step:
                stopped_by = "stop_at_step"
                break
            lr = _lr(config, step)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = data.draw(config.batch_size, gen)
            obs, act, cmd, skill = data.batch(idx)
            noise = torch.randn(act.shape, generator=gen)
            t = torch.randint(n_train, (config.batch_size,), generator=gen)
            pred = model(ddim.add_noise(act, noise, t), t, obs, skill, cmd)
            loss = torch.nn.functional.mse_loss(pred, ddim.target(act, noise))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            decay = min(config.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, params, 1.0 - decay)
            step += 1
            window.append(loss.item())
            if step % config.log_every == 0 or step == config.steps:
                losses.append(float(np.mean(window)))
                window = []
                with open(log_path, "a") as f:
                    f.write(json.dumps({"step": step, "loss": losses[-1], "lr": lr}) + "\n")
                if bar is not None:
                    bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr:.1e}")
            if bar is not None:
                bar.update(1)
            if step % config.checkpoint_every == 0 and step < config.steps:
                export(step)
    finally:
        if bar is not None:
            bar.close()
    if window:
        losses.append(float(np.mean(window)))
    export(step)
    return TrainSummary(
        out_dir=str(root), steps_done=step, steps_this_run=step - resumed_from,
        resumed_from=resumed_from, final_loss=losses[-1] if losses else float("nan"),
        first_loss=losses[0] if losses else float("nan"), windows=data.windows,
        episodes_used=data.episodes_used, parameters=parameter_count(model),
        wall_s=time.perf_counter() - start, stopped_by=stopped_by,
    )  # fmt: skip
