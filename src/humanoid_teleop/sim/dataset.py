"""Demonstration datasets: an append-only directory of per-episode NPZ shards + ``meta.json``.

Format ``humanoid-teleop.demonstrations``, version 1. Readable with the standard library,
JSON and numpy alone (``np.load(shard)``); this module adds validation.

Layout::

    DIR/
      meta.json             the dataset's description and its list of finished episodes
      episode_000000.npz    one shard per episode (zero-padded to 6 digits)
      episode_000001.npz
      ...

``meta.json`` (one JSON object)::

    format            "humanoid-teleop.demonstrations"
    format_version    1 (a reader refuses any other)
    joint_names       [29 names], the order of every joint axis below (Unitree motor order)
    default_pose_rad  [29], what ``*_rel_rad`` terms are relative to
    control_dt_s      seconds between ticks (0.02: 50 Hz)
    observation_spec  {"terms": [{"name", "size"}, ...], "dim"}: the ``obs/<name>`` arrays,
                      see humanoid_teleop.policy.observation for each term's meaning
    action_spec       what the ``action/*`` arrays are (sizes, units, frame)
    arrays            {array name: {"shape": [...], "dtype": ...}}, "T" = episode length
    expert            {"name", "config"}: the controller that produced the labels
    collect           the collection settings (schedule, noise, pushes, ...) except the
                      episode count, which only grows
    seed              the collection seed; episode i's seed is listed with it
    episodes          [{"index", "file", "length", "seed", "fell", "end_reason", "sha256"}],
                      index i at position i; only finished episodes are listed

Each shard holds, for the T control ticks of one episode (tick k at ``time_s[k]``)::

    obs/<term>           (T, size)  float32  the observation the label was computed from
    command              (T, 3)     float32  (vx m/s, vy m/s, yaw rate rad/s), heading frame
    action/q_rad         (T, 29)    float32  the expert's clean joint position target (label)
    action/dq_radps      (T, 29)    float32  its joint velocity target
    action/tau_ff_nm     (T, 29)    float32  its feedforward torque
    kp, kd               (29,)      float32  the expert's gains, constant over the episode
    executed_q_rad       (T, 29)    float32  the q target actually sent (label + exploration
                                             noise, after Safety's clamps)
    gait_phase           (T,)       float32  the expert's gait phase in [0, 1) after tick k
                                             (obs/gait_phase[k] encodes tick k-1's)
    time_s               (T,)       float64  seconds since the first active tick
    base_pos_w_m         (T, 3)     float32  sim ground truth (analysis only, not an input)
    base_quat_wxyz       (T, 4)     float32  sim ground truth (analysis only, not an input)

The motor law is ``tau = tau_ff + kp (q - q_meas) + kd (dq - dq_meas)``.
``obs/last_action_rel_rad[k] = executed_q_rad[k-1] - default_pose_rad`` (at k = 0 the
Safety ramp's last target, the default pose). An episode that fell is kept up to the last
tick before the fall (``fell`` true, ``end_reason`` says why). Readers ignore arrays they
do not know; a change to anything above bumps ``format_version``.

Writing is append-only and crash-safe: a shard is written to ``*.tmp`` and renamed, then
``meta.json`` is rewritten the same way, so a listed episode is always complete, and a
shard that is not listed is overwritten on resume. Everything written is a function of the
data alone (fixed zip timestamps, sorted keys), so the same episodes give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.fileio import write_atomic
from humanoid_teleop.policy.observation import ObservationSpec, ObservationSpecError

FORMAT_NAME = "humanoid-teleop.demonstrations"
FORMAT_VERSION = 1
META_FILE = "meta.json"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so shards are byte-identical across runs

ACTION_SPEC: dict[str, Any] = {
    "q_rad": {"size": g1.NUM_JOINTS, "meaning": "absolute joint position target (label)"},
    "dq_radps": {"size": g1.NUM_JOINTS, "meaning": "joint velocity target"},
    "tau_ff_nm": {"size": g1.NUM_JOINTS, "meaning": "feedforward motor torque"},
    "gains": "kp, kd per episode; tau = tau_ff + kp (q - q_meas) + kd (dq - dq_meas)",
}


class DatasetError(RuntimeError):
    """A dataset directory is missing, incompatible, or corrupt; the message says which file
    and what was expected."""


def shard_name(index: int) -> str:
    return f"episode_{index:06d}.npz"


def array_schema(spec: ObservationSpec) -> dict[str, tuple[tuple[int | str, ...], str]]:
    """Every array of a shard: name -> (shape with "T" for the episode length, dtype)."""
    n = g1.NUM_JOINTS
    schema: dict[str, tuple[tuple[int | str, ...], str]] = {
        f"obs/{name}": (("T", size), "float32") for name, size in spec.terms
    }
    schema.update(
        {
            "command": (("T", 3), "float32"),
            "action/q_rad": (("T", n), "float32"),
            "action/dq_radps": (("T", n), "float32"),
            "action/tau_ff_nm": (("T", n), "float32"),
            "kp": ((n,), "float32"),
            "kd": ((n,), "float32"),
            "executed_q_rad": (("T", n), "float32"),
            "gait_phase": (("T",), "float32"),
            "time_s": (("T",), "float64"),
            "base_pos_w_m": (("T", 3), "float32"),
            "base_quat_wxyz": (("T", 4), "float32"),
        }
    )
    return schema


def _schema_json(spec: ObservationSpec) -> dict:
    return {k: {"shape": list(s), "dtype": d} for k, (s, d) in array_schema(spec).items()}


def jsonable(value: Any) -> Any:
    """Plain JSON types from dataclasses, tuples, numpy arrays and scalars."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"not JSON-safe: {value!r}")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot put {type(value).__name__} into meta.json: {value!r}")


@dataclass(frozen=True)
class DatasetHeader:
    """Everything in meta.json except the episode list; resume requires an equal header."""

    observation_spec: ObservationSpec
    control_dt_s: float
    seed: int
    expert: Mapping[str, Any]  # {"name": ..., "config": {...}}, JSON-able
    collect: Mapping[str, Any]  # collection settings without the episode count, JSON-able
    joint_names: tuple[str, ...] = g1.JOINT_NAMES
    default_pose_rad: tuple[float, ...] = tuple(float(v) for v in g1.DEFAULT_POSE_RAD)

    def __post_init__(self):
        names = tuple(self.joint_names)
        if len(names) != g1.NUM_JOINTS or len(set(names)) != len(names):
            raise DatasetError(f"joint_names: expected {g1.NUM_JOINTS} unique names, got {names}")
        object.__setattr__(self, "joint_names", names)
        pose = tuple(float(v) for v in self.default_pose_rad)
        if len(pose) != len(names) or not all(math.isfinite(v) for v in pose):
            raise DatasetError(f"default_pose_rad: expected {len(names)} finite values")
        object.__setattr__(self, "default_pose_rad", pose)
        if not (math.isfinite(self.control_dt_s) and self.control_dt_s > 0):
            raise DatasetError(f"control_dt_s: expected > 0, got {self.control_dt_s}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise DatasetError(f"seed: expected an int, got {self.seed!r}")
        object.__setattr__(self, "expert", jsonable(self.expert))
        object.__setattr__(self, "collect", jsonable(self.collect))

    def to_meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "joint_names": list(self.joint_names),
            "default_pose_rad": list(self.default_pose_rad),
            "control_dt_s": float(self.control_dt_s),
            "observation_spec": self.observation_spec.to_dict(),
            "action_spec": ACTION_SPEC,
            "arrays": _schema_json(self.observation_spec),
            "expert": self.expert,
            "collect": self.collect,
            "seed": self.seed,
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> DatasetHeader:
        try:
            return cls(
                observation_spec=ObservationSpec.from_dict(meta["observation_spec"]),
                control_dt_s=float(meta["control_dt_s"]),
                seed=meta["seed"],
                expert=meta["expert"],
                collect=meta["collect"],
                joint_names=tuple(meta["joint_names"]),
                default_pose_rad=tuple(meta["default_pose_rad"]),
            )
        except (KeyError, TypeError, ValueError, ObservationSpecError) as exc:
            raise DatasetError(f"meta.json: invalid header: {exc}") from exc


@dataclass(frozen=True)
class EpisodeInfo:
    index: int
    file: str
    length: int  # ticks
    seed: int
    fell: bool  # ended early by a fall or a Safety fault
    end_reason: str = ""
    sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "file": self.file, "length": self.length, "seed": self.seed,
            "fell": self.fell, "end_reason": self.end_reason, "sha256": self.sha256,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any], position: int) -> EpisodeInfo:
        try:
            info = cls(
                index=data["index"], file=data["file"], length=data["length"], seed=data["seed"],
                fell=data["fell"], end_reason=data.get("end_reason", ""),
                sha256=data.get("sha256", ""),
            )  # fmt: skip
        except (KeyError, TypeError) as exc:
            raise DatasetError(f"meta.json: episode entry {position} is invalid: {exc}") from exc
        ok = (
            isinstance(info.index, int) and info.index == position
            and info.file == shard_name(position)
            and isinstance(info.length, int) and info.length >= 1
            and isinstance(info.seed, int) and isinstance(info.fell, bool)
        )  # fmt: skip
        if not ok:
            raise DatasetError(
                f"meta.json: episode entry {position} is invalid: expected index {position}, "
                f"file {shard_name(position)!r}, length >= 1, int seed, bool fell; got {dict(data)}"
            )
        return info


@dataclass(frozen=True)
class Episode:
    info: EpisodeInfo
    arrays: Mapping[str, np.ndarray] = field(repr=False)

    @property
    def length(self) -> int:
        return self.info.length

    @property
    def observations(self) -> dict[str, np.ndarray]:
        """Term name -> (T, size)."""
        return {k[4:]: v for k, v in self.arrays.items() if k.startswith("obs/")}

    def observation_matrix(self, spec: ObservationSpec) -> np.ndarray:
        """(T, spec.dim): the terms of ``spec`` concatenated in its order."""
        obs = self.observations
        missing = [n for n in spec.names if n not in obs]
        if missing:
            raise DatasetError(f"episode {self.info.index}: no observation terms {missing}")
        return np.concatenate([obs[n] for n in spec.names], axis=-1)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


# -- validation shared by writer and reader ----------------------------------------------


def _check_arrays(
    arrays: Mapping[str, np.ndarray], spec: ObservationSpec, length: int | None, where: str
) -> dict[str, np.ndarray]:
    """Check names/shapes/finiteness against the schema; returns arrays cast to its dtypes."""
    schema = array_schema(spec)
    missing = sorted(set(schema) - set(arrays))
    if missing:
        raise DatasetError(f"{where}: missing arrays {missing}")
    if length is None:
        length = int(np.shape(arrays["time_s"])[0]) if np.ndim(arrays["time_s"]) == 1 else -1
    if length < 1:
        raise DatasetError(
            f"{where}: expected at least one tick, got time_s {np.shape(arrays['time_s'])}"
        )
    out = {}
    for name, (shape_t, dtype) in schema.items():
        arr = np.asarray(arrays[name])
        shape = tuple(length if d == "T" else d for d in shape_t)
        if arr.shape != shape:
            raise DatasetError(f"{where}: {name}: expected shape {shape}, got {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise DatasetError(f"{where}: {name}: expected a float array, got {arr.dtype}")
        arr = arr.astype(dtype, copy=False)
        if not np.all(np.isfinite(arr)):
            raise DatasetError(f"{where}: {name}: contains NaN or inf")
        out[name] = arr
    return out


def _load_meta(root: Path) -> dict[str, Any]:
    path = root / META_FILE
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset directory")
    if not path.is_file():
        raise DatasetError(f"{root}: not a dataset (no {META_FILE})")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable: {exc}") from exc
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: expected a JSON object")
    if meta.get("format") != FORMAT_NAME:
        raise DatasetError(f"{path}: expected format {FORMAT_NAME!r}, got {meta.get('format')!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise DatasetError(
            f"{path}: expected format_version {FORMAT_VERSION}, got {meta.get('format_version')!r}"
        )
    header = DatasetHeader.from_meta(meta)
    if meta.get("arrays") != _schema_json(header.observation_spec):
        raise DatasetError(f"{path}: 'arrays' does not match format version {FORMAT_VERSION}")
    episodes = meta.get("episodes")
    if not isinstance(episodes, list):
        raise DatasetError(f"{path}: 'episodes' must be a list")
    meta["episodes"] = [EpisodeInfo.from_json(e, i) for i, e in enumerate(episodes)]
    return meta


def _normalized(value: Any) -> Any:
    return json.loads(json.dumps(jsonable(value), sort_keys=True))


def _diff_paths(a: Any, b: Any, path: str = "") -> list[str]:
    """Human-readable differences between two JSON values: 'key.sub: stored X, given Y'."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            sub = f"{path}.{k}" if path else k
            if k not in a or k not in b:
                out.append(f"{sub}: {'missing in stored' if k not in a else 'missing in given'}")
            else:
                out.extend(_diff_paths(a[k], b[k], sub))
        return out
    if a == b:
        return []

    def short(v: Any) -> str:
        s = json.dumps(v)
        return s if len(s) <= 80 else s[:77] + "..."

    return [f"{path}: stored {short(a)}, given {short(b)}"]


def _header_differences(stored: DatasetHeader, given: DatasetHeader) -> list[str]:
    return _diff_paths(_normalized(stored.to_meta()), _normalized(given.to_meta()))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_npz_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """An ``np.load``-able NPZ with fixed timestamps and sorted members, via tmp + rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in sorted(arrays):
                info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(
                        member, np.ascontiguousarray(arrays[name]), allow_pickle=False
                    )
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# -- writer / reader ---------------------------------------------------------------------


class DatasetWriter:
    """Create a dataset, or reopen one to append (resume).

    Reopening checks that ``header`` equals the stored one (format version, joint names,
    default pose, control dt, observation spec, expert and collection settings, seed) and
    that every listed shard exists; ``next_index`` is where to continue.
    """

    def __init__(self, root: str | os.PathLike, header: DatasetHeader):
        self.root = Path(root)
        self.header = header
        if (self.root / META_FILE).exists():
            meta = _load_meta(self.root)
            stored = DatasetHeader.from_meta(meta)
            diff = _header_differences(stored, header)
            if diff:
                raise DatasetError(
                    f"{self.root}: cannot resume: written with different settings "
                    f"({'; '.join(diff[:5])}{'; ...' if len(diff) > 5 else ''}); "
                    f"use a new directory or the original settings"
                )
            self._episodes: list[EpisodeInfo] = meta["episodes"]
            for info in self._episodes:
                if not (self.root / info.file).is_file():
                    raise DatasetError(f"{self.root}: listed shard {info.file} is missing")
        else:
            if self.root.exists():
                if not self.root.is_dir():
                    raise DatasetError(f"{self.root}: exists and is not a directory")
                leftovers = [p.name for p in self.root.iterdir() if not p.name.endswith(".tmp")]
                if leftovers:
                    raise DatasetError(
                        f"{self.root}: not empty and has no {META_FILE}; refusing to write "
                        f"into it (found {sorted(leftovers)[:5]})"
                    )
            self.root.mkdir(parents=True, exist_ok=True)
            self._episodes = []
            self._write_meta()

    @property
    def next_index(self) -> int:
        """The first episode index not yet written."""
        return len(self._episodes)

    @property
    def episodes(self) -> tuple[EpisodeInfo, ...]:
        return tuple(self._episodes)

    def has_episode(self, index: int) -> bool:
        return 0 <= index < len(self._episodes)

    def write_episode(
        self,
        index: int,
        arrays: Mapping[str, np.ndarray],
        *,
        seed: int,
        fell: bool,
        end_reason: str = "",
    ) -> EpisodeInfo:
        """Validate ``arrays`` against the schema (see the module docstring), write the shard
        atomically, then list it in meta.json atomically. ``index`` must be ``next_index``."""
        if index != self.next_index:
            raise DatasetError(f"append-only: expected episode {self.next_index}, got {index}")
        name = shard_name(index)
        checked = _check_arrays(arrays, self.header.observation_spec, None, name)
        path = self.root / name
        _write_npz_atomic(path, checked)
        info = EpisodeInfo(
            index=index, file=name, length=int(checked["time_s"].shape[0]), seed=int(seed),
            fell=bool(fell), end_reason=str(end_reason), sha256=_sha256(path),
        )  # fmt: skip
        self._episodes.append(info)
        self._write_meta()
        return info

    def _write_meta(self) -> None:
        meta = self.header.to_meta()
        meta["episodes"] = [e.to_json() for e in self._episodes]
        text = json.dumps(jsonable(meta), indent=1) + "\n"
        write_atomic(self.root / META_FILE, text.encode())


class DatasetReader:
    """Open a dataset: checks format/version/schema at once, each shard when it is read.

    ``expected_joint_names`` (default: the G1's) and ``expected_observation_spec`` (if given)
    must match the stored ones exactly, or DatasetError.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        expected_joint_names: Sequence[str] | None = g1.JOINT_NAMES,
        expected_observation_spec: ObservationSpec | None = None,
        verify_checksums: bool = True,
    ):
        self.root = Path(root)
        meta = _load_meta(self.root)
        self.header = DatasetHeader.from_meta(meta)
        self.verify_checksums = verify_checksums
        if (
            expected_joint_names is not None
            and tuple(expected_joint_names) != self.header.joint_names
        ):
            wrong = [
                (i, e, g) for i, (e, g) in enumerate(zip(expected_joint_names, self.header.joint_names))
                if e != g
            ]  # fmt: skip
            raise DatasetError(
                f"{self.root}: joint names differ from the expected order "
                f"(index, expected, stored): {wrong[:5]}"
            )
        if expected_observation_spec is not None:
            try:
                expected_observation_spec.check_matches(self.header.observation_spec)
            except ObservationSpecError as exc:
                raise DatasetError(f"{self.root}: {exc}") from exc
        self.episodes: tuple[EpisodeInfo, ...] = tuple(meta["episodes"])
        self.meta = {k: v for k, v in meta.items() if k != "episodes"}
        missing = [e.file for e in self.episodes if not (self.root / e.file).is_file()]
        if missing:
            raise DatasetError(
                f"{self.root}: shards listed in {META_FILE} are missing: {missing[:5]}"
            )

    @property
    def observation_spec(self) -> ObservationSpec:
        return self.header.observation_spec

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.header.joint_names

    @property
    def control_dt_s(self) -> float:
        return self.header.control_dt_s

    @property
    def total_ticks(self) -> int:
        return sum(e.length for e in self.episodes)

    def __len__(self) -> int:
        return len(self.episodes)

    def __iter__(self) -> Iterator[Episode]:
        for i in range(len(self.episodes)):
            yield self.episode(i)

    def episode(self, index: int) -> Episode:
        """Load and check one shard (checksum, arrays, shapes, finiteness)."""
        if not 0 <= index < len(self.episodes):
            raise IndexError(f"episode {index} out of range 0..{len(self.episodes) - 1}")
        info = self.episodes[index]
        path = self.root / info.file
        if self.verify_checksums and info.sha256:
            try:
                digest = _sha256(path)
            except OSError as exc:
                raise DatasetError(f"{path}: unreadable: {exc}") from exc
            if digest != info.sha256:
                raise DatasetError(f"{path}: corrupt shard (sha256 {digest} != {info.sha256})")
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"{path}: corrupt shard: {type(exc).__name__}: {exc}") from exc
        checked = _check_arrays(arrays, self.observation_spec, info.length, str(path))
        extra = {k: v for k, v in arrays.items() if k not in checked}  # ignored by this version
        return Episode(info, {**checked, **extra})
