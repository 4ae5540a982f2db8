"""The 500 Hz rt/lowcmd stream over CycloneDDS on lo: delivered rate, jitter, loss, CPU.

Starts ``humanoid-teleop sim-robot`` in a subprocess, connects a G1Bridge in this process,
runs Safety's ramp + the stand controller through ControlLoop at 50 Hz for --seconds, then
prints a markdown table. Inter-arrival is measured at the sim robot (listener thread).

    python benchmarks/dds_stream.py --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from machine import machine_line  # benchmarks/ is on sys.path when run as a script


def _machine() -> str:
    return machine_line()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--domain", type=int, default=100 + os.getpid() % 100)
    args = ap.parse_args()

    from humanoid_teleop import g1
    from humanoid_teleop.contracts import VelocityCommand
    from humanoid_teleop.control.loop import ControlLoop
    from humanoid_teleop.control.safety import Safety
    from humanoid_teleop.control.stand import StandController
    from humanoid_teleop.timing import Pacer
    from humanoid_teleop.unitree.bridge import BridgeConfig, G1Bridge
    from humanoid_teleop.unitree.dds import loopback_uri

    env = dict(os.environ, CYCLONEDDS_URI=loopback_uri("lo"), MUJOCO_GL="egl")
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [sys.executable, "-m", "humanoid_teleop.cli", "sim-robot", "--domain", str(args.domain)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    proc.stdout.readline()
    bridge = G1Bridge(BridgeConfig(domain_id=args.domain, network_interface="lo",
                                   connect_timeout_s=15))  # fmt: skip
    bridge.connect()
    safety = Safety()
    loop = ControlLoop(bridge, StandController(), safety)
    pacer = Pacer(1 / g1.CONTROL_DT_S)
    safety.arm(bridge.now_s())
    cpu0, t0 = time.process_time(), time.monotonic()
    while time.monotonic() - t0 < args.seconds:
        pacer.wait()
        loop.tick(VelocityCommand())
    bridge_cpu = (time.process_time() - cpu0) / (time.monotonic() - t0)
    bridge.disconnect()  # streams damping for 0.1 s first: count it too
    health = bridge.health
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    line = next(x for x in out.splitlines() if x.startswith("sim-robot counters "))
    sim = json.loads(line.removeprefix("sim-robot counters "))

    sent = health.commands_sent
    received = sim["commands_received"]
    rows = [
        ("commands sent by bridge", f"{sent}"),
        ("commands received by sim-robot", f"{received}"),
        ("delivered rate (Hz)", f"{received / sim['wall_s']:.1f} over the sim's whole run"),
        ("loss", f"{max(0.0, 1 - received / sent):.2%}" if sent else "n/a"),
        ("inter-arrival p50 (ms)", f"{sim['interarrival_ms_p50']:.3f}"),
        ("inter-arrival p99 (ms)", f"{sim['interarrival_ms_p99']:.3f}"),
        ("inter-arrival max (ms)", f"{sim['interarrival_ms_max']:.3f}"),
        ("bad CRC at sim-robot", f"{sim['commands_bad_crc']}"),
        (
            "LowState received by bridge",
            f"{health.states_received} ({health.states_bad_crc} bad CRC)",
        ),
        ("bridge 500 Hz overruns", f"{health.overruns}"),
        ("sim-robot 500 Hz ticks stepped late (LowState skipped)", f"{sim['unpublished_ticks']}"),
        ("CPU bridge process (cores)", f"{bridge_cpu:.2f} (bridge thread + 50 Hz control loop)"),
        ("CPU sim-robot process (cores)", f"{sim['cpu_s'] / sim['wall_s']:.2f} (physics + DDS)"),
        ("safety mode at end", safety.mode.value),
        ("final pelvis z (m)", f"{sim['final_pelvis_z_m']:.3f}"),
    ]
    print(f"\n500 Hz rt/lowcmd on lo, {args.seconds:.0f} s (ramp + stand), machine: {_machine()}\n")
    print("| metric | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
