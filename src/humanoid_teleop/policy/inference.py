"""The diffusion policy at run time: (observation history, intent) -> ActionChunk.

Action representation (``PolicyConfig.action``): the expert labels a tick with q, dq and
tau_ff, which the motors turn into ``tau = tau_ff + kp (q + dq s - q_meas) + kd (dq - dq_meas)``
(``s``: time since the tick; the twin and the bridge extrapolate q along dq).

- ``"q_pd"`` (new policies): one position target per tick, sent with no velocity target and
  no feedforward, ``q_pd = q + dq dt / 2 + (tau_ff + kd dq) / kp``. Under
  ``tau = kp (q_pd - q_meas) - kd dq_meas`` that is exactly the expert's torque averaged over
  the tick, for any measured state; it is also the usual hardware action (a PD target with
  dq = 0). The model predicts 29 numbers per tick instead of 87.
- ``"q_eff"`` (the first checkpoints): ``q + tau_ff / kp``, with dq left to the executor,
  which differentiates the chunk. It drops the expert's ``kd dq`` term and replaces it with
  ``kd d(q_eff)/dt``, which carries the feedforward's rate of change: on recorded expert data a
  perfect q_eff policy would miss the expert's hip torques by 5-6 N m RMS (p99 23 N m), a third
  to two thirds of the torque itself.
- ``"q"`` drops tau_ff (the PD alone must hold the robot); dq from the executor.

The action is relative to ``default_pose_rad``; the gains are those stored with the
checkpoint, constant over a chunk.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from humanoid_teleop import g1
from humanoid_teleop.contracts import (
    SKILLS,
    WALK_COMMAND_RANGES,
    ActionChunk,
    CommandRanges,
    Intent,
    VelocityCommand,
)
from humanoid_teleop.policy.model import Denoiser, DenoiserConfig
from humanoid_teleop.policy.normalize import Normalizer
from humanoid_teleop.policy.observation import ObservationBuilder, ObservationSpec
from humanoid_teleop.policy.sampler import DDIM, SamplerConfig

ACTIONS = ("q_pd", "q_eff", "q")
# Actions that are complete PD targets: sent with dq = 0 (no executor differentiation).
ZERO_VELOCITY_ACTIONS = ("q_pd",)
DEFAULT_OBSERVATION_TERMS: tuple[str, ...] = (
    "joint_pos_rel_rad",
    "joint_vel_radps",
    "base_ang_vel_b_radps",
    "projected_gravity_b",
)
# The executed target of the previous tick is in label space (q), not the q_eff the policy
# predicts, and would invite copying the previous action: a policy never observes it.
UNSUPPORTED_TERMS = ("last_action_rel_rad",)
# ``gait_phase`` is observable only by a policy that runs the gait clock (``gait_clock``):
# ``gait.GaitClock`` reproduces the expert's phase from the command history (99.5% of
# expert ticks within 0.02), so training and run time compute it the same way. Without it a
# policy trained on the expert's clocked gait stood still under every walking command (the
# start of walking looks the same every tick). Predicting the phase as part of each chunk
# and feeding it back did not help: the start of walking is a jump of the phase that
# a handful of training windows teach, and the policy never made it.


@dataclass(frozen=True)
class PolicyConfig:
    observation_terms: tuple[str, ...] = DEFAULT_OBSERVATION_TERMS
    action: str = "q_pd"
    infer_every_ticks: int = 2  # PolicyController default: a new chunk every k ticks
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    gait_clock: bool = False  # observe the gait clock's phase (the gait_phase term)

    def __post_init__(self):
        terms = tuple(self.observation_terms)
        object.__setattr__(self, "observation_terms", terms)
        bad = [t for t in terms if t in UNSUPPORTED_TERMS]
        if bad:
            raise ValueError(f"observation_terms: {bad} cannot be provided at run time "
                             f"(unsupported: {list(UNSUPPORTED_TERMS)})")  # fmt: skip
        if ("gait_phase" in terms) != self.gait_clock:
            raise ValueError("observation term gait_phase goes with gait_clock=True (the policy "
                             "runs the gait clock) and only with it")  # fmt: skip
        spec = ObservationSpec.of(terms)
        if self.denoiser.obs_dim != spec.dim:
            raise ValueError(
                f"denoiser.obs_dim {self.denoiser.obs_dim} != observation spec dim {spec.dim}"
            )
        if self.denoiser.action_dim != g1.NUM_JOINTS:
            raise ValueError(f"denoiser.action_dim: expected {g1.NUM_JOINTS}, "
                             f"got {self.denoiser.action_dim}")  # fmt: skip
        if self.action not in ACTIONS:
            raise ValueError(f"action: expected one of {ACTIONS}, got {self.action!r}")
        if not isinstance(self.infer_every_ticks, int) or self.infer_every_ticks < 1:
            raise ValueError(
                f"infer_every_ticks: expected an int >= 1, got {self.infer_every_ticks!r}"
            )
        if self.infer_every_ticks > self.denoiser.horizon:
            raise ValueError(f"infer_every_ticks {self.infer_every_ticks} > horizon "
                             f"{self.denoiser.horizon}: the chunk would run out")  # fmt: skip

    @property
    def observation_spec(self) -> ObservationSpec:
        return ObservationSpec.of(self.observation_terms)

    def to_dict(self) -> dict:
        return {
            "observation_terms": list(self.observation_terms),
            "action": self.action,
            "infer_every_ticks": self.infer_every_ticks,
            "gait_clock": self.gait_clock,
            "denoiser": self.denoiser.to_dict(),
            "sampler": self.sampler.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> PolicyConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"PolicyConfig: unknown keys {unknown}")
        d = dict(data)
        d["observation_terms"] = tuple(d.get("observation_terms", DEFAULT_OBSERVATION_TERMS))
        d["denoiser"] = DenoiserConfig.from_dict(d["denoiser"])
        d["sampler"] = SamplerConfig.from_dict(d["sampler"])
        return cls(**d)


def policy_config(
    observation_terms: Sequence[str] = DEFAULT_OBSERVATION_TERMS, **denoiser_overrides
) -> PolicyConfig:
    """A PolicyConfig whose denoiser obs_dim follows the terms (``gait_clock=True`` adds the
    gait_phase term)."""
    sampler = denoiser_overrides.pop("sampler", SamplerConfig())
    extra = {k: denoiser_overrides.pop(k) for k in ("action", "infer_every_ticks", "gait_clock")
             if k in denoiser_overrides}  # fmt: skip
    terms = tuple(observation_terms)
    if extra.get("gait_clock") and "gait_phase" not in terms:
        terms += ("gait_phase",)
    spec = ObservationSpec.of(terms)
    den = DenoiserConfig(**{"obs_dim": spec.dim, **denoiser_overrides})
    return PolicyConfig(terms, denoiser=den, sampler=sampler, **extra)


@dataclass(frozen=True)
class RobotMeta:
    """What a checkpoint was made for; loading compares it with the robot it will drive."""

    joint_names: tuple[str, ...] = g1.JOINT_NAMES
    default_pose_rad: tuple[float, ...] = tuple(float(v) for v in g1.DEFAULT_POSE_RAD)
    kp: tuple[float, ...] = tuple(float(v) for v in g1.STAND_KP)
    kd: tuple[float, ...] = tuple(float(v) for v in g1.STAND_KD)
    action_scale: float = 1.0  # q = default_pose_rad + action_scale * action
    control_dt_s: float = g1.CONTROL_DT_S
    observation_spec: dict = field(
        default_factory=lambda: ObservationSpec.of(DEFAULT_OBSERVATION_TERMS).to_dict()
    )
    command_ranges: dict = field(default_factory=WALK_COMMAND_RANGES.as_dict)

    def __post_init__(self):
        n = g1.NUM_JOINTS
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        for name in ("default_pose_rad", "kp", "kd"):
            v = tuple(float(x) for x in getattr(self, name))
            if len(v) != len(self.joint_names):
                raise ValueError(f"{name}: expected {len(self.joint_names)} values, got {len(v)}")
            object.__setattr__(self, name, v)
        if len(self.joint_names) == n and (min(self.kp) <= 0 or max(self.kp) > g1.KP_MAX
                                           or min(self.kd) < 0 or max(self.kd) > g1.KD_MAX):
            raise ValueError(f"kp, kd: expected 0 < kp <= {g1.KP_MAX}, 0 <= kd <= {g1.KD_MAX}")

    @property
    def ranges(self) -> CommandRanges:
        return CommandRanges(**{k: tuple(v) for k, v in self.command_ranges.items()})

    def to_dict(self) -> dict:
        return {
            "joint_names": list(self.joint_names),
            "default_pose_rad": list(self.default_pose_rad),
            "kp": list(self.kp),
            "kd": list(self.kd),
            "action_scale": self.action_scale,
            "action_meaning": "q_target = default_pose_rad + action_scale * action, per tick",
            "control_dt_s": self.control_dt_s,
            "observation_spec": self.observation_spec,
            "command_ranges": self.command_ranges,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> RobotMeta:
        keys = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in keys})


def intent_from_command(command: VelocityCommand, timestamp_s: float = 0.0) -> Intent:
    """The intent a bare velocity command stands for: ``stand`` when zero, else ``walk``."""
    skill = "stand" if command.is_zero else "walk"
    return Intent(skill, command, 1.0, "command", max(0.0, timestamp_s))


class DiffusionPolicy:
    """Denoiser + sampler + normalization + robot metadata. Thread-safe ``predict``.

    ``predict`` is deterministic given the seed: ``reset(seed)`` restarts the noise stream.
    """

    def __init__(
        self,
        config: PolicyConfig,
        model: Denoiser,
        normalizer: Normalizer,
        robot: RobotMeta | None = None,
        *,
        seed: int = 0,
    ):
        if model.config != config.denoiser:
            raise ValueError("model was built with another DenoiserConfig than config.denoiser")
        normalizer.check_sizes(config.denoiser.obs_dim, config.denoiser.action_dim)
        self.config = config
        self.model = model.eval()
        self.normalizer = normalizer
        self.robot = robot or RobotMeta(observation_spec=config.observation_spec.to_dict())
        self.ddim = DDIM(config.sampler)
        self.builder = ObservationBuilder(
            config.observation_spec, np.array(self.robot.default_pose_rad)
        )
        self._default = np.array(self.robot.default_pose_rad)
        self._kp = np.array(self.robot.kp)
        self._kd = np.array(self.robot.kd)
        self._seed = seed
        self._generator = torch.Generator().manual_seed(seed)
        self._skill_index = {s: i for i, s in enumerate(SKILLS)}
        self._lock = threading.Lock()

    @property
    def horizon(self) -> int:
        return self.config.denoiser.horizon

    @property
    def n_obs_steps(self) -> int:
        return self.config.denoiser.n_obs_steps

    @property
    def control_dt_s(self) -> float:
        return self.robot.control_dt_s

    def reset(self, seed: int | None = None) -> None:
        """Restart the sampling noise stream (from ``seed``, else the policy's seed)."""
        with self._lock:
            if seed is not None:
                self._seed = seed
            self._generator.manual_seed(self._seed)

    def warm_up(self) -> None:
        """One throw-away sample: torch's first call in a process takes tens of ms more than
        the rest, which must not land on the first tick of a live robot."""
        history = np.zeros((self.n_obs_steps, self.config.denoiser.obs_dim), np.float32)
        self.predict_q(history, intent_from_command(VelocityCommand()))
        self.reset()

    def history_array(self, history) -> np.ndarray:
        """(n_obs, D) float32 from flat (T, D) rows or term dicts, oldest first; the oldest
        row is repeated when fewer than n_obs are given (the start of an episode)."""
        if isinstance(history, np.ndarray):
            rows = history
        else:
            rows = [self.builder.flatten(h) if isinstance(h, Mapping) else np.asarray(h)
                    for h in history]  # fmt: skip
            rows = np.stack(rows) if rows else np.zeros((0, self.config.denoiser.obs_dim))
        rows = np.asarray(rows, dtype=np.float32)
        d = self.config.denoiser.obs_dim
        if rows.ndim != 2 or rows.shape[1] != d or rows.shape[0] < 1:
            raise ValueError(f"history: expected (T >= 1, {d}) observations, got {rows.shape}")
        n = self.n_obs_steps
        if rows.shape[0] >= n:
            return rows[-n:]
        return np.concatenate([np.repeat(rows[:1], n - rows.shape[0], axis=0), rows])

    def predict(self, history, intent: Intent, *, t0_s: float = 0.0) -> ActionChunk:
        """An H-tick chunk starting at ``t0_s`` (the time of the newest observation)."""
        q = self.predict_q(history, intent)
        dq = np.zeros_like(q) if self.config.action in ZERO_VELOCITY_ACTIONS else None
        return ActionChunk(
            t0_s=t0_s, dt_s=self.robot.control_dt_s, joint_names=self.robot.joint_names,
            q_rad=q, dq_radps=dq, kp=self._kp, kd=self._kd,
        )  # fmt: skip

    @torch.inference_mode()
    def predict_q(self, history, intent: Intent) -> np.ndarray:
        """(H, 29) absolute joint position targets."""
        obs = self.history_array(history)
        norm = self.normalizer
        obs_t = (torch.from_numpy(obs) - norm.tensor("obs_mean")) / norm.tensor("obs_std")
        cmd = torch.from_numpy(norm.normalize_command(intent.command.as_array()).astype(np.float32))
        skill = torch.tensor([self._skill_index[intent.skill]])
        latent = None
        if intent.latent is not None:
            want = self.config.denoiser.latent_dim
            if intent.latent.shape != (want,):
                raise ValueError(f"intent.latent: this policy takes ({want},) latents, "
                                 f"got {intent.latent.shape}")  # fmt: skip
            latent = torch.tensor(intent.latent, dtype=torch.float32)[None]
        with self._lock:
            cond = self.model.encode_condition(obs_t[None], skill, cmd[None], latent)
            x = self.ddim.sample(self.model, cond, self._generator)[0]
        action = x * norm.tensor("action_std") + norm.tensor("action_mean")
        return self._default + self.robot.action_scale * action.numpy().astype(np.float64)
