"""A stand-in for the browser, for tests and benchmarks: a synthetic camera (a textured
floor seen by a camera walking forward, which the egocentric estimator reads as walking),
the same pictures written as a video file, and a minimal WebRTC client that does what the
page does (one video track, a ``telemetry`` data channel, clock messages, one POST /offer).
"""

from __future__ import annotations

import asyncio
import fractions
import json
import math
import time
from pathlib import Path
from typing import Self

import numpy as np

# The synthetic camera walks forward this fast (the egocentric estimator, calibrated on the
# twin's renders, reads about twice this: a moderate walk well inside the envelope).
WALK_SPEED_MPS = 0.1


def floor_view(width: int, height: int, fps: float, speed_mps: float = WALK_SPEED_MPS,
               seed: int = 0):  # fmt: skip
    """A function frame index -> (height, width, 3) uint8 picture: a random-textured floor
    seen by a camera 1.5 m up, pitched 20 degrees down, 70 degree horizontal field of view
    (``EgocentricConfig``'s defaults), moving straight ahead at ``speed_mps``.

    The floor (12 m wide, 8 m deep in view, 1 cm texels) is mapped into the picture with the
    ground plane's homography; above the horizon is flat grey.
    """
    import cv2

    rng = np.random.default_rng(seed)
    px_per_m = 100.0
    texture = (rng.random((600, 400)) * 255).astype(np.uint8)
    texture = cv2.GaussianBlur(cv2.resize(texture, (1200, 1800)), (0, 0), 1.0)  # 12 m x 18 m
    focal_px = (width / 2) / math.tan(math.radians(70.0) / 2)
    pitch = math.radians(20.0)
    height_m = 1.5

    def project(ahead_m: float, left_m: float) -> tuple[float, float]:
        # Level camera frame (x right, y down, z forward), then pitched down.
        z_level, x, y_level = ahead_m, -left_m, height_m
        z = z_level * math.cos(pitch) + y_level * math.sin(pitch)
        y = -z_level * math.sin(pitch) + y_level * math.cos(pitch)
        return focal_px * x / z + width / 2, focal_px * y / z + height / 2

    corners = [(1.0, -1.5), (1.0, 1.5), (8.0, -6.0), (8.0, 6.0)]  # (ahead, left) metres
    image_pts = np.float32([project(*c) for c in corners])

    def picture(index: int) -> np.ndarray:
        travelled_m = (speed_mps * index / fps) % 6.0  # the texture is 18 m long
        texture_pts = np.float32(
            [((6.0 - left) * px_per_m, (ahead + travelled_m) * px_per_m) for ahead, left in corners]
        )
        homography = cv2.getPerspectiveTransform(texture_pts, image_pts)
        gray = cv2.warpPerspective(texture, homography, (width, height), borderValue=128)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))

    return picture


def write_synthetic_clip(path: Path, seconds: float = 2.0, fps: int = 15, size=(320, 240)) -> Path:
    """An H.264 MP4 of the walking floor view (moov atom at the end, like most cameras)."""
    import av

    picture = floor_view(*size, fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(picture(i), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return Path(path)


def synthetic_camera(fps: float = 30.0, size=(640, 480)):
    """An aiortc video track of the walking floor view, paced at ``fps`` on the wall clock."""
    import av
    from aiortc import VideoStreamTrack

    picture = floor_view(*size, fps, seed=1)

    class SyntheticCamera(VideoStreamTrack):
        def __init__(self):
            super().__init__()
            self.sent = 0
            self._start: float | None = None

        async def recv(self):
            if self._start is None:
                self._start = time.monotonic()
            due = self._start + self.sent / fps
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            frame = av.VideoFrame.from_ndarray(picture(self.sent), format="rgb24")
            frame.pts = round(self.sent * 90000 / fps)
            frame.time_base = fractions.Fraction(1, 90000)
            self.sent += 1
            return frame

    return SyntheticCamera()


class PeerClient:
    """What the page does over WebRTC; ``messages`` collects (arrival monotonic s, message)."""

    def __init__(self, url: str, view: str = "egocentric", fps: float = 30.0, size=(640, 480)):
        self.url, self.view = url, view
        self.track = synthetic_camera(fps, size)
        self.messages: list[tuple[float, dict]] = []
        self.session_id: str | None = None
        self.pc = None
        self.channel = None

    async def connect(self) -> None:
        import httpx
        from aiortc import RTCPeerConnection, RTCSessionDescription

        self.pc = pc = RTCPeerConnection()
        pc.addTrack(self.track)
        self.channel = channel = pc.createDataChannel("telemetry")
        channel.on("message", lambda m: self.messages.append((time.monotonic(), json.loads(m))))
        channel.on("open", self.send_clock)
        await pc.setLocalDescription(await pc.createOffer())  # gathers ICE candidates
        async with httpx.AsyncClient(base_url=self.url) as http:
            r = await http.post("/api/v1/offer", timeout=30, json={
                "sdp": pc.localDescription.sdp, "type": "offer", "view": self.view,
            })  # fmt: skip
        r.raise_for_status()
        answer = r.json()
        self.session_id = answer["session_id"]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))

    def send_clock(self) -> None:
        self.send({"type": "clock", "client_ms": time.time() * 1000.0})

    def send(self, message: dict) -> None:
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(json.dumps(message))

    def of_type(self, kind: str) -> list[dict]:
        return [m for _, m in self.messages if m["type"] == kind]

    async def wait_for(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.05)
        return False

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (now)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedServer:
    """uvicorn serving an app from a background thread (tests, benchmarks)."""

    def __init__(self, app, port: int | None = None):
        import threading

        import uvicorn

        self.port = port = port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn")

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
