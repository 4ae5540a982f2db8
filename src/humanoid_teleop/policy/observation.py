"""The one observation builder, shared by the twin, data collection, training and hardware.

It reads only what the real G1 reports (joint encoders, the pelvis IMU) plus what the
caller knows (the velocity command, the previous executed target, a gait phase), never the
twin's ground truth, so a policy trained on the twin's data sees the same inputs on hardware.

Terms (all float64, body frame ``_b``; sizes are fixed):

=======================  ====  ===========================================================
``joint_pos_rel_rad``      29  ``q - g1.DEFAULT_POSE_RAD``, motor order
``joint_vel_radps``        29  ``dq``
``base_ang_vel_b_radps``    3  IMU gyro
``projected_gravity_b``     3  unit gravity in the pelvis frame, (0, 0, -1) when level
``last_action_rel_rad``    29  previous tick's executed q target ``- g1.DEFAULT_POSE_RAD``
``command``                 3  (vx m/s, vy m/s, yaw rate rad/s) in the heading frame
``gait_phase``              2  ``(sin 2 pi phase, cos 2 pi phase)``, phase in [0, 1);
                                 policies use the gait clock's, (0, 0) standing (gait.py)
``base_lin_vel_b_mps``      3  pelvis velocity, pelvis frame, from leg odometry (encoders +
                                 IMU, low-passed: ``odometry.BaseVelocityEstimator``); the
                                 caller owns the filter and passes its value
=======================  ====  ===========================================================

An :class:`ObservationSpec` names the terms (a subset, in a chosen order) a model consumes;
a checkpoint stores ``spec.to_dict()`` and a loader calls ``spec.check_matches(stored)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import RobotState, VelocityCommand


class ObservationSpecError(ValueError):
    """An observation spec is invalid, or differs from the one a model/dataset expects."""


# name -> size; the order here is the default spec's order.
TERM_SIZES: dict[str, int] = {
    "joint_pos_rel_rad": g1.NUM_JOINTS,
    "joint_vel_radps": g1.NUM_JOINTS,
    "base_ang_vel_b_radps": 3,
    "projected_gravity_b": 3,
    "last_action_rel_rad": g1.NUM_JOINTS,
    "command": 3,
    "gait_phase": 2,
    "base_lin_vel_b_mps": 3,
}


@dataclass(frozen=True)
class ObservationSpec:
    """Ordered (name, size) terms; ``flatten`` concatenates them in this order."""

    terms: tuple[tuple[str, int], ...] = tuple(TERM_SIZES.items())

    def __post_init__(self):
        terms = tuple((str(n), int(s)) for n, s in self.terms)
        if not terms:
            raise ObservationSpecError("an observation spec needs at least one term")
        names = [n for n, _ in terms]
        if len(set(names)) != len(names):
            raise ObservationSpecError(f"duplicate term names in {names}")
        for name, size in terms:
            if name not in TERM_SIZES:
                raise ObservationSpecError(f"unknown term {name!r}; known: {list(TERM_SIZES)}")
            if size != TERM_SIZES[name]:
                raise ObservationSpecError(
                    f"term {name!r}: expected size {TERM_SIZES[name]}, got {size}"
                )
        object.__setattr__(self, "terms", terms)

    @classmethod
    def of(cls, names: Sequence[str]) -> ObservationSpec:
        """A spec of these known terms, in this order."""
        unknown = [n for n in names if n not in TERM_SIZES]
        if unknown:
            raise ObservationSpecError(f"unknown terms {unknown}; known: {list(TERM_SIZES)}")
        return cls(tuple((n, TERM_SIZES[n]) for n in names))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.terms)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(s for _, s in self.terms)

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    def slices(self) -> dict[str, slice]:
        """Where each term lies in the flat vector."""
        out, start = {}, 0
        for name, size in self.terms:
            out[name] = slice(start, start + size)
            start += size
        return out

    def to_dict(self) -> dict:
        """JSON-ready: ``{"terms": [{"name": ..., "size": ...}, ...], "dim": D}``."""
        return {"terms": [{"name": n, "size": s} for n, s in self.terms], "dim": self.dim}

    @classmethod
    def from_dict(cls, data: Mapping) -> ObservationSpec:
        try:
            terms = tuple((t["name"], t["size"]) for t in data["terms"])
        except (KeyError, TypeError) as exc:
            raise ObservationSpecError(f"not an observation spec: {data!r}") from exc
        return cls(terms)

    def check_matches(self, other: ObservationSpec | Mapping) -> None:
        """Raise ObservationSpecError unless ``other`` has the same terms in the same order."""
        if not isinstance(other, ObservationSpec):
            other = ObservationSpec.from_dict(other)
        if other.terms != self.terms:
            raise ObservationSpecError(
                f"observation spec mismatch: expected {list(self.terms)}, got {list(other.terms)}"
            )


def _command_array(command: VelocityCommand | np.ndarray | Sequence[float]) -> np.ndarray:
    if isinstance(command, VelocityCommand):
        return command.as_array()
    arr = np.asarray(command, dtype=np.float64)
    if arr.shape != (3,):
        raise ValueError(f"command: expected VelocityCommand or (3,) array, got {arr.shape}")
    return arr.copy()


class ObservationBuilder:
    """Builds the named terms of ``spec`` from a robot state and the caller's context."""

    def __init__(
        self,
        spec: ObservationSpec | None = None,
        default_pose_rad: np.ndarray = g1.DEFAULT_POSE_RAD,
    ):
        self.spec = spec or ObservationSpec()
        self.default_pose_rad = np.array(default_pose_rad, dtype=np.float64)
        if self.default_pose_rad.shape != (g1.NUM_JOINTS,):
            raise ValueError(
                f"default_pose_rad: expected ({g1.NUM_JOINTS},), got {self.default_pose_rad.shape}"
            )

    def build(
        self,
        state: RobotState,
        command: VelocityCommand | np.ndarray,
        last_action_q_rad: np.ndarray,  # (29,) absolute q target executed last tick
        gait_phase: float = 0.0,  # in [0, 1)
        base_lin_vel_b_mps: np.ndarray | None = None,  # (3,) the caller's odometry filter
    ) -> dict[str, np.ndarray]:
        """The spec's terms, in spec order, each a fresh float64 array of its size."""
        if "base_lin_vel_b_mps" in self.spec.names and base_lin_vel_b_mps is None:
            raise ValueError("the spec has base_lin_vel_b_mps: pass the value of the caller's "
                             "odometry.BaseVelocityEstimator")  # fmt: skip
        last = np.asarray(last_action_q_rad, dtype=np.float64)
        if last.shape != (g1.NUM_JOINTS,):
            raise ValueError(f"last_action_q_rad: expected ({g1.NUM_JOINTS},), got {last.shape}")
        if not math.isfinite(gait_phase):
            raise ValueError(f"gait_phase: expected a finite number, got {gait_phase!r}")
        makers: dict[str, Callable[[], np.ndarray]] = {
            "joint_pos_rel_rad": lambda: state.q_rad - self.default_pose_rad,
            "joint_vel_radps": lambda: np.array(state.dq_radps),
            "base_ang_vel_b_radps": lambda: np.array(state.imu.gyro_b_radps),
            "projected_gravity_b": lambda: state.imu.projected_gravity_b,
            "last_action_rel_rad": lambda: last - self.default_pose_rad,
            "command": lambda: _command_array(command),
            "gait_phase": lambda: np.array(
                [math.sin(2 * math.pi * gait_phase), math.cos(2 * math.pi * gait_phase)]
            ),
            "base_lin_vel_b_mps": lambda: np.array(base_lin_vel_b_mps, dtype=np.float64),
        }
        return {name: makers[name]() for name in self.spec.names}

    def flatten(self, terms: Mapping[str, np.ndarray]) -> np.ndarray:
        """Concatenate in spec order: (D,) from per-term (size,), or (T, D) from (T, size)."""
        parts = []
        for name, size in self.spec.terms:
            if name not in terms:
                raise ObservationSpecError(f"missing term {name!r}; got {sorted(terms)}")
            arr = np.asarray(terms[name])
            if arr.shape[-1:] != (size,):
                raise ObservationSpecError(
                    f"term {name!r}: expected last dim {size}, got {arr.shape}"
                )
            parts.append(arr)
        return np.concatenate(parts, axis=-1)


def build(
    state: RobotState,
    command: VelocityCommand | np.ndarray,
    last_action_q_rad: np.ndarray,
    gait_phase: float = 0.0,
    spec: ObservationSpec | None = None,
    base_lin_vel_b_mps: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``ObservationBuilder(spec).build(...)`` with the default pose."""
    return ObservationBuilder(spec).build(
        state, command, last_action_q_rad, gait_phase, base_lin_vel_b_mps
    )


def flatten(terms: Mapping[str, np.ndarray], spec: ObservationSpec | None = None) -> np.ndarray:
    """``ObservationBuilder(spec).flatten(terms)``."""
    return ObservationBuilder(spec).flatten(terms)
