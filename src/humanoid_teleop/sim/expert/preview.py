"""ZMP preview control (Kajita 2003) of the cart-table model, both horizontal axes at once.

State per axis is (CoM position, velocity, acceleration); the input is CoM jerk; the output
is the ZMP p = x - (z_c / g) * xdd. The jerk minimizes the discounted sum of
q_zmp (p - p_ref)^2 + r_jerk u^2 over an infinite horizon with the reference known for the
next ``horizon_s``: u_k = -K x_k + sum_j f_j p_ref[k + j]. Gains come from one discrete
Riccati solve at construction, so a tick is two small matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

GRAVITY_MPS2 = 9.81


@dataclass(frozen=True)
class PreviewConfig:
    com_height_m: float = 0.666  # CoM above the sole in the walking posture
    dt_s: float = 0.02  # one control tick
    horizon_s: float = 1.6
    q_zmp: float = 1.0
    r_jerk: float = 1e-6

    def __post_init__(self):
        if not 0.3 <= self.com_height_m <= 1.2:
            raise ValueError(f"com_height_m: expected 0.3..1.2 m, got {self.com_height_m}")
        if not 0.0 < self.dt_s <= 0.05:
            raise ValueError(f"dt_s: expected 0 < dt <= 0.05 s, got {self.dt_s}")
        if self.horizon_s < 10 * self.dt_s:
            raise ValueError(f"horizon_s: expected >= 10 ticks, got {self.horizon_s} s")
        if self.q_zmp <= 0 or self.r_jerk <= 0:
            raise ValueError("q_zmp and r_jerk must be > 0")

    @property
    def horizon_ticks(self) -> int:
        return round(self.horizon_s / self.dt_s)

    @property
    def omega_radps(self) -> float:
        """LIPM natural frequency sqrt(g / z_c)."""
        return float(np.sqrt(GRAVITY_MPS2 / self.com_height_m))


class ZmpPreview:
    """CoM trajectory generator. ``state`` is (3, 2): rows pos/vel/acc, columns x/y."""

    def __init__(self, config: PreviewConfig | None = None):
        self.config = c = config or PreviewConfig()
        dt = c.dt_s
        self.A = np.array([[1.0, dt, dt * dt / 2], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])
        self.B = np.array([[dt**3 / 6], [dt * dt / 2], [dt]])
        self.C = np.array([[1.0, 0.0, -c.com_height_m / GRAVITY_MPS2]])
        Q = c.q_zmp * self.C.T @ self.C
        R = np.array([[c.r_jerk]])
        P = scipy.linalg.solve_discrete_are(self.A, self.B, Q, R)
        gain = np.linalg.inv(R + self.B.T @ P @ self.B)  # (1, 1)
        self.K = gain @ self.B.T @ P @ self.A  # (1, 3)
        Ac = self.A - self.B @ self.K
        # f_j = gain B^T (Ac^T)^(j-1) C^T q: the weight of the reference j ticks ahead.
        f = np.zeros(c.horizon_ticks)
        v = c.q_zmp * self.C.T  # (3, 1)
        for j in range(c.horizon_ticks):
            f[j] = (gain @ self.B.T @ v).item()
            v = Ac.T @ v
        self.f = f  # (N,)
        self.state = np.zeros((3, 2))

    def reset(self, com_xy_m: np.ndarray) -> None:
        self.state = np.zeros((3, 2))
        self.state[0] = com_xy_m

    def step(self, zmp_ref_xy_m: np.ndarray) -> None:
        """Advance one tick. ``zmp_ref_xy_m`` is (N, 2): the reference for ticks k+1..k+N."""
        u = -self.K @ self.state + self.f @ zmp_ref_xy_m  # (1, 2) jerk
        self.state = self.A @ self.state + self.B @ u

    def zmp_xy_m(self) -> np.ndarray:
        return (self.C @ self.state)[0]

    def dcm_xy_m(self) -> np.ndarray:
        """Divergent component of motion x + xd / omega (the capture point), (2,)."""
        return self.state[0] + self.state[1] / self.config.omega_radps

    def transform(self, rot2: np.ndarray, shift_xy_m: np.ndarray) -> None:
        """Move the plan rigidly: positions p -> R p + t, velocities and accelerations v -> R v."""
        self.state = self.state @ rot2.T
        self.state[0] += shift_xy_m
