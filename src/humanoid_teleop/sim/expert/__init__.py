"""The walking expert: ZMP-preview walking with footstep adjustment for the G1 twin."""

from humanoid_teleop.sim.expert.controller import (
    ExpertConfig,
    WalkingExpert,
    calm_config,
    imu_config,
)

__all__ = ["ExpertConfig", "WalkingExpert", "calm_config", "imu_config"]
