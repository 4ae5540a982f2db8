"""The Controller protocol: anything that turns (robot state, velocity command) into joint
targets. The stand controller, the walking expert and the diffusion policy all implement it,
so validation, ``sim``, data collection and the server drive them the same way."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from humanoid_teleop.contracts import ActionChunk, RobotState, VelocityCommand


@runtime_checkable
class Controller(Protocol):
    name: str
    control_dt_s: float

    def reset(self, state: RobotState) -> None:
        """Start a new episode from this state (called when Safety enters ACTIVE)."""

    def act(self, state: RobotState, command: VelocityCommand) -> ActionChunk:
        """Targets for the ticks starting at ``state.timestamp_s``.

        A feedback controller returns a one-tick chunk every tick; a chunking policy returns
        H ticks and may be called less often (the ChunkExecutor blends and times them).
        """
