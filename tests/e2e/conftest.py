"""End-to-end fixtures: a real `humanoid-teleop serve` subprocess and Debian Chromium driven by
Playwright (never Playwright's own browser download).

The server runs on 127.0.0.1 on a free port with a temporary data folder; its operator token
is read from its console output (it is printed once, on the first start). `ServerProcess`
can restart the server on the same port and data folder to check what survives a restart.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
START_TIMEOUT_S = 120.0  # first start builds the model, the policy and the token hash

# PLATFORM.md: flags that work headless as root; the fake camera and auto-accepted permission
# prompt replace a real webcam; loopback candidates keep WebRTC working in a loopback-only
# network namespace (harmless elsewhere).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]

# token_urlsafe(24) gives 32 characters: a long URL-safe word on its own.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-]{20,}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_argv() -> list[str]:
    script = Path(sys.executable).with_name("humanoid-teleop")
    if script.is_file():
        return [str(script), "serve"]
    return [sys.executable, "-m", "humanoid_teleop.cli", "serve"]


class ServerProcess:
    """`humanoid-teleop serve` as a child process, with its console output kept."""

    def __init__(self, data_dir: Path, port: int, log_path: Path):
        self.data_dir = data_dir
        self.port = port
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{port}"
        self.token: str | None = None
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        argv = [*_serve_argv(), "--port", str(self.port), "--data-dir", str(self.data_dir)]
        env = dict(os.environ)
        env.setdefault("MUJOCO_GL", "egl")
        env["PYTHONUNBUFFERED"] = "1"  # the token line must reach us before the server idles
        src = str(ROOT / "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        self._wait_healthy()

    def _read(self, proc: subprocess.Popen) -> None:
        with self.log_path.open("a") as log:
            for line in proc.stdout:
                self.lines.append(line.rstrip("\n"))
                log.write(line)
                log.flush()
                if self.token is None:
                    self._look_for_token()

    def _look_for_token(self) -> None:
        """The token is printed after a line mentioning it: at the end of that line
        ("token: XYZ") or alone on one of the next lines."""
        recent = self.lines[-4:]
        for i, line in enumerate(recent):
            if "token" not in line.lower():
                continue
            tail = line.rsplit(":", 1)[-1].strip()
            candidates = [tail] + [later.strip() for later in recent[i + 1 :]]
            for word in candidates:
                if _TOKEN_RE.fullmatch(word):
                    self.token = word
                    return

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"serve exited with {self.proc.returncode}:\n" + "\n".join(self.lines[-40:])
                )
            try:
                body = self.get_json("/api/v1/health", timeout=2)
                if body.get("status") == "ok":
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"serve not healthy after {START_TIMEOUT_S} s:\n" + "\n".join(self.lines[-40:])
        )

    def get_json(self, path: str, timeout: float = 10):
        with urllib.request.urlopen(self.base_url + path, timeout=timeout) as response:
            return json.loads(response.read())

    def post_json(self, path: str, body: dict | None = None, headers: dict | None = None):
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on SIGINT
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _skip_reason() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not installed (apt-get install chromium; .ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (the dev extra)"
    return None


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def server(tmp_path_factory, artifacts_dir) -> Iterator[ServerProcess]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    data_dir = tmp_path_factory.mktemp("serve-data")
    log_path = artifacts_dir / "server.log"
    log_path.write_text("")
    proc = ServerProcess(data_dir, _free_port(), log_path)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser, server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=server.base_url)
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        ctx.close()


def collect_console(page) -> list[str]:
    """Console errors and page exceptions of a page, for assertion messages."""
    errors: list[str] = []
    page.on(
        "console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors
