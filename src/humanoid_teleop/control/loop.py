"""One control tick: robot state -> controller -> executor -> Safety -> robot.

Shared by ``sim``, ``validate``, data collection and the server, so every path drives a
robot the same way and nothing bypasses Safety.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from humanoid_teleop.contracts import JointTargets, Mode, RobotCommand, RobotState, VelocityCommand
from humanoid_teleop.control.controller import Controller
from humanoid_teleop.control.executor import ChunkExecutor, ExecutorConfig
from humanoid_teleop.control.robot import Robot, RobotError
from humanoid_teleop.control.safety import Safety

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickRecord:
    state: RobotState | None
    targets: JointTargets | None
    command: RobotCommand  # as applied by the robot
    mode: Mode  # Safety's mode after this tick


class Monitor(Protocol):
    """Watches what a robot is commanded while active (e.g. ``sim.shadow.ShadowTwin``)."""

    name: str

    def sync(self, state: RobotState) -> None:
        """Called at the first active tick with the robot's state."""

    def check(self, state: RobotState | None, command: RobotCommand) -> str:
        """Called every active tick before ``command`` is sent; a non-empty fault damps."""


class ControlLoop:
    """Call ``tick`` at the control rate (lockstep robots advance time inside ``send``)."""

    def __init__(
        self,
        robot: Robot,
        controller: Controller,
        safety: Safety | None = None,
        executor: ChunkExecutor | None = None,
        *,
        act_every_ticks: int = 1,
        monitor: Monitor | None = None,
    ):
        if act_every_ticks < 1:
            raise ValueError(f"act_every_ticks must be >= 1, got {act_every_ticks}")
        self.robot = robot
        self.controller = controller
        self.safety = safety or Safety()
        self.executor = executor or ChunkExecutor(
            ExecutorConfig(control_dt_s=controller.control_dt_s)
        )
        self.act_every_ticks = act_every_ticks
        self.monitor = monitor
        self.controller_error = ""
        self._active_ticks = 0
        self._monitor_synced = False

    def ramp_up(self, max_s: float) -> bool:
        """Lockstep start: arm Safety and tick a zero command until its ramp ends (at most
        ``max_s``); True if it reached ACTIVE. The ramp is not part of any episode's time."""
        self.safety.arm(self.robot.now_s())
        for _ in range(int(max_s / self.controller.control_dt_s)):
            if self.tick(VelocityCommand()).mode is not Mode.RAMP:
                break
        return self.safety.mode is Mode.ACTIVE

    def tick(self, command: VelocityCommand) -> TickRecord:
        try:
            state: RobotState | None = self.robot.read_state()
        except RobotError as exc:
            log.warning("no robot state: %s", exc)
            state = None
        now_s = self.robot.now_s()
        targets = None
        if self.safety.mode is Mode.ACTIVE and state is not None:
            targets = self._controller_targets(state, command, now_s)
        else:
            self._active_ticks = 0
        command_out = self.safety.step(now_s, state, targets)
        if self.monitor is not None:
            command_out = self._monitored(now_s, state, command_out)
        applied = self.robot.send(command_out)
        return TickRecord(state, targets, applied, self.safety.mode)

    def _monitored(self, now_s: float, state: RobotState | None, command: RobotCommand
                   ) -> RobotCommand:  # fmt: skip
        if self.safety.mode is not Mode.ACTIVE:
            self._monitor_synced = False
            return command
        if not self._monitor_synced and state is not None:
            self.monitor.sync(state)
            self._monitor_synced = True
        fault = self.monitor.check(state, command) if self._monitor_synced else ""
        if not fault:
            return command
        log.warning("%s: %s", self.monitor.name, fault)
        self.safety.fault(now_s, f"{self.monitor.name}: {fault}")
        return RobotCommand.damping(now_s, self.safety.mode, note=self.safety.last_fault)

    def _controller_targets(
        self, state: RobotState, command: VelocityCommand, now_s: float
    ) -> JointTargets | None:
        try:
            if self._active_ticks == 0:
                self.controller.reset(state)
                self.executor.reset()
            if self._active_ticks % self.act_every_ticks == 0:
                self.executor.submit(self.controller.act(state, command), now_s)
        except Exception as exc:  # a failing controller must end in damping, not a crash
            self.controller_error = f"{type(exc).__name__}: {exc}"
            log.exception("controller %s failed", self.controller.name)
            return None
        finally:
            self._active_ticks += 1
        return self.executor.targets_at(now_s)
