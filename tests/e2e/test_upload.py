"""Upload page and result page against a real server: a generated clip goes through the
imitation job; the result page shows the preview and the plots; a rejected upload shows the
server's message; a server restart keeps the job.

Tests run in file order; the restart test relies on the job of the upload test.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from .conftest import collect_console

pytestmark = pytest.mark.e2e

JOB_TIMEOUT_MS = 120_000


def write_clip(path: Path, seconds: float = 2.0, fps: int = 15) -> Path:
    """A 160x120 H.264 clip of a textured scene panning left: optical flow sees motion."""
    import av

    rng = np.random.default_rng(0)
    texture = (rng.random((120, 480)) * 255).astype(np.uint8)
    texture = np.repeat(np.repeat(texture[::8, ::8], 8, axis=0), 8, axis=1)[:120, :480]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4",
                                      rate=fps)  # fmt: skip
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(int(seconds * fps)):
            x = (i * 4) % 320
            gray = texture[:, x : x + 160]
            rgb = np.stack([gray, gray // 2 + 60, 255 - gray], axis=-1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def state() -> dict:
    return {}


def test_rejected_upload_shows_the_server_message(context, tmp_path, artifacts_dir):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a video")
    page = context.new_page()
    page.goto("/upload")
    page.set_input_files("#file-input", str(bad))
    page.click("#upload-button")
    page.wait_for_selector("#error:not([hidden])")
    text = page.text_content("#error")
    assert re.search(r"HTTP 4(15|22)", text), text
    page.screenshot(path=str(artifacts_dir / "upload-rejected.png"))


def test_upload_runs_the_job_and_shows_the_result(context, tmp_path, artifacts_dir, state):
    clip = write_clip(tmp_path / "walk.mp4")
    page = context.new_page()
    errors = collect_console(page)
    page.goto("/upload")
    page.set_input_files("#file-input", str(clip))
    page.select_option("#view", "egocentric")
    page.click("#upload-button")
    # Upload progress reaches 100% and the job id appears before the job finishes.
    page.wait_for_function("document.getElementById('upload-label').textContent.includes('job')")
    page.screenshot(path=str(artifacts_dir / "upload-progress.png"))
    page.wait_for_url(re.compile(r"/jobs/[^/]+$"), timeout=JOB_TIMEOUT_MS)
    job_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    state["job_id"] = job_id

    page.wait_for_function("window.__job && window.__job.rendered === true", timeout=30_000)
    assert page.get_attribute("#job-status", "data-status") == "done"
    # The preview plays in the browser (decodable by Chromium, not only present).
    page.wait_for_function(
        "document.getElementById('preview-video').readyState >= 1"
        " && document.getElementById('preview-video').videoWidth > 0",
        timeout=15_000,
    )
    page.wait_for_function("document.getElementById('input-video').readyState >= 1", timeout=15_000)
    # Plots: the intent timeline and at least one validation plot, each with drawn series.
    intent_paths = page.locator("figure[data-plot='intent-velocity'] path[data-series]")
    assert intent_paths.count() == 3
    assert all(
        len(d or "") > 10
        for d in intent_paths.evaluate_all("ps => ps.map(p => p.getAttribute('d'))")
    )
    assert page.locator("#report-plots figure.plot").count() >= 1
    assert page.locator("#checks .check-item").count() >= 1
    # Downloads point at the job's files.
    hrefs = page.locator("#downloads a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    for name in ("trajectory.npz", "trajectory.csv", "intents.json", "preview.mp4", "report.json"):
        assert any(h.endswith(name) for h in hrefs), (name, hrefs)
    # No hardware robot in tests: "Send to robot" stays disabled.
    assert page.is_disabled("#send-to-robot")
    page.screenshot(path=str(artifacts_dir / "job-result.png"), full_page=True)
    assert not [e for e in errors if "pageerror" in e], errors


def test_job_survives_a_server_restart(context, server, artifacts_dir, state):
    job_id = state.get("job_id")
    if not job_id:
        pytest.skip("needs the job of test_upload_runs_the_job_and_shows_the_result")
    server.restart()
    jobs = server.get_json("/api/v1/jobs")
    jobs = jobs if isinstance(jobs, list) else jobs.get("jobs", [])
    assert any(j["id"] == job_id and j["status"] == "done" for j in jobs), jobs

    page = context.new_page()
    page.goto("/upload")
    row = page.locator(f"tr[data-job-id='{job_id}']")
    row.wait_for()
    assert row.locator(".status").text_content() == "done"
    page.screenshot(path=str(artifacts_dir / "jobs-after-restart.png"))
    page.goto(f"/jobs/{job_id}")
    page.wait_for_function("window.__job && window.__job.rendered === true", timeout=30_000)
    page.wait_for_function(
        "document.getElementById('preview-video').readyState >= 1", timeout=15_000
    )
