"""The Robot protocol: what every robot backend (MuJoCo twin, DDS bridge to a G1 or to the
simulated G1 process) offers the control loop."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from humanoid_teleop.contracts import RobotCommand, RobotState


class RobotError(RuntimeError):
    """A robot backend cannot do what was asked (not connected, lost, refused)."""


class NotConnectedError(RobotError):
    pass


@runtime_checkable
class Robot(Protocol):
    name: str

    def connect(self) -> None:
        """Open the connection; afterwards ``read_state`` returns fresh states."""

    def read_state(self) -> RobotState:
        """The newest state. Raises NotConnectedError before connect / after disconnect."""

    def send(self, command: RobotCommand) -> RobotCommand:
        """Hand a command to the motors; returns the command as actually applied."""

    def now_s(self) -> float:
        """The clock the robot stamps its states with (sim seconds or monotonic seconds)."""

    def disconnect(self) -> None:
        """Leave the motors damped and release the connection. Idempotent."""
