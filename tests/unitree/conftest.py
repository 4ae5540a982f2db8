"""Shared fixtures: a private DDS domain per test on lo, and the sim-robot subprocess."""

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cyclonedds", reason="pip install cyclonedds==11.0.1 (make setup)")

from humanoid_teleop.unitree.dds import loopback_uri

LO_URI = loopback_uri("lo")  # what CYCLONEDDS_URI restricts the subprocesses to
# A domain id unlikely to collide with other test runs on this machine (derived from the
# pid), one per test so a slow-to-die process from one test never talks to the next.
_DOMAINS = itertools.count(100 + os.getpid() % 60 * 2)
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def domain_id() -> int:
    return next(_DOMAINS) % 230


class SimRobotProcess:
    """``humanoid-teleop sim-robot`` in a subprocess; ``stop()`` returns its counters."""

    def __init__(self, domain_id: int, *extra_args: str):
        env = dict(os.environ, CYCLONEDDS_URI=LO_URI, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
        env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "humanoid_teleop.cli", "sim-robot",
             "--domain", str(domain_id), "--iface", "lo", *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.counters: dict | None = None
        self.banner = self.proc.stdout.readline()  # printed once it is up (~1 s)

    def stop(self, sig=signal.SIGINT) -> dict | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=15)
        for line in out.splitlines():
            if line.startswith("sim-robot counters "):
                self.counters = json.loads(line.removeprefix("sim-robot counters "))
        if self.counters is None and sig in (signal.SIGINT, signal.SIGTERM):
            raise AssertionError(f"sim-robot printed no counters:\n{out}\n{err}")
        return self.counters

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=5)


@pytest.fixture
def sim_robot(domain_id):
    proc = SimRobotProcess(domain_id)
    yield proc
    if proc.proc.poll() is None:
        proc.kill()


@pytest.fixture
def sim_robot_with_imu_errors(domain_id):
    """The sim-robot whose IMU reports with a real part's errors (seed 3)."""
    proc = SimRobotProcess(domain_id, "--imu-errors", "--imu-seed", "3")
    yield proc
    if proc.proc.poll() is None:
        proc.kill()
