"""CRC-32/MPEG-2 over the C memory images: G1_FACTS.md test vectors, layouts, reference."""

import random

import pytest

from humanoid_teleop.unitree import crc
from humanoid_teleop.unitree.messages import load


@pytest.fixture(scope="module")
def M():
    return load()


def test_image_sizes_match_the_c_structs(M):
    assert len(crc.pack_lowcmd(M.LowCmd_())) == 1004
    assert len(crc.pack_lowstate(M.LowState_())) == 2092


def test_vector_all_zero_lowcmd(M):
    assert crc.lowcmd_crc(M.LowCmd_()) == 0xFE172F9F


def test_vector_all_zero_lowstate(M):
    assert crc.lowstate_crc(M.LowState_()) == 0xD64BB04A


def test_vector_one_motor_lowcmd(M):
    msg = M.LowCmd_(mode_pr=0, mode_machine=5)
    msg.motor_cmd[0] = M.MotorCmd_(mode=1, q=0.5, dq=0.0, tau=0.0, kp=60.0, kd=1.0)
    assert crc.lowcmd_crc(msg) == 0xEA62DB25


def test_crc_field_is_not_covered(M):
    msg = M.LowCmd_()
    msg.crc = 0xDEADBEEF
    assert crc.lowcmd_crc(msg) == 0xFE172F9F


def test_fast_crc_equals_the_bitwise_definition():
    rng = random.Random(0)
    for n_words in (1, 7, 250, 522):
        image = bytes(rng.randrange(256) for _ in range(4 * n_words))
        assert crc.crc32_mpeg2_words(image, n_words) == crc.crc32_mpeg2_reference(image, n_words)


def test_crc_changes_with_any_field_and_ok_checks(M):
    msg = M.LowCmd_(mode_machine=5)
    msg.crc = crc.lowcmd_crc(msg)
    assert crc.lowcmd_crc_ok(msg)
    msg.motor_cmd[28].kd = 8.0
    assert not crc.lowcmd_crc_ok(msg)
    state = M.LowState_(tick=7)
    state.crc = crc.lowstate_crc(state)
    assert crc.lowstate_crc_ok(state)
    state.wireless_remote[39] = 1
    assert not crc.lowstate_crc_ok(state)


def test_short_image_is_refused():
    with pytest.raises(ValueError, match="need"):
        crc.crc32_mpeg2_words(b"\x00" * 8, 3)
