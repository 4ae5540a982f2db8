"""What a real IMU and its attitude filter get wrong, for the twin to report.

The twin's sensors are exact; a G1's pelvis IMU is a MEMS part whose own filter reports the
attitude. ``ImuErrors`` adds, per episode (drawn at each reset) and per sample:
- gyro: a constant bias per axis and white noise on each read;
- accelerometer: a constant bias per axis and white noise on each 500 Hz sample (the
  reported value is the control period's mean, so the noise averages down);
- attitude: a constant roll/pitch error (the filter levels on a biased accelerometer) plus
  white noise on each read, and a yaw that drifts with the gyro's z bias (no magnetometer).
Errors live in the IMU frame, so a tilt error turns with the robot.

The defaults are typical of a consumer MEMS IMU after its start-up calibration (gyro bias of
a few mrad/s, accelerometer bias of a few cm/s^2, attitude within about a degree). They were
not measured on a G1: they are a plausible scale to test a state estimator against, not a
datasheet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class ImuErrors:
    gyro_bias_radps: float = 0.005  # one sigma per axis, constant over an episode
    gyro_noise_radps: float = 0.005  # white, per read
    accel_bias_mps2: float = 0.05
    accel_noise_mps2: float = 0.05  # white, per 500 Hz sample
    tilt_bias_rad: float = 0.01  # roll and pitch of the reported attitude (0.6 degrees)
    tilt_noise_rad: float = 0.002

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not (np.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name}: expected a finite value >= 0, got {value}")


class ImuErrorModel:
    """One episode's draw of ``ImuErrors``: ``redraw`` at reset, then corrupt the readings."""

    def __init__(self, errors: ImuErrors, seed: int = 0):
        self.errors = errors
        self.redraw(seed)

    def redraw(self, seed: int) -> None:
        e = self.errors
        self._rng = np.random.default_rng(seed)
        self.gyro_bias = self._rng.normal(0.0, e.gyro_bias_radps, 3)
        self.accel_bias = self._rng.normal(0.0, e.accel_bias_mps2, 3)
        self.tilt_bias = self._rng.normal(0.0, e.tilt_bias_rad, 2)

    def attitude(self, quat_wxyz: np.ndarray, elapsed_s: float) -> np.ndarray:
        """The reported orientation at ``elapsed_s`` into the episode: the true one turned by
        the constant tilt error and the drifted yaw (in the IMU frame), without noise."""
        error = _rotvec_quat(*self.tilt_bias, self.gyro_bias[2] * elapsed_s)
        out = np.zeros(4)
        mujoco.mju_mulQuat(out, quat_wxyz, error)
        return out

    def read(self, quat_wxyz: np.ndarray, gyro_b_radps: np.ndarray, elapsed_s: float
             ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """(reported orientation, reported gyro) for one read."""
        noise = _rotvec_quat(*self._rng.normal(0.0, self.errors.tilt_noise_rad, 2), 0.0)
        quat = np.zeros(4)
        mujoco.mju_mulQuat(quat, self.attitude(quat_wxyz, elapsed_s), noise)
        gyro_noise = self._rng.normal(0.0, self.errors.gyro_noise_radps, 3)
        return quat, gyro_b_radps + self.gyro_bias + gyro_noise

    def accel_sample(self, accel_b_mps2: np.ndarray) -> np.ndarray:
        """One 500 Hz accelerometer sample as the part reports it."""
        noise = self._rng.normal(0.0, self.errors.accel_noise_mps2, 3)
        return accel_b_mps2 + self.accel_bias + noise


def _rotvec_quat(x: float, y: float, z: float) -> np.ndarray:
    """The unit quaternion (w, x, y, z) of the rotation vector (x, y, z)."""
    rotvec = np.array((x, y, z))
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.array([1.0, 0.0, 0.0, 0.0])
    out = np.empty(4)
    out[0] = np.cos(angle / 2)
    out[1:] = np.sin(angle / 2) * rotvec / angle
    return out
