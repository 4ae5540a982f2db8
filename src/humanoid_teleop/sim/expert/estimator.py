"""What the expert measures each tick, and where it reads it from.

``TrueBaseEstimator`` reads the twin's ground-truth floating base (``state.base``: pelvis
position, orientation, linear and angular velocity) plus the joint encoders, and runs the
model's kinematics to get the CoM, its velocity and the sole poses. Pelvis roll/pitch come
from the IMU quaternion, as on hardware. Only the twin has ``state.base``.

``ImuEncoderEstimator`` reads only what a real G1 reports: the joint encoders and the pelvis
IMU (orientation, gyro, accelerometer). Kinematics with the pelvis at the origin, turned as
the IMU says, put the soles and the CoM relative to the pelvis. The IMU's velocity is a
complementary filter: the accelerometer (its mean over the tick, gravity removed) integrated,
pulled by ``alpha`` per tick towards leg odometry (the stance sole's pivot does not move, so
the IMU moves at its velocity relative to that pivot; the pivot is the sole's centre when it
is flat, the toe or heel edge when it rolls; the stance sole is the lower one, blended over
a centimetre so the hand-over at touchdown is smooth). Odometry alone errs by 0.2 m/s per
tick (the soles vibrate and slip); the accelerometer alone drifts. A real accelerometer is
biased, and gravity removed along a slightly wrong attitude leaves g x (tilt error) (0.17
m/s^2 per degree): the filter also estimates that error, in the IMU frame, from the same
innovation (odometry minus prediction), while the expert stands: on planted feet the
odometry does not slip, so the pull towards it is five times stronger there
(``standing_alpha``) and the error is learnt in the first second of standing; while stepping
the estimate is held (the odometry's slip would pass for a bias). The horizontal position
is the pelvis velocity integrated (it drifts, which the expert does not mind: it re-anchors
its footstep plan on the measured soles at every lift-off); the height puts the stance sole
on the ground.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from humanoid_teleop.contracts import RobotState
from humanoid_teleop.control.stand import pelvis_roll_pitch
from humanoid_teleop.sim.expert.preview import GRAVITY_MPS2
from humanoid_teleop.sim.expert.wholebody import WholeBody, pose_yaw
from humanoid_teleop.sim.model import IMU_SITE


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
    pelvis_z_m: float  # pelvis height, world


class MissingBaseStateError(ValueError):
    """The true-base estimator was given a state without ``base`` (hardware or a bridge)."""


class TrueBaseEstimator:
    def __init__(self, body: WholeBody):
        self._body = body
        self._data = mujoco.MjData(body.model)
        self._jac = np.zeros((3, body.model.nv))

    def reset(self) -> None:
        """Nothing to forget: every measurement is the twin's truth at that tick."""

    def measure(self, state: RobotState, standing: bool = False) -> Measurement:
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
            pelvis_z_m=float(state.base.pos_w_m[2]),
        )


# Sole corners relative to the sole site (heel / toe, either side), from the foot's collision
# capsules, and the height scale (m) over which the lowest of them takes over as the pivot.
SOLE_CORNERS_M = np.array([[-0.094, -0.026, 0.0], [-0.094, 0.026, 0.0],
                           [0.092, -0.026, 0.0], [0.092, 0.026, 0.0]])  # fmt: skip
PIVOT_SOFTNESS_M = 0.002
_GRAVITY_W = np.array([0.0, 0.0, GRAVITY_MPS2])
# The odometry's pull per tick while the expert stands (feet planted: the odometry does not
# slip); ``alpha`` (ExpertConfig.imu_odometry_alpha) while it steps.
STANDING_ALPHA = 0.1


class ImuEncoderEstimator:
    """The expert's measurement from the joint encoders and the pelvis IMU alone (see the
    module docstring). Call ``reset`` at the start of each episode."""

    def __init__(self, body: WholeBody, control_dt_s: float, alpha: float, blend_m: float = 0.01,
                 standing_alpha: float = STANDING_ALPHA):  # fmt: skip
        if not (0.0 < alpha <= 1.0 and 0.0 < standing_alpha <= 1.0):
            raise ValueError("expected 0 < alpha <= 1 and 0 < standing_alpha <= 1")
        if control_dt_s <= 0.0 or blend_m <= 0.0:
            raise ValueError("expected control_dt_s > 0 and blend_m > 0")
        self._body = body
        self._data = mujoco.MjData(body.model)
        self._jac_com = np.zeros((3, body.model.nv))
        self._jac_site = np.zeros((3, body.model.nv))
        self._imu_site = mujoco.mj_name2id(body.model, mujoco.mjtObj.mjOBJ_SITE, IMU_SITE)
        self.dt_s, self.alpha, self.blend_m = control_dt_s, alpha, blend_m
        self.standing_alpha = standing_alpha
        self.reset()

    def reset(self) -> None:
        self._pelvis: np.ndarray | None = None  # (3,) estimated pelvis position, world
        # The filter runs on the IMU's own velocity (world), whose change over a tick is
        # what the accelerometer measures: the pelvis origin, 9.5 cm away, also feels the
        # pelvis's angular acceleration.
        self._imu_vel = np.zeros(3)
        self.accel_bias_b = np.zeros(3)  # (3,) accelerometer minus specific force, IMU frame

    def _velocity_rel(self, point: np.ndarray, site: int) -> np.ndarray:
        """(3,) velocity of ``point`` (fixed to the site's body) relative to the pelvis
        origin, in world axes."""
        m, d = self._body.model, self._data
        mujoco.mj_jac(m, d, self._jac_site, None, point, m.site_bodyid[site])
        return self._jac_site @ d.qvel

    def _pivot(self, site: int) -> np.ndarray:
        """(3,) the point of a sole that stays put while it bears weight: its centre when
        flat, its toe or heel edge when it rolls (soft minimum over the corners' heights)."""
        d = self._data
        corners = d.site_xpos[site] + SOLE_CORNERS_M @ d.site_xmat[site].reshape(3, 3).T
        heights = corners[:, 2]
        w = np.exp(-(heights - heights.min()) / PIVOT_SOFTNESS_M)
        return (w / w.sum()) @ corners

    def measure(self, state: RobotState, standing: bool = False) -> Measurement:
        """``standing``: the robot stands on planted feet, so the odometry is trusted more."""
        m, d, idx = self._body.model, self._data, self._body.index
        alpha = self.standing_alpha if standing else self.alpha
        # The bias is learnt only on planted feet, with the pull that makes the velocity-and-
        # bias filter critically damped (time constant 2 dt / alpha = 0.4 s), and held while
        # stepping: there the odometry's slip would be taken for a bias.
        bias_gain = alpha * alpha / 4 if standing else 0.0
        R = _quat_mat(state.imu.quat_wxyz)
        # The pelvis at the origin, turned as the IMU says, not translating: positions and
        # velocities below are relative to the pelvis, in world axes.
        d.qpos[0:3] = 0.0
        d.qpos[3:7] = state.imu.quat_wxyz
        d.qpos[idx.joint_qpos] = state.q_rad
        d.qvel[0:3] = 0.0
        d.qvel[3:6] = state.imu.gyro_b_radps
        d.qvel[idx.joint_dof] = state.dq_radps
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        soles_rel = np.array([d.site_xpos[s] for s in self._body.sites])
        pivots = [self._pivot(site) for site in self._body.sites]
        pivots_vel = [self._velocity_rel(p, s) for p, s in zip(pivots, self._body.sites, strict=True)]
        imu_vel_rel = self._velocity_rel(d.site_xpos[self._imu_site], self._imu_site)
        # Weight of the left sole as the stance: 1 when it is well below the right one.
        gap = (pivots[0][2] - pivots[1][2]) / self.blend_m
        w_left = 1.0 / (1.0 + np.exp(np.clip(gap, -50.0, 50.0)))
        # The stance pivot stays put: the IMU moves at its velocity relative to the pivot.
        odometry = imu_vel_rel - (w_left * pivots_vel[0] + (1.0 - w_left) * pivots_vel[1])
        stance_z = w_left * soles_rel[0, 2] + (1.0 - w_left) * soles_rel[1, 2]
        if self._pelvis is None:
            # An episode starts at rest; the odometry of this first tick may come from soles
            # that are not yet loaded.
            self._pelvis = np.array([0.0, 0.0, -stance_z])
            self._imu_vel = np.zeros(3)
        else:
            # The accelerometer's mean specific force over the tick (control/accel.py), gravity
            # removed, is the IMU's velocity change over it divided by the tick.
            accel_w = R @ (state.imu.accel_b_mps2 - self.accel_bias_b) - _GRAVITY_W
            predicted = self._imu_vel + accel_w * self.dt_s
            innovation = odometry - predicted
            self._imu_vel = predicted + alpha * innovation
            # Velocity running ahead of the odometry means the accelerometer reads high.
            self.accel_bias_b -= (bias_gain / self.dt_s) * (R.T @ innovation)
        pelvis_vel = self._imu_vel - imu_vel_rel
        self._pelvis[:2] += pelvis_vel[:2] * self.dt_s
        self._pelvis[2] = -stance_z  # the stance sole on the ground (z = 0)
        mujoco.mj_jacSubtreeCom(m, d, self._jac_com, idx.pelvis_body)
        roll, pitch = pelvis_roll_pitch(state)
        soles = np.array([[*(self._pelvis[:2] + soles_rel[i, :2]), pose_yaw(d.site_xmat[s])]
                          for i, s in enumerate(self._body.sites)])  # fmt: skip
        return Measurement(
            com_m=self._pelvis + d.subtree_com[idx.pelvis_body],
            com_vel_mps=pelvis_vel + self._jac_com @ d.qvel,
            soles=soles,
            sole_z_m=self._pelvis[2] + soles_rel[:, 2],
            pelvis_roll_rad=roll,
            pelvis_pitch_rad=pitch,
            pelvis_yaw_rad=float(np.arctan2(R[1, 0], R[0, 0])),
            pelvis_rate_b_radps=state.imu.gyro_b_radps.copy(),
            pelvis_z_m=float(self._pelvis[2]),
        )


def _quat_mat(quat_wxyz: np.ndarray) -> np.ndarray:
    out = np.zeros(9)
    mujoco.mju_quat2Mat(out, quat_wxyz)
    return out.reshape(3, 3)
