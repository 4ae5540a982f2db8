"""The shadow twin: while a hardware robot is active, a MuJoCo G1 runs the same commands.

Each control tick the twin receives exactly the command the real robot receives and advances
one control period in lockstep. Before that, ``check`` compares it with the real robot's
newest state; a fault is returned (and latched until ``sync``) when

- the twin falls (pelvis below ``FALL_HEIGHT_M`` or tilt over ``FALL_TILT_RAD``): the same
  commands would have dropped the simulated robot, so they must not continue on the real one;
- the two diverge: pelvis tilts differ by more than ``max_tilt_gap_rad``, or the joint
  positions differ by more than ``max_joint_rms_rad`` (RMS over the 29 joints), for longer
  than ``grace_s`` (contact differs a little between sim and floor; a sustained gap means
  the real robot is not doing what was validated).

The twin starts from the real robot's measured joint angles and heading (``sync``), with its
soles on the floor; the ControlLoop calls ``sync`` at the first active tick.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import FALL_HEIGHT_M, FALL_TILT_RAD, RobotCommand, RobotState
from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig


@dataclass(frozen=True)
class ShadowConfig:
    max_tilt_gap_rad: float = 0.35
    max_joint_rms_rad: float = 0.25
    grace_s: float = 0.3
    control_dt_s: float = g1.CONTROL_DT_S

    def __post_init__(self):
        if min(self.max_tilt_gap_rad, self.max_joint_rms_rad) <= 0 or self.grace_s < 0:
            raise ValueError("thresholds must be > 0 and grace_s >= 0")


class ShadowTwin:
    """A ControlLoop monitor: ``sync(state)``, then per tick ``check(state, command)``."""

    name = "shadow twin"

    def __init__(self, config: ShadowConfig | None = None):
        self.config = config or ShadowConfig()
        self.robot = MujocoRobot(MujocoRobotConfig(control_dt_s=self.config.control_dt_s))
        home = self.robot.model.key("home").qpos
        self._home_q = np.array(home[self.robot.index.joint_qpos])
        self._synced = False
        self._diverged_ticks = 0
        self.fault = ""
        self.tilt_gap_rad = 0.0
        self.joint_rms_rad = 0.0

    def sync(self, state: RobotState) -> None:
        """Restart the twin at the real robot's joint angles and heading; clears the fault."""
        w, x, y, z = state.imu.quat_wxyz
        yaw = float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
        self.robot.reset("home", joint_offsets_rad=np.asarray(state.q_rad) - self._home_q,
                         base_yaw_rad=yaw)  # fmt: skip
        self.robot.connect()
        self._synced = True
        self._diverged_ticks = 0
        self.fault = ""

    def check(self, state: RobotState | None, command: RobotCommand) -> str:
        """Compare, then advance the twin under ``command``; returns a fault or ""."""
        if not self._synced:
            raise RuntimeError("ShadowTwin.check before sync")
        if self.fault:
            return self.fault
        twin = self.robot.read_state()
        if twin.base.pos_w_m[2] < FALL_HEIGHT_M or twin.base.tilt_rad > FALL_TILT_RAD:
            self.fault = (f"shadow twin fell (pelvis {twin.base.pos_w_m[2]:.2f} m, tilt "
                          f"{twin.base.tilt_rad:.2f} rad) under the same commands")  # fmt: skip
            return self.fault
        if state is not None:
            self.tilt_gap_rad = abs(state.imu.tilt_rad - twin.imu.tilt_rad)
            self.joint_rms_rad = float(np.sqrt(np.mean((state.q_rad - twin.q_rad) ** 2)))
            c = self.config
            if self.tilt_gap_rad > c.max_tilt_gap_rad or self.joint_rms_rad > c.max_joint_rms_rad:
                self._diverged_ticks += 1
            else:
                self._diverged_ticks = 0
            if self._diverged_ticks * c.control_dt_s > c.grace_s:
                self.fault = (f"robot diverged from its shadow twin: tilt gap "
                              f"{self.tilt_gap_rad:.2f} rad, joint RMS gap "
                              f"{self.joint_rms_rad:.2f} rad for > {c.grace_s} s")  # fmt: skip
                return self.fault
        self.robot.send(command)
        return ""

    def close(self) -> None:
        self.robot.disconnect()
