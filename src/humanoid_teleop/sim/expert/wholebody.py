"""Whole-body kinematics and inverse dynamics on a private copy of the twin's model.

- ``solve_ik``: leg joints for a pelvis pose and two sole poses (damped Newton on both legs
  at once, warm-started, ~10 us per kinematics call), with the pelvis shifted horizontally
  until the whole-body CoM sits over the planned CoM.
- ``feedforward``: joint torques for a planned motion: ``mj_inverse`` gives the generalized
  force the motion needs; the part on the floating base must come from the feet, so the two
  sole wrenches are chosen in closed form (weighted least squares: moments cost
  ``moment_weight`` times forces, loads shared along the planned ZMP) and their effect is
  removed from the joint torques. A centre-of-pressure shift can be added per foot: it is
  how the balance feedback pushes on the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.sim.model import FOOT_SITES, ModelIndex, build_model


def yaw_quat(yaw_rad: float) -> np.ndarray:
    return np.array([np.cos(yaw_rad / 2), 0.0, 0.0, np.sin(yaw_rad / 2)])


def pose_yaw(xmat: np.ndarray) -> float:
    """Yaw of a rotation matrix given as (9,) row-major: heading of its x axis."""
    return float(np.arctan2(xmat[3], xmat[0]))


@dataclass(frozen=True)
class WholeBodyConfig:
    ik_com_iterations: int = 2  # pelvis shifts to put the CoM on target
    ik_newton_iterations: int = 2  # per CoM iteration, warm-started
    ik_damping: float = 1e-4
    moment_weight: float = 50.0  # cost of a sole moment relative to a force

    def __post_init__(self):
        if self.ik_com_iterations < 1 or self.ik_newton_iterations < 1:
            raise ValueError("IK iteration counts must be >= 1")
        if self.ik_damping <= 0 or self.moment_weight <= 0:
            raise ValueError("ik_damping and moment_weight must be > 0")


class WholeBody:
    def __init__(self, config: WholeBodyConfig | None = None):
        self.config = config or WholeBodyConfig()
        self.model = m = build_model()
        # Inverse dynamics of a plan: the floor is modelled by the wrench split, not contacts.
        m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONSTRAINT
        self.index = ModelIndex.of(m)
        self.ik_data = mujoco.MjData(m)
        self.id_data = mujoco.MjData(m)
        self.sites = [m.site(n).id for n in FOOT_SITES]
        self._qpos = self.index.joint_qpos
        self._dof = self.index.joint_dof
        leg_dofs = self._dof[g1.LEG_JOINTS]
        self._leg_dofs = (leg_dofs[:6], leg_dofs[6:])
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))
        self._mass = m.body_mass.copy()
        self._total_mass = float(self._mass.sum())

    # -- kinematics ------------------------------------------------------------------------
    def com_m(self, data: mujoco.MjData) -> np.ndarray:
        """Whole-body CoM (3,) after mj_kinematics."""
        return self._mass @ data.xipos / self._total_mass

    def sole_poses(self, data: mujoco.MjData) -> np.ndarray:
        """(2, 3) x, y, yaw of both soles after kinematics."""
        return np.array(
            [[*data.site_xpos[s][:2], pose_yaw(data.site_xmat[s])] for s in self.sites]
        )

    def solve_ik(
        self,
        com_xy_m: np.ndarray,  # (2,) planned CoM
        pelvis_z_m: float,
        pelvis_yaw_rad: float,
        feet_m: np.ndarray,  # (2, 4) sole x, y, z, yaw; soles are kept flat
        q_rad: np.ndarray,  # (29,) warm start for the legs, fixed values for waist and arms
        pelvis_offset_xy_m: np.ndarray,  # (2,) CoM minus pelvis from the last solve
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns (q_rad (29,), pelvis position (3,), CoM minus pelvis (2,))."""
        m, d, c = self.model, self.ik_data, self.config
        q = q_rad.copy()
        d.qpos[3:7] = yaw_quat(pelvis_yaw_rad)
        d.qpos[self._qpos] = q
        offset = pelvis_offset_xy_m.copy()
        targets_rot = [_rotz(f[3]) for f in feet_m]
        for _ in range(c.ik_com_iterations):
            d.qpos[0:2] = com_xy_m - offset
            d.qpos[2] = pelvis_z_m
            for _ in range(c.ik_newton_iterations):
                mujoco.mj_kinematics(m, d)
                mujoco.mj_comPos(m, d)  # the site Jacobians need cdof
                for leg, site in enumerate(self.sites):
                    err = np.empty(6)
                    err[:3] = feet_m[leg, :3] - d.site_xpos[site]
                    R = d.site_xmat[site].reshape(3, 3)
                    err[3:] = 0.5 * np.cross(R, targets_rot[leg], axis=0).sum(axis=1)
                    mujoco.mj_jacSite(m, d, self._jacp, self._jacr, site)
                    dofs = self._leg_dofs[leg]
                    J = np.vstack([self._jacp[:, dofs], self._jacr[:, dofs]])  # (6, 6)
                    step = np.linalg.solve(J.T @ J + c.ik_damping * np.eye(6), J.T @ err)
                    sl = g1.LEFT_LEG if leg == 0 else g1.RIGHT_LEG
                    q[sl] += step
                lo, hi = g1.POSITION_LIMITS_RAD[g1.LEG_JOINTS].T
                q[g1.LEG_JOINTS] = np.clip(q[g1.LEG_JOINTS], lo, hi)
                d.qpos[self._qpos] = q
            mujoco.mj_kinematics(m, d)
            offset = self.com_m(d)[:2] - d.qpos[0:2]
        return q, d.qpos[0:3].copy(), offset

    # -- dynamics --------------------------------------------------------------------------
    def feedforward(
        self,
        pelvis_pos_m: np.ndarray,  # (3,)
        pelvis_yaw_rad: float,
        q_rad: np.ndarray,  # (29,)
        pelvis_lin_vel_mps: np.ndarray,  # (3,) world
        yaw_rate_radps: float,
        dq_radps: np.ndarray,  # (29,)
        pelvis_lin_acc_mps2: np.ndarray,  # (3,) world
        ddq_radps2: np.ndarray,  # (29,)
        load_left: float,  # share of the weight on the left sole, 0..1
        cop_shift_xy_m: np.ndarray,  # (2,) shift of the centre of pressure, world x/y
    ) -> np.ndarray:
        """Joint torques (29,) that make the plan's motion with the soles as the only support."""
        m, d, c = self.model, self.id_data, self.config
        d.qpos[0:3] = pelvis_pos_m
        d.qpos[3:7] = yaw_quat(pelvis_yaw_rad)
        d.qpos[self._qpos] = q_rad
        d.qvel[:] = 0.0
        d.qvel[0:3] = pelvis_lin_vel_mps
        d.qvel[5] = yaw_rate_radps  # body-frame z equals world z for a level pelvis
        d.qvel[self._dof] = dq_radps
        d.qacc[:] = 0.0
        d.qacc[0:3] = pelvis_lin_acc_mps2
        d.qacc[self._dof] = ddq_radps2
        mujoco.mj_inverse(m, d)
        tau = d.qfrc_inverse.copy()  # (nv,)

        shares = np.array([load_left, 1.0 - load_left])
        loaded = [i for i in (0, 1) if shares[i] > 1e-3]
        jac = []  # per loaded sole: (6, nv) world force then world moment rows
        for i in loaded:
            mujoco.mj_jacSite(m, d, self._jacp, self._jacr, self.sites[i])
            jac.append(np.vstack([self._jacp, self._jacr]))
        J = np.vstack(jac)  # (6k, nv)
        A = J[:, :6].T  # (6, 6k): what sole wrenches do to the floating base
        b = tau[:6]
        w0 = np.concatenate([np.r_[shares[i] * b[:3], 0.0, 0.0, 0.0] for i in loaded])
        winv = np.tile(np.r_[1.0, 1.0, 1.0, np.full(3, 1.0 / c.moment_weight)], len(loaded))
        AW = A * winv
        w = w0 + winv * (A.T @ np.linalg.solve(AW @ A.T, b - A @ w0))
        # Shifting every loaded sole's centre of pressure by r shifts the total one by r; under
        # the sole's vertical load f_z that is an extra moment r x f about the sole.
        r = cop_shift_xy_m
        for k in range(len(loaded)):
            fz = w[6 * k + 2]
            w[6 * k + 3 : 6 * k + 6] += np.array([r[1] * fz, -r[0] * fz, 0.0])
        tau -= J.T @ w
        return tau[self._dof]


def _rotz(yaw_rad: float) -> np.ndarray:
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
