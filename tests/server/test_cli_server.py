"""`humanoid-teleop serve` (a real process) and `humanoid-teleop imitate`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from humanoid_teleop.cli import main
from humanoid_teleop.server.synthetic import free_port


def test_serve_prints_the_url_and_the_token_once(tmp_path):
    port = free_port()
    env = dict(os.environ, HT_CONTROLLER="stand")
    cmd = [sys.executable, "-m", "humanoid_teleop.cli", "serve", "--port", str(port),
           "--data-dir", str(tmp_path / "data")]  # fmt: skip

    def run_once() -> tuple[str, dict]:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                text=True)  # fmt: skip
        lines = []
        try:
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("Open "):
                    break
            health = None
            deadline = time.monotonic() + 30
            while health is None and time.monotonic() < deadline:
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health").json()
                except httpx.TransportError:
                    time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
        return "".join(lines), health

    first, health = run_once()
    assert f"Open http://127.0.0.1:{port}/" in first
    assert "Operator token" in first
    assert health["status"] == "ok" and health["controller"] == "stand"
    second, _ = run_once()
    assert "Operator token" not in second  # printed once, on the first start only


def test_imitate_rejects_bad_files_with_one_line(tmp_path, capsys):
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    assert main(["imitate", str(fake), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("humanoid-teleop: error:") and "not a readable video" in err[-1]
    assert main(["imitate", str(tmp_path / "missing.mp4"), "--out", str(tmp_path)]) == 2


@pytest.mark.sim
def test_imitate_writes_the_artifacts(tmp_path, clip, capsys):
    out = tmp_path / "out"
    rc = main(["imitate", str(clip), "--view", "third-person", "--out", str(out),
               "--controller", "stand", "--preview-size", "160", "120"])  # fmt: skip
    assert rc in (0, 1)
    for name in ("intents.json", "trajectory.npz", "trajectory.csv", "preview.mp4", "report.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["view"] == "third_person" and report["controller"] == "stand"
    assert rc == (0 if report["passed"] else 1)
    assert not list(out.glob(".work-*"))
