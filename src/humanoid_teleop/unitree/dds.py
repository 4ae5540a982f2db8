"""Small CycloneDDS helpers shared by the bridge and the sim robot (lazy imports only)."""

from __future__ import annotations

import re

from humanoid_teleop.unitree.messages import require_cyclonedds

_IFACE = re.compile(r"^[A-Za-z0-9_.:\-]+$")


def loopback_uri(interface: str = "lo") -> str:
    """The CycloneDDS XML restricting a domain to one network interface."""
    if not _IFACE.match(interface):
        raise ValueError(f"network interface name {interface!r} is not valid")
    return (
        "<CycloneDDS><Domain><General><Interfaces>"
        f'<NetworkInterface name="{interface}"/>'
        "</Interfaces></General></Domain></CycloneDDS>"
    )


class DomainConfigError(RuntimeError):
    """A domain is already open in this process with a different network interface."""


# Cyclone configures a domain once per process: a second ``Domain(id, config)`` fails with
# PRECONDITION_NOT_MET. So configured domains are process-wide, created on first use and
# shared by every participant (bridge, sim robot, test spies) in the process.
_DOMAINS: dict[int, tuple[object, str]] = {}


def open_participant(domain_id: int, interface: str | None):
    """(domain, participant): ``domain`` pins the interface when one is given; keep both alive.

    Without an interface Cyclone uses its default (or ``CYCLONEDDS_URI``).
    """
    require_cyclonedds()
    from cyclonedds.domain import Domain, DomainParticipant

    domain = None
    if interface:
        if domain_id in _DOMAINS:
            domain, iface = _DOMAINS[domain_id]
            if iface != interface:
                raise DomainConfigError(
                    f"DDS domain {domain_id} is already open on {iface!r} in this process; "
                    f"cannot also restrict it to {interface!r}"
                )
        else:
            domain = Domain(domain_id, loopback_uri(interface))
            _DOMAINS[domain_id] = (domain, interface)
    return domain, DomainParticipant(domain_id)


def keep_last_qos(depth: int = 1):
    """Reader QoS: only the newest samples matter (the stream is 500 Hz, nothing queues)."""
    from cyclonedds.core import Policy
    from cyclonedds.qos import Qos

    return Qos(Policy.History.KeepLast(depth))
