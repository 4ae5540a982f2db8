"""hg message types: exact names, final/keyless XCDR1, byte octets, codec round trips."""

import random
import typing

import pytest

from humanoid_teleop.unitree import wire
from humanoid_teleop.unitree.messages import NUM_SLOTS, load


@pytest.fixture(scope="module")
def M():
    return load()


def test_type_names_are_unitrees(M):
    for name in ("LowCmd_", "LowState_", "MotorCmd_", "MotorState_", "IMUState_"):
        assert getattr(M, name).__idl_typename__ == f"unitree_hg::msg::dds_::{name}"


def test_octets_are_declared_as_byte_not_uint8(M):
    from cyclonedds.idl import types

    hints = typing.get_type_hints(M.LowCmd_, include_extras=True)
    assert hints["mode_pr"] == types.byte and hints["mode_machine"] == types.byte
    assert typing.get_type_hints(M.MotorCmd_, include_extras=True)["mode"] == types.byte
    assert typing.get_type_hints(M.MotorState_, include_extras=True)["mode"] == types.byte


def test_final_keyless_and_xcdr1_little_endian(M):
    from cyclonedds.idl._support import DataRepresentationFlags

    for cls in (M.LowCmd_, M.LowState_, M.MotorCmd_, M.MotorState_, M.IMUState_):
        assert cls.__idl_annotations__.get("extensibility") == "final"
    for cls in (M.LowCmd_, M.LowState_):
        cls.__idl__.populate()
        assert cls.__idl__.keyless
        assert cls.__idl__.default_version == 1
        assert cls.__idl__.supported_versions & DataRepresentationFlags.FLAG_XCDR1
        assert cls().serialize()[:4] == b"\x00\x01\x00\x00"  # CDR_LE, XCDR1


def _random_lowcmd(M, rng):
    f = lambda: rng.uniform(-3, 3)
    motors = [M.MotorCmd_(rng.randrange(2), f(), f(), f(), f(), f(), rng.randrange(2**32))
              for _ in range(NUM_SLOTS)]  # fmt: skip
    return M.LowCmd_(rng.randrange(256), rng.randrange(256), motors,
                     [rng.randrange(2**32) for _ in range(4)], rng.randrange(2**32))  # fmt: skip


def _random_lowstate(M, rng):
    f = lambda n: [rng.uniform(-3, 3) for _ in range(n)]
    imu = M.IMUState_(f(4), f(3), f(3), f(3), rng.randrange(-100, 100))
    motors = [M.MotorState_(rng.randrange(256), *f(4), [rng.randrange(-99, 99) for _ in "ab"],
                            rng.uniform(0, 50), [1, 2], rng.randrange(2**32), [3, 4, 5, 6])
              for _ in range(NUM_SLOTS)]  # fmt: skip
    return M.LowState_([1, 2], 0, 5, rng.randrange(2**32), imu, motors,
                       [rng.randrange(256) for _ in range(40)], [7, 8, 9, 10], 0xABCD)  # fmt: skip


def test_fast_codec_is_byte_identical_to_cyclonedds(M):
    rng = random.Random(1)
    for _ in range(5):
        for msg, cls in (
            (_random_lowcmd(M, rng), M.LowCmd_),
            (_random_lowstate(M, rng), M.LowState_),
        ):
            fast, generic = msg.serialize(), msg.serialize_generic()
            assert fast == generic
            # (the generic codec returns octet arrays as bytes, ours as lists: compare bytes)
            assert cls.deserialize(fast).serialize() == cls.deserialize_generic(generic).serialize()
            assert cls.deserialize(fast).serialize_generic() == generic


def test_round_trip_is_exact_for_float32_values(M):
    msg = M.LowCmd_(mode_machine=5)
    msg.motor_cmd[3] = M.MotorCmd_(1, 0.5, -0.25, 1.5, 60.0, 1.0, 0)
    assert M.LowCmd_.deserialize(msg.serialize()) == msg
    state = M.LowState_(tick=123, mode_machine=5)
    state.imu_state.quaternion = [1.0, 0.0, 0.0, 0.0]
    state.motor_state[28].q = 0.125
    assert M.LowState_.deserialize(state.serialize()) == state


def test_cdr_layout_sizes():
    # XCDR1 aligns from the payload start and inlines nested structs: 1000 and 2088 bytes,
    # not the C images' 1004 and 2092 (which pad each nested struct to its own alignment).
    assert wire.LOWCMD_CDR.size == 1000
    assert wire.LOWSTATE_CDR.size == 2088


def test_octet_kind_is_validated():
    with pytest.raises(ValueError, match="octet"):
        load("char")
