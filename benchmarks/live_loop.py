"""The live pipeline end to end: a synthetic 30 fps camera over a real aiortc peer on
loopback -> the service (in-process uvicorn) -> estimator -> 50 Hz control of the twin.

    PYTHONPATH=src python benchmarks/live_loop.py [--seconds 20] [--fps 30] [--size 640x480]
        [--controller expert] [--job]

The robot is armed and walks under the estimated intent. ``--job`` runs an upload job
(a 30 s clip through the imitation pipeline, in its child process at nice 10) at the same
time. Prints a markdown table, machine first:

- frame arrival -> joint target: from the moment the receive coroutine hands a decoded frame
  to the pipeline to the end of the first control tick whose targets used the intent
  estimated from it (median, p99);
- estimator time per frame (conversion + estimation), controller tick time;
- sustained estimator fps, frames received / estimated / dropped;
- process CPU: user + system time of this process / wall time, in cores; the peer (VP8
  encoding of the synthetic camera) runs in this process too, so this overstates the server;
- control ticks on time: share of 50 Hz ticks that started within half a period of their
  deadline (``Pacer`` overruns), and the worst lateness.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_rows


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(url: str, app, args) -> dict:
    import httpx

    from humanoid_teleop.server.synthetic import PeerClient

    services = app.state.services
    pipeline = services.pipeline
    headers = {"Authorization": f"Bearer {services.new_token}"}
    width, height = (int(v) for v in args.size.split("x"))
    peer = PeerClient(url, fps=args.fps, size=(width, height))
    await peer.connect()
    job_id = None
    try:
        if not await peer.wait_for(lambda: pipeline.estimator_times_s, 30):
            raise RuntimeError("no frame was estimated within 30 s")
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            (await http.post("/api/v1/robot/arm", headers=headers)).raise_for_status()
            if not await peer.wait_for(lambda: pipeline.mode.value == "active", 10):
                raise RuntimeError(f"the robot did not become active: {pipeline.mode}")
            if args.job:
                files = {"file": ("job.mp4", args.job_clip)}
                r = await http.post("/api/v1/jobs", files=files)
                r.raise_for_status()
                job_id = r.json()["id"]
            await asyncio.sleep(2.0)  # the job's child process starts
            pipeline.reflect_latencies_s.clear()
            pipeline.estimator_times_s.clear()
            pipeline.policy_times_s.clear()
            frames0 = pipeline.frame_counters()
            ticks0, overruns0 = pipeline.pacer.stats.ticks, pipeline.pacer.stats.overruns
            modes0 = dict(pipeline.ticks_by_mode)
            cpu0, wall0 = os.times(), time.monotonic()
            end = wall0 + args.seconds
            while time.monotonic() < end:
                peer.send_clock()  # as the page does, once a second
                await asyncio.sleep(1.0)
            cpu1, wall = os.times(), time.monotonic() - wall0
            frames1 = pipeline.frame_counters()
            stats = pipeline.pacer.stats
            job = (await http.get(f"/api/v1/jobs/{job_id}")).json() if job_id else None
            if job_id:
                await http.delete(f"/api/v1/jobs/{job_id}")
    finally:
        await peer.close()
    frames = {k: frames1[k] - frames0[k] for k in frames1}
    telemetry = peer.of_type("telemetry")[-int(args.seconds * 30) :]
    c2s = [m["latency_ms"]["capture_to_server"] for m in telemetry if m["intent"]]
    return {
        "reflect_ms": [1e3 * v for v in pipeline.reflect_latencies_s],
        "estimator_ms": [1e3 * v for v in pipeline.estimator_times_s],
        "policy_ms": [1e3 * v for v in pipeline.policy_times_s],
        "capture_to_server_ms": c2s,
        "frames": frames,
        "wall_s": wall,
        "cpu_cores": (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / wall,
        "ticks": stats.ticks - ticks0,
        "overruns": stats.overruns - overruns0,
        "max_lateness_ms": 1e3 * stats.max_lateness_s,
        "job": job,
        "modes": {k: v - modes0.get(k, 0) for k, v in pipeline.ticks_by_mode.items()},
        "safety": f"{pipeline.mode.value} {pipeline.safety.last_fault}".strip(),
        "final_x_m": pipeline.snapshot.read().state.base.pos_w_m[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--controller", default="expert")
    parser.add_argument("--job", action="store_true", help="run an upload job meanwhile")
    args = parser.parse_args()

    from humanoid_teleop.sim.render import ensure_gl_backend

    ensure_gl_backend()
    from humanoid_teleop.server.app import create_app
    from humanoid_teleop.server.settings import ServerSettings
    from humanoid_teleop.server.synthetic import ThreadedServer, write_synthetic_clip

    with tempfile.TemporaryDirectory() as tmp:
        if args.job:
            args.job_clip = write_synthetic_clip(Path(tmp) / "job.mp4", seconds=30.0).read_bytes()
        app = create_app(ServerSettings(data_dir=Path(tmp) / "data", controller=args.controller))
        with ThreadedServer(app) as server:
            r = asyncio.run(_measure(server.url, app, args))

    def row(name: str, values: list[float]) -> str:
        med = statistics.median(values) if values else float("nan")
        return f"| {name} | {med:.1f} | {_percentile(values, 0.99):.1f} | {len(values)} |"

    print("| machine | |\n|---|---|")
    for key, value in machine_rows():
        print(f"| {key} | {value} |")
    print(f"| load average | {' '.join(f'{v:.2f}' for v in os.getloadavg())} |")
    print(f"\ncommand: `{' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}`; "
          f"{args.size} at {args.fps:g} fps for {r['wall_s']:.1f} s, controller "
          f"{args.controller}, upload job running: {'yes' if args.job else 'no'}\n")  # fmt: skip
    print("| latency | median ms | p99 ms | samples |\n|---|---|---|---|")
    print(row("frame arrival -> first joint target reflecting it", r["reflect_ms"]))
    print(row("estimator per frame (convert + estimate)", r["estimator_ms"]))
    print(row("control tick (controller + executor + Safety + send)", r["policy_ms"]))
    print(row("capture -> server (clock-message estimate)", r["capture_to_server_ms"]))
    f = r["frames"]
    on_time = 1.0 - r["overruns"] / max(r["ticks"], 1)
    print("\n| rate | value |\n|---|---|")
    print(f"| estimator fps (sustained) | {f['estimated'] / r['wall_s']:.1f} |")
    print(f"| frames received / estimated / dropped | {f['received']} / {f['estimated']} / "
          f"{f['dropped']} |")  # fmt: skip
    print(f"| control ticks on time (50 Hz) | {100 * on_time:.1f} % of {r['ticks']} "
          f"(worst lateness {r['max_lateness_ms']:.1f} ms) |")  # fmt: skip
    print(f"| process CPU (server + peer) | {r['cpu_cores']:.2f} cores |")
    print(f"| robot walked (x) | {r['final_x_m']:.2f} m |")
    modes = ", ".join(f"{k} {v}" for k, v in sorted(r["modes"].items()) if v)
    print(f"| ticks by mode / final mode and last fault | {modes} / {r['safety']} |")
    if r["job"] is not None:
        j = r["job"]
        print(
            f"| upload job at the end | {j['status']}, {j['stage']} {100 * j['progress']:.0f} % |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
