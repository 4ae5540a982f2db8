# ruff: noqa: RUF009  (zeros() returns a dataclasses.field with a default_factory)
"""The ``unitree_hg`` low-level IDL types (LowCmd_, LowState_ and their nested structs).

Type names, field order and field types must match what is compiled into Unitree's C++ SDK
(CycloneDDS 0.10.2): keyless, @final structs, serialized as XCDR1 little-endian. In
cyclonedds-python 11 a struct with no extensibility annotation *is* final and a keyless
final struct of primitives and fixed arrays defaults to XCDR1 (``_builder.build_machines``),
so we still write ``@annotate.final`` explicitly to make the contract visible.

THE TYPE-IDENTITY TRAP: every IDL ``octet`` field is declared with ``types.byte``, never
``types.uint8``. Both are an unsigned 8-bit integer in Python and on the wire, but XTypes
type identifiers distinguish them (TK_BYTE vs TK_UINT8). Unitree's IDL says ``octet``, which
Cyclone 0.10.2 hashes as TK_BYTE; a Python type declaring ``uint8`` gets a different
TypeIdentifier, so with type-consistency checks a reader and a writer silently never match
and no sample is delivered (no error anywhere). ``tests/unitree/test_dds.py`` pins this.

cyclonedds is imported inside ``load()`` (no import-time side effects; a clear error when
missing). ``load()`` builds the classes once and caches them.
"""

# No `from __future__ import annotations`: cyclonedds resolves field annotations by name in
# the module namespace, and these classes are built in a function, so annotations must be
# real objects at class creation.
import functools
from types import SimpleNamespace

NUM_SLOTS = 35  # motor array length in LowCmd_/LowState_ (29 used on the 29-DoF G1)
MODULE = "unitree_hg::msg::dds_::"
LOWCMD_TOPIC = "rt/lowcmd"
LOWSTATE_TOPIC = "rt/lowstate"


def require_cyclonedds():
    """Import cyclonedds or raise an ImportError that says how to install it."""
    try:
        import cyclonedds  # noqa: F401
        from cyclonedds.idl import IdlStruct, annotations, types
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the Unitree DDS layer needs cyclonedds: `pip install cyclonedds==11.0.1` "
            "(or `make setup`)"
        ) from exc
    return IdlStruct, annotations, types


@functools.cache
def load(octet: str = "byte") -> SimpleNamespace:
    """Build the message classes. ``octet="uint8"`` exists only to demonstrate the trap."""
    if octet not in ("byte", "uint8"):
        raise ValueError(f"octet must be 'byte' or 'uint8', got {octet!r}")
    return _build(octet)


def _build(octet_kind: str) -> SimpleNamespace:
    from dataclasses import dataclass, field

    IdlStruct, annotate, types = require_cyclonedds()
    octet = types.byte if octet_kind == "byte" else types.uint8
    arr = types.array

    def zeros(n, value=0):
        return field(default_factory=lambda: [value] * n)

    @dataclass
    @annotate.final
    class MotorCmd_(IdlStruct, typename=MODULE + "MotorCmd_"):
        mode: octet = 0
        q: types.float32 = 0.0
        dq: types.float32 = 0.0
        tau: types.float32 = 0.0
        kp: types.float32 = 0.0
        kd: types.float32 = 0.0
        reserve: types.uint32 = 0

    @dataclass
    @annotate.final
    class LowCmd_(IdlStruct, typename=MODULE + "LowCmd_"):
        mode_pr: octet = 0
        mode_machine: octet = 0
        motor_cmd: arr[MotorCmd_, NUM_SLOTS] = field(
            default_factory=lambda: [MotorCmd_() for _ in range(NUM_SLOTS)]
        )
        reserve: arr[types.uint32, 4] = zeros(4)
        crc: types.uint32 = 0

    @dataclass
    @annotate.final
    class IMUState_(IdlStruct, typename=MODULE + "IMUState_"):
        quaternion: arr[types.float32, 4] = zeros(4, 0.0)  # w, x, y, z
        gyroscope: arr[types.float32, 3] = zeros(3, 0.0)
        accelerometer: arr[types.float32, 3] = zeros(3, 0.0)
        rpy: arr[types.float32, 3] = zeros(3, 0.0)
        temperature: types.int16 = 0

    @dataclass
    @annotate.final
    class MotorState_(IdlStruct, typename=MODULE + "MotorState_"):
        mode: octet = 0
        q: types.float32 = 0.0
        dq: types.float32 = 0.0
        ddq: types.float32 = 0.0
        tau_est: types.float32 = 0.0
        temperature: arr[types.int16, 2] = zeros(2)  # 0 casing, 1 winding (deg C)
        vol: types.float32 = 0.0
        sensor: arr[types.uint32, 2] = zeros(2)
        motorstate: types.uint32 = 0
        reserve: arr[types.uint32, 4] = zeros(4)

    @dataclass
    @annotate.final
    class LowState_(IdlStruct, typename=MODULE + "LowState_"):
        version: arr[types.uint32, 2] = zeros(2)
        mode_pr: octet = 0
        mode_machine: octet = 0
        tick: types.uint32 = 0
        imu_state: IMUState_ = field(default_factory=IMUState_)
        motor_state: arr[MotorState_, NUM_SLOTS] = field(
            default_factory=lambda: [MotorState_() for _ in range(NUM_SLOTS)]
        )
        wireless_remote: arr[octet, 40] = zeros(40)
        reserve: arr[types.uint32, 4] = zeros(4)
        crc: types.uint32 = 0

    ns = SimpleNamespace(
        MotorCmd_=MotorCmd_,
        LowCmd_=LowCmd_,
        IMUState_=IMUState_,
        MotorState_=MotorState_,
        LowState_=LowState_,
    )
    from humanoid_teleop.unitree import wire

    wire.install(ns)  # struct-based XCDR1 codecs: 10x faster than the generic machine
    return ns
