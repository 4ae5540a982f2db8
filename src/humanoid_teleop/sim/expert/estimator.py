"""What the expert measures each tick, and where it reads it from.

``TrueBaseEstimator`` reads the twin's ground-truth floating base (``state.base``: pelvis
position, orientation, linear and angular velocity) plus the joint encoders, and runs the
model's kinematics to get the CoM, its velocity and the sole poses. Pelvis roll/pitch come
from the IMU quaternion, as on hardware. Only the twin has ``state.base``.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from humanoid_teleop.contracts import RobotState
from humanoid_teleop.sim.expert.wholebody import WholeBody


@dataclass(frozen=True)
class Measurement:
    com_m: np.ndarray  # (3,) world
    com_vel_mps: np.ndarray  # (3,) world
    soles: np.ndarray  # (2, 3) x, y, yaw of left and right sole centres, world
    sole_z_m: np.ndarray  # (2,) sole heights
    pelvis_roll_rad: float
    pelvis_pitch_rad: float
    pelvis_yaw_rad: float
    pelvis_rate_b_radps: np.ndarray  # (3,) IMU gyro, pelvis frame


class MissingBaseStateError(ValueError):
    """The true-base estimator was given a state without ``base`` (hardware or a bridge)."""


class TrueBaseEstimator:
    def __init__(self, body: WholeBody):
        self._body = body
        self._data = mujoco.MjData(body.model)
        self._jac = np.zeros((3, body.model.nv))

    def measure(self, state: RobotState) -> Measurement:
        if state.base is None:
            raise MissingBaseStateError("TrueBaseEstimator needs state.base (twin only)")
        m, d, idx = self._body.model, self._data, self._body.index
        d.qpos[0:3] = state.base.pos_w_m
        d.qpos[3:7] = state.base.quat_wxyz
        d.qpos[idx.joint_qpos] = state.q_rad
        d.qvel[0:3] = state.base.lin_vel_w_mps
        R = _quat_mat(state.base.quat_wxyz)
        d.qvel[3:6] = R.T @ state.base.ang_vel_w_radps  # free joint: body-frame rates
        d.qvel[idx.joint_dof] = state.dq_radps
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        mujoco.mj_jacSubtreeCom(m, d, self._jac, idx.pelvis_body)
        soles = self._body.sole_poses(d)
        gx, gy, gz = state.imu.projected_gravity_b
        return Measurement(
            com_m=d.subtree_com[idx.pelvis_body].copy(),
            com_vel_mps=self._jac @ d.qvel,
            soles=soles,
            sole_z_m=np.array([d.site_xpos[s][2] for s in self._body.sites]),
            pelvis_roll_rad=float(np.arctan2(-gy, -gz)),
            pelvis_pitch_rad=float(np.arctan2(gx, -gz)),
            pelvis_yaw_rad=state.base.yaw_rad,
            pelvis_rate_b_radps=state.imu.gyro_b_radps.copy(),
        )


def _quat_mat(quat_wxyz: np.ndarray) -> np.ndarray:
    out = np.zeros(9)
    mujoco.mju_quat2Mat(out, quat_wxyz)
    return out.reshape(3, 3)
