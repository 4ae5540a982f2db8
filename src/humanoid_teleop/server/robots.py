"""Which robot the live pipeline drives.

``sim``: the MuJoCo twin, in-process, on the wall clock (``MujocoRobot`` realtime mode).
``dds``: a G1 or the simulated G1 process over DDS (``unitree.bridge.G1Bridge``). Both
count as hardware: the same path, the same rules. A hardware robot is only armed under a
policy checkpoint that passes the hardware gate (``control.gate``), and while it is active
a shadow twin runs the same commands (``sim.shadow``) and damps it on a fall or divergence.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from humanoid_teleop.contracts import Mode, RobotCommand
from humanoid_teleop.control.robot import Robot


class RobotUnavailableError(RuntimeError):
    pass


def make_robot(kind: str, control_dt_s: float, *, dds_domain: int = 1,
               dds_interface: str | None = "lo") -> Robot:  # fmt: skip
    if kind == "sim":
        from humanoid_teleop.sim.robot import MujocoRobotConfig

        return gantry_twin_class()(MujocoRobotConfig(clock="realtime", control_dt_s=control_dt_s))
    if kind == "dds":
        try:
            from humanoid_teleop.unitree.bridge import BridgeConfig, G1Bridge
        except ImportError as exc:
            raise RobotUnavailableError(f"robot 'dds' needs the dds extra: {exc}") from exc
        return G1Bridge(BridgeConfig(domain_id=dds_domain, network_interface=dds_interface,
                                     control_dt_s=control_dt_s))  # fmt: skip
    raise RobotUnavailableError(f"unknown robot kind {kind!r}; expected 'sim' or 'dds'")


def hardware_gate(controller_spec: str) -> Callable[[], str]:
    """What ``arm`` (and the status route) asks before a hardware robot may move: "" or why
    not. The verdict is recomputed whenever a gated file or the report changes, so a
    checkpoint validated (``validate --attach``) while serving counts."""
    from humanoid_teleop.control.gate import (
        GATED_FILES,
        REPORT_FILE,
        HardwareGateError,
        check_hardware_gate,
    )
    from humanoid_teleop.controllers import policy_checkpoint_path

    checkpoint = policy_checkpoint_path(controller_spec)
    verdicts: dict[tuple, str] = {}  # by the files' (mtime, size): hashing 5 MB per status poll

    def check() -> str:
        if checkpoint is None:
            return (f"hardware runs only a validated policy checkpoint; the controller is "
                    f"{controller_spec!r}")  # fmt: skip
        stamp = tuple(_stat(checkpoint / name) for name in (*GATED_FILES, REPORT_FILE))
        if stamp not in verdicts:
            try:
                check_hardware_gate(checkpoint)
                verdicts[stamp] = ""
            except HardwareGateError as exc:
                verdicts[stamp] = str(exc)
        return verdicts[stamp]

    return check


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def is_hardware(robot: Robot) -> bool:
    """Whether the robot is real hardware (jobs may be sent only to hardware, after the twin
    validated them). The twin never is."""
    return bool(getattr(robot, "is_hardware", False))


def gantry_twin_class():
    """The twin on a gantry: a ``MujocoRobot`` whose physics is held until the first ramp or
    active command, as a G1 hangs on its gantry until it is armed.

    The service starts passive (zero torque) and may wait minutes for an operator; without
    the gantry the twin would collapse before anyone armed it. While held, simulation time
    still advances (states stay fresh for Safety), the pose does not. ``put_on_gantry``
    resets the twin to its keyframe and holds it again: re-arming after an e-stop does this
    (the damped twin slumps to the floor; a real G1 would be lifted back onto its gantry).
    """
    from humanoid_teleop.sim.robot import MujocoRobot

    class GantryTwin(MujocoRobot):
        name = "mujoco-gantry"

        def __init__(self, *args, **kwargs):
            self.held = True  # MujocoRobot.__init__ resets, which reads it
            super().__init__(*args, **kwargs)

        def send(self, command: RobotCommand) -> RobotCommand:
            if command.mode in (Mode.RAMP, Mode.ACTIVE):
                self.held = False
            return super().send(command)

        def put_on_gantry(self) -> None:
            with self._lock:
                self.reset()
                self.held = True

        def _physics_step(self) -> None:
            if self.held:
                self.data.time += self.model.opt.timestep
                return
            super()._physics_step()

    return GantryTwin
