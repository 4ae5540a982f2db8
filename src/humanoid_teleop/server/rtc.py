"""WebRTC sessions (aiortc) and the telemetry fan-out to data channels and WebSockets.

Everything here runs on the event loop and only moves bytes: frames go into the session's
slot, messages go out to sockets. The pipeline's threads reach the loop through
``TelemetryHub.publish_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque

from humanoid_teleop.server.live import LivePipeline, VideoSession

log = logging.getLogger(__name__)

# A data channel whose send buffer holds more than this is not keeping up: telemetry to it
# is dropped (the newest message wins later); mode messages are always sent.
MAX_BUFFERED_BYTES = 256 * 1024


class WsClient:
    """One WebSocket listener: the newest telemetry plus any unsent mode messages."""

    def __init__(self):
        self.telemetry: str | None = None
        self.modes: deque[str] = deque(maxlen=16)
        self.ready = asyncio.Event()

    def offer(self, text: str, kind: str) -> None:
        if kind == "mode":
            self.modes.append(text)
            self.telemetry = None  # it predates the mode change: never show it after
        else:
            self.telemetry = text  # newest wins
        self.ready.set()

    def take(self) -> list[str]:
        out = list(self.modes)
        self.modes.clear()
        if self.telemetry is not None:
            out.append(self.telemetry)
            self.telemetry = None
        self.ready.clear()
        return out


class TelemetryHub:
    """Fan-out of JSON text messages to every open data channel and WebSocket client."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.channels: set = set()
        self.websockets: set[WsClient] = set()
        self._mode_t_s = float("-inf")

    def publish_threadsafe(self, text: str, kind: str, t_s: float) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.publish, text, kind, t_s)

    def publish(self, text: str, kind: str, t_s: float) -> None:
        """``t_s``: when the message's content was true (pipeline clock). A telemetry message
        built before the latest mode change would show the old mode after the new one (the
        telemetry thread and an e-stop request race to the loop): it is dropped."""
        if kind == "mode":
            self._mode_t_s = max(self._mode_t_s, t_s)
        elif t_s < self._mode_t_s:
            return
        for channel in list(self.channels):
            if channel.readyState != "open":
                if channel.readyState == "closed":
                    self.channels.discard(channel)
                continue
            if kind == "telemetry" and channel.bufferedAmount > MAX_BUFFERED_BYTES:
                continue
            try:
                channel.send(text)
            except Exception:  # noqa: BLE001 - a channel closing under us
                self.channels.discard(channel)
        for client in list(self.websockets):
            client.offer(text, kind)


class RtcSessions:
    """The peer connections of connected browsers; one ``VideoSession`` each."""

    def __init__(self, pipeline: LivePipeline, hub: TelemetryHub):
        self.pipeline = pipeline
        self.hub = hub
        self.peers: dict[str, object] = {}
        self._tasks: set[asyncio.Task] = set()

    async def offer(self, sdp: str, sdp_type: str, view: str) -> dict:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        session_id = secrets.token_hex(8)
        pc = RTCPeerConnection()
        self.peers[session_id] = pc
        session = self.pipeline.add_session(session_id, view)

        @pc.on("datachannel")
        def on_datachannel(channel):
            if channel.label != "telemetry":
                return
            self.hub.channels.add(channel)
            channel.send(json.dumps(self.pipeline.hello(session_id)))
            channel.send(json.dumps(self.pipeline.mode_message("current")))

            @channel.on("message")
            def on_message(message):
                reply = handle_client_message(message, session)
                if reply is not None and channel.readyState == "open":
                    channel.send(reply)

        @pc.on("track")
        def on_track(track):
            if track.kind == "video":
                task = asyncio.ensure_future(_receive(track, session))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        @pc.on("connectionstatechange")
        async def on_state():
            if pc.connectionState in ("failed", "closed"):
                await self.close(session_id)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=sdp_type))
            # aiortc gathers its ICE candidates inside setLocalDescription: one round trip.
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception:
            await self.close(session_id)
            raise
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type,
                "session_id": session_id}  # fmt: skip

    async def close(self, session_id: str) -> None:
        pc = self.peers.pop(session_id, None)
        # Joining the estimator thread may take a frame's time: not on the event loop.
        await asyncio.to_thread(self.pipeline.remove_session, session_id)
        if pc is not None:
            await pc.close()

    async def close_all(self) -> None:
        for session_id in list(self.peers):
            await self.close(session_id)
        for task in list(self._tasks):
            task.cancel()


async def _receive(track, session: VideoSession) -> None:
    """The receive coroutine: hand each decoded frame to the session, nothing else."""
    from aiortc.mediastreams import MediaStreamError

    while True:
        try:
            frame = await track.recv()
        except (MediaStreamError, asyncio.CancelledError):
            return
        session.on_frame(frame)


def handle_client_message(message: str | bytes, session: VideoSession | None) -> str | None:
    """Browser -> server messages: ``clock`` (feeds the capture clock) and ``ping``."""
    try:
        msg = json.loads(message)
        kind = msg.get("type")
    except (ValueError, AttributeError):
        return None
    if kind == "clock" and session is not None:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            session.capture_clock.on_clock(float(msg["client_ms"]))
        return None
    if kind == "ping":
        return json.dumps({"type": "pong", "client_ms": msg.get("client_ms"),
                           "server_s": time.time()})  # fmt: skip
    return None
