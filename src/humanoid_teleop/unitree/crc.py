"""The CRC Unitree's firmware checks on LowCmd_ (and sets on LowState_).

CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final xor), fed each
32-bit little-endian word of the *C struct memory image* most-significant bit first. The
image is not the DDS payload: it has C natural alignment with zeroed padding, and the CRC
covers every word before the ``crc`` field (LowCmd_ 1004 bytes -> 250 words, LowState_
2092 bytes -> 522 words). A command with a wrong CRC is silently dropped by the robot.

Speed: a bit loop costs ~6 ms per LowState_, too slow at 500 Hz. MPEG-2 is the
bit-mirror image of zlib's CRC-32 (same polynomial, reflected): feeding zlib the input with
every byte bit-reversed and bit-reversing its register gives the MPEG-2 result. Word
byte-order swap and bit reversal are one numpy gather, so the whole CRC is C speed
(~10 us). ``crc32_mpeg2_reference`` is the plain bitwise definition the tests compare against.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from humanoid_teleop.unitree.messages import NUM_SLOTS

# C struct layouts (G1_FACTS.md), little-endian, padding as explicit pad bytes.
_LOWCMD_HEAD = "<2B2x"  # mode_pr, mode_machine
_MOTOR_CMD = "B3x5fI"  # mode, q, dq, tau, kp, kd, reserve
_LOWCMD_TAIL = "5I"  # reserve[4], crc
LOWCMD_STRUCT = struct.Struct(_LOWCMD_HEAD + "".join([_MOTOR_CMD] * NUM_SLOTS) + _LOWCMD_TAIL)
_LOWSTATE_HEAD = "<2I2B2xI"  # version[2], mode_pr, mode_machine, tick
_IMU = "13fh2x"  # quaternion[4], gyroscope[3], accelerometer[3], rpy[3], temperature
_MOTOR_STATE = "B3x4f2hf7I"  # mode, q, dq, ddq, tau_est, temperature[2], vol, sensor[2], motorstate, reserve[4]
_LOWSTATE_TAIL = "40B5I"  # wireless_remote[40], reserve[4], crc
LOWSTATE_STRUCT = struct.Struct(
    _LOWSTATE_HEAD + _IMU + "".join([_MOTOR_STATE] * NUM_SLOTS) + _LOWSTATE_TAIL
)
LOWCMD_SIZE = 1004
LOWSTATE_SIZE = 2092
assert LOWCMD_STRUCT.size == LOWCMD_SIZE and LOWSTATE_STRUCT.size == LOWSTATE_SIZE

POLY = 0x04C11DB7
INIT = 0xFFFFFFFF


class CrcError(ValueError):
    """A message's CRC does not match its contents."""


def _bitrev8_table() -> np.ndarray:
    b = np.arange(256, dtype=np.uint16)
    r = np.zeros(256, dtype=np.uint16)
    for i in range(8):
        r |= ((b >> i) & 1) << (7 - i)
    return r.astype(np.uint8)


_REV8 = _bitrev8_table()


def _rev32(x: int) -> int:
    return int(f"{x:032b}"[::-1], 2)


def crc32_mpeg2_words(image: bytes | memoryview, n_words: int) -> int:
    """CRC over the first ``n_words`` little-endian 32-bit words of ``image``, MSB first."""
    if len(image) < 4 * n_words:
        raise ValueError(f"image has {len(image)} bytes, need {4 * n_words}")
    words = np.frombuffer(image, dtype=np.uint8, count=4 * n_words).reshape(n_words, 4)
    # MSB-first over a LE word = its bytes in reverse order; zlib (reflected) wants each
    # byte bit-reversed to process it MSB first.
    fed = _REV8[words[:, ::-1]].tobytes()
    # zlib.crc32(data) = ~crc_reflected(init ~0) ... so xor back the final inversion.
    return _rev32(zlib.crc32(fed) ^ 0xFFFFFFFF)


def crc32_mpeg2_reference(image: bytes, n_words: int) -> int:
    """The bitwise definition (Unitree's ``crc32_core``); slow, for tests only."""
    crc = INIT
    for (word,) in struct.iter_unpack("<I", image[: 4 * n_words]):
        for bit in range(31, -1, -1):
            top = (crc >> 31) ^ ((word >> bit) & 1)
            crc = (crc << 1) & 0xFFFFFFFF
            if top:
                crc ^= POLY
    return crc


# -- memory images ----------------------------------------------------------------------
def lowcmd_fields(msg) -> list:
    """A LowCmd_'s values in declaration order: what both the C image and CDR pack."""
    values = [msg.mode_pr, msg.mode_machine]
    for m in msg.motor_cmd:
        values += (m.mode, m.q, m.dq, m.tau, m.kp, m.kd, m.reserve)
    values += msg.reserve
    values.append(msg.crc)
    return values


def lowstate_fields(msg) -> list:
    """A LowState_'s values in declaration order: what both the C image and CDR pack."""
    imu = msg.imu_state
    values = [*msg.version, msg.mode_pr, msg.mode_machine, msg.tick]
    values += (*imu.quaternion, *imu.gyroscope, *imu.accelerometer, *imu.rpy, imu.temperature)
    for m in msg.motor_state:
        values += (m.mode, m.q, m.dq, m.ddq, m.tau_est, *m.temperature, m.vol,
                   *m.sensor, m.motorstate, *m.reserve)  # fmt: skip
    values += msg.wireless_remote
    values += msg.reserve
    values.append(msg.crc)
    return values


def pack_lowcmd(msg) -> bytes:
    """The C memory image of a LowCmd_ (1004 bytes, padding zeroed)."""
    return LOWCMD_STRUCT.pack(*lowcmd_fields(msg))


def pack_lowstate(msg) -> bytes:
    """The C memory image of a LowState_ (2092 bytes, padding zeroed)."""
    return LOWSTATE_STRUCT.pack(*lowstate_fields(msg))


def lowcmd_crc(msg) -> int:
    return crc32_mpeg2_words(pack_lowcmd(msg), LOWCMD_SIZE // 4 - 1)


def lowstate_crc(msg) -> int:
    return crc32_mpeg2_words(pack_lowstate(msg), LOWSTATE_SIZE // 4 - 1)


def lowcmd_crc_ok(msg) -> bool:
    return lowcmd_crc(msg) == msg.crc


def lowstate_crc_ok(msg) -> bool:
    return lowstate_crc(msg) == msg.crc
