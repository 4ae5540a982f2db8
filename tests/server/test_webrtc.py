"""A real aiortc peer against a real server on 127.0.0.1: video in, telemetry out."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from humanoid_teleop import g1
from humanoid_teleop.server.app import create_app
from humanoid_teleop.server.synthetic import PeerClient, ThreadedServer
from tests.server.conftest import auth

pytestmark = pytest.mark.sim


def test_video_in_telemetry_out_and_estop_reaches_the_page(settings_for):
    app = create_app(settings_for(controller="expert"))
    with ThreadedServer(app) as server, ThreadPoolExecutor(1) as pool:
        # A loop of its own: Playwright's sync API (the e2e tests) may leave one running here.
        pool.submit(asyncio.run, _session(server.url, app)).result()


async def _session(url: str, app) -> None:
    peer = PeerClient(url, fps=30, size=(320, 240))
    await peer.connect()
    try:
        assert await peer.wait_for(lambda: peer.of_type("hello"), 20), "no hello"
        hello = peer.of_type("hello")[0]
        assert hello["joint_names"] == list(g1.JOINT_NAMES) and hello["control_hz"] == 50
        assert hello["session_id"] == peer.session_id

        def estimated():
            t = peer.of_type("telemetry")
            return t and t[-1]["frames"]["estimated"] >= 10 and t[-1]["intent"] is not None

        assert await peer.wait_for(estimated, 30), f"frames never estimated: {peer.messages[-1:]}"
        last = peer.of_type("telemetry")[-1]
        assert last["frames"]["received"] >= last["frames"]["estimated"]
        assert len(last["q_rad"]) == 29 and len(last["base"]["quat_wxyz"]) == 4
        assert last["intent"]["source"] == "embedded-egocentric"

        def walking():  # the synthetic camera walks forward
            i = peer.of_type("telemetry")[-1]["intent"]
            return i["skill"] == "walk" and i["vx"] > 0.05

        assert await peer.wait_for(walking, 10), peer.of_type("telemetry")[-1]["intent"]
        assert last["latency_ms"]["estimator"] > 0
        assert last["latency_ms"]["capture_to_server_estimated"] is True  # a clock was sent
        seqs = [m["seq"] for m in peer.of_type("telemetry")]
        assert seqs == sorted(seqs)

        peer.send({"type": "ping", "client_ms": 123.0})
        assert await peer.wait_for(lambda: peer.of_type("pong"), 5)
        assert peer.of_type("pong")[0]["client_ms"] == 123.0

        # Telemetry arrives at ~30 Hz.
        t0, n0 = time.monotonic(), len(peer.of_type("telemetry"))
        await asyncio.sleep(1.0)
        rate = (len(peer.of_type("telemetry")) - n0) / (time.monotonic() - t0)
        assert 15 <= rate <= 40, rate

        def saw_mode(mode):
            return lambda: any(m["mode"] == mode for m in peer.of_type("mode"))

        # Arm, then e-stop from another client with no token: the page hears it at once.
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.post("/api/v1/robot/arm", headers=auth(app))).status_code == 200
            assert await peer.wait_for(saw_mode("ramp"), 5)
            sent = time.monotonic()
            r = await http.post("/api/v1/robot/estop")
            assert r.status_code == 200 and r.json()["mode"] == "estop"
        assert await peer.wait_for(saw_mode("estop"), 1)
        arrived = next(t for t, m in peer.messages if m["type"] == "mode" and m["mode"] == "estop")
        assert arrived - sent < 0.1, f"e-stop took {1e3 * (arrived - sent):.0f} ms to the page"
        estop = next(m for m in peer.of_type("mode") if m["mode"] == "estop")
        assert estop["reason"] and estop["t_s"] > 0
    finally:
        await peer.close()


def test_telemetry_websocket_fallback(settings_for):
    from fastapi.testclient import TestClient

    app = create_app(settings_for())
    with TestClient(app) as client, client.websocket_connect("/api/v1/telemetry") as ws:
        hello = json.loads(ws.receive_text())
        assert hello["type"] == "hello" and len(hello["joint_names"]) == 29
        mode = json.loads(ws.receive_text())
        assert mode["type"] == "mode" and mode["mode"] == "passive"
        kinds = set()
        for _ in range(5):
            kinds.add(json.loads(ws.receive_text())["type"])
        assert "telemetry" in kinds
        ws.send_text(json.dumps({"type": "ping", "client_ms": 7}))
        for _ in range(20):
            msg = json.loads(ws.receive_text())
            if msg["type"] == "pong":
                assert msg["client_ms"] == 7
                break
        else:
            raise AssertionError("no pong over the WebSocket")
        client.post("/api/v1/robot/estop")
        for _ in range(40):
            msg = json.loads(ws.receive_text())
            if msg["type"] == "mode" and msg["mode"] == "estop":
                break
        else:
            raise AssertionError("no e-stop mode message over the WebSocket")


def test_telemetry_older_than_a_mode_change_is_never_sent_after_it():
    """The telemetry thread and an e-stop race to the event loop: a message built before
    the e-stop must not reach the page after the e-stop's mode message."""
    from humanoid_teleop.server.rtc import TelemetryHub, WsClient

    sent: list[str] = []

    class Channel:  # the two attributes and one method the hub uses of RTCDataChannel
        readyState = "open"
        bufferedAmount = 0

        def send(self, text: str) -> None:
            sent.append(text)

    loop = asyncio.new_event_loop()
    try:
        hub = TelemetryHub(loop)
        hub.channels.add(Channel())
        ws = WsClient()
        hub.websockets.add(ws)
        hub.publish("telemetry@1", "telemetry", 1.0)
        hub.publish("mode@2", "mode", 2.0)
        hub.publish("telemetry@1.5", "telemetry", 1.5)  # built before the change: dropped
        hub.publish("telemetry@2.1", "telemetry", 2.1)
        assert sent == ["telemetry@1", "mode@2", "telemetry@2.1"]
        assert ws.take() == ["mode@2", "telemetry@2.1"]
    finally:
        loop.close()
