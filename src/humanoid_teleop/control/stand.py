"""Stand controller: hold the default pose and balance with the ankles and hips.

Reads only what the real robot has: joint encoders and the pelvis IMU (orientation, gyro).
A fixed pose falls forward under Unitree's soft deployment gains, so this uses the stiff
stand gains (``g1.STAND_KP``/``STAND_KD``, within the hardware envelope) and adds attitude
feedback: the measured pelvis pitch/roll (and their rates) shift the ankle and hip targets
so the body rotates back over the feet. Velocity commands are ignored: it only stands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import ActionChunk, RobotState, VelocityCommand

_J = g1.JOINT_INDEX


@dataclass(frozen=True)
class StandConfig:
    pose_rad: tuple[float, ...] = tuple(g1.DEFAULT_POSE_RAD)
    ankle_pitch_gain: float = 0.6  # rad of ankle target per rad of pelvis pitch
    ankle_roll_gain: float = 0.4
    hip_gain: float = 0.3
    rate_gain_s: float = 0.05  # rad per rad/s of pelvis angular rate
    control_dt_s: float = g1.CONTROL_DT_S

    def __post_init__(self):
        if len(self.pose_rad) != g1.NUM_JOINTS:
            raise ValueError(f"pose_rad: expected {g1.NUM_JOINTS} values, got {len(self.pose_rad)}")


def pelvis_roll_pitch(state: RobotState) -> tuple[float, float]:
    """Roll and pitch (rad) of the pelvis from the IMU's projected gravity."""
    gx, gy, gz = state.imu.projected_gravity_b
    pitch = float(np.arctan2(gx, -gz))  # nose down is positive (rotation about +y)
    roll = float(np.arctan2(-gy, -gz))  # left side up is positive (rotation about +x)
    return roll, pitch


class StandController:
    name = "stand"

    def __init__(self, config: StandConfig | None = None):
        self.config = config or StandConfig()
        self.control_dt_s = self.config.control_dt_s
        self._pose = np.array(self.config.pose_rad)

    def reset(self, state: RobotState) -> None:
        pass  # stateless

    def act(self, state: RobotState, command: VelocityCommand) -> ActionChunk:
        c = self.config
        roll, pitch = pelvis_roll_pitch(state)
        roll_rate, pitch_rate = state.imu.gyro_b_radps[0], state.imu.gyro_b_radps[1]
        pitch_fb = pitch + c.rate_gain_s * pitch_rate
        roll_fb = roll + c.rate_gain_s * roll_rate
        q = self._pose.copy()
        for side in ("left", "right"):
            # Leaning forward: press the toes down (ankle torque pushes the body back) and
            # rotate the pelvis back over the legs at the hips; the same for roll.
            q[_J[f"{side}_ankle_pitch_joint"]] += c.ankle_pitch_gain * pitch_fb
            q[_J[f"{side}_hip_pitch_joint"]] += c.hip_gain * pitch_fb
            q[_J[f"{side}_ankle_roll_joint"]] += c.ankle_roll_gain * roll_fb
            q[_J[f"{side}_hip_roll_joint"]] += c.hip_gain * roll_fb
        return ActionChunk(
            t0_s=state.timestamp_s,
            dt_s=self.control_dt_s,
            joint_names=g1.JOINT_NAMES,
            q_rad=q[None, :],
            kp=g1.STAND_KP,
            kd=g1.STAND_KD,
        )
