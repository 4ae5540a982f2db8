"""Controllers by name, as the command line and the server spell them.

``stand`` (model-free balance in place), ``expert`` (the walking expert in the twin, with
its disturbance response, on the twin's true base state), ``expert:imu`` (the same on the
joint encoders and the pelvis IMU alone), ``expert:calm`` (without the response;
``expert:push``, the name from when the response was opt-in, is the default expert),
``policy`` (the shipped diffusion policy) and ``policy:PATH`` (a checkpoint folder).
Heavy modules are imported only when asked for.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from humanoid_teleop.contracts import CommandRanges
from humanoid_teleop.control.controller import Controller

CONTROLLER_NAMES: tuple[str, ...] = ("stand", "expert", "policy")


class UnknownControllerError(ValueError):
    pass


def make_controller(spec: str, command_ranges: CommandRanges | None = None) -> Controller:
    """The controller ``spec`` names. ``command_ranges`` replaces the walking expert's
    envelope (the range it clamps commands to and scales its speed limit by), to measure it
    beyond its default; the other controllers' envelopes are fixed (the stand's by design, a
    policy's by its training data) and they refuse it."""
    name, _, _arg = spec.partition(":")
    if command_ranges is not None and name != "expert":
        raise UnknownControllerError(f"{spec!r} has a fixed command envelope; only the "
                                     f"expert's can be widened")  # fmt: skip
    if name == "stand":
        from humanoid_teleop.control.stand import StandController

        return StandController()
    if name == "expert":
        try:
            from humanoid_teleop.sim.expert import WalkingExpert
        except ImportError as exc:
            raise UnknownControllerError(f"the walking expert is not available: {exc}") from exc
        if _arg not in ("", "push", "calm", "imu"):
            raise UnknownControllerError(f"unknown expert variant {spec!r}; expected expert, "
                                         f"expert:calm or expert:imu")  # fmt: skip
        from humanoid_teleop.sim.expert import ExpertConfig, calm_config, imu_config

        # calm: the disturbance response off; imu: the encoders and the IMU, not the twin's
        # true base (sim/expert/controller.py)
        if _arg == "calm":
            config = calm_config()
        elif _arg == "imu":
            config = imu_config()
        else:
            config = ExpertConfig()
        if command_ranges is not None:
            config = dataclasses.replace(config, command_ranges=command_ranges)
        expert = WalkingExpert(config)
        if _arg in ("calm", "imu"):
            expert.name = spec
        return expert
    if name == "policy":
        try:
            from humanoid_teleop.policy import load_policy
            from humanoid_teleop.policy.controller import PolicyController
        except ImportError as exc:  # torch / safetensors missing
            raise UnknownControllerError(f"the diffusion policy is not available: {exc}") from exc
        return PolicyController(load_policy(_arg or None))
    raise UnknownControllerError(f"unknown controller {spec!r}; expected one of {CONTROLLER_NAMES}")


def policy_checkpoint_path(spec: str) -> Path | None:
    """The checkpoint folder a ``policy`` / ``policy:CKPT`` spec names; None for other specs."""
    name, _, arg = spec.partition(":")
    if name != "policy":
        return None
    from humanoid_teleop.policy import default_checkpoint_path

    return Path(arg) if arg else default_checkpoint_path()


def default_command_ranges(controller: Controller) -> CommandRanges:
    """The envelope a controller declares (``command_ranges``); standing only by default."""
    return getattr(controller, "command_ranges", CommandRanges())
