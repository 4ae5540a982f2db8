"""The accelerometer averaged over the control period, as both robot layers report it.

An IMU sampled at 500 Hz and read once per 20 ms control tick hands the controller one
sample, and the feet's contact spikes alias into anything that integrates it (the walking
expert's velocity estimate on the encoders and the IMU: its per-tick velocity change erred by
0.058 m/s median from one sample, 0.0028 from the mean; docs/figures.md). So the twin
in-process (``sim/robot.py``) and the DDS bridge (``unitree/bridge.py``) report the mean
specific force over the last control period instead: every sample is turned into the world
frame (the IMU turns within a tick), averaged, and turned back into the IMU frame of the read.
"""

from __future__ import annotations

import numpy as np


def quat_matrix(quat_wxyz: np.ndarray) -> np.ndarray:
    """(3, 3) world-from-body rotation of a unit quaternion."""
    w, x, y, z = quat_wxyz
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


class PeriodMeanAccel:
    """The mean of the last ``samples`` accelerometer samples (one control period of them)."""

    def __init__(self, samples: int):
        if samples < 1:
            raise ValueError(f"samples: expected >= 1, got {samples}")
        self._ring = np.zeros((samples, 3))
        self.reset()

    def reset(self) -> None:
        self._count = 0

    def add(self, quat_wxyz: np.ndarray, accel_b_mps2: np.ndarray) -> None:
        """One sample: the IMU's orientation and its specific force (IMU frame)."""
        self._ring[self._count % len(self._ring)] = quat_matrix(quat_wxyz) @ accel_b_mps2
        self._count += 1

    def mean_b(self, quat_wxyz: np.ndarray, latest_b_mps2: np.ndarray) -> np.ndarray:
        """The mean specific force in the IMU frame of ``quat_wxyz``; ``latest_b_mps2`` until
        a sample has been added."""
        if self._count == 0:
            return np.asarray(latest_b_mps2, dtype=float)
        n = min(self._count, len(self._ring))
        return quat_matrix(quat_wxyz).T @ self._ring[:n].mean(axis=0)
