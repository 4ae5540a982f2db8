"""Uploads and jobs: refusals leave nothing behind; a job runs to its artifacts in a child
process; cancel; restart persistence."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from humanoid_teleop import g1
from humanoid_teleop.server.app import create_app
from humanoid_teleop.server.jobs import JobStore
from humanoid_teleop.server.synthetic import write_synthetic_clip as write_clip

ARTIFACTS = ("intents.json", "trajectory.npz", "trajectory.csv", "preview.mp4", "report.json")


def upload(client, path: Path, name: str | None = None, view: str = "egocentric"):
    with open(path, "rb") as f:
        return client.post("/api/v1/jobs", files={"file": (name or path.name, f)},
                           data={"view": view})  # fmt: skip


def wait_status(client, job_id: str, statuses: tuple[str, ...], timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


def leftovers(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "uploads").rglob("*")] + [
        p for p in (data_dir / "jobs").rglob("*")
    ]  # fmt: skip


def test_bad_uploads_are_refused_clearly_and_leave_nothing(settings_for, tmp_path, clip):
    settings = settings_for(upload_max_bytes=200_000)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    big = tmp_path / "big.mp4"
    big.write_bytes(clip.read_bytes() + b"\0" * 250_000)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    cases = [
        (empty, None, 422, "empty"),
        (truncated, None, 422, "truncated"),
        (text, None, 415, "not a video"),
        (text, "notes.txt", 415, "unsupported file type"),
        (big, None, 413, "upload limit"),
    ]
    app = create_app(settings)
    with TestClient(app) as client:
        for path, name, status, words in cases:
            r = upload(client, path, name)
            assert r.status_code == status, (path.name, r.text)
            assert words in r.json()["detail"], r.json()
        bad_view = upload(client, clip, view="sideways")
        assert bad_view.status_code == 422
        assert client.get("/api/v1/jobs").json() == []
        assert leftovers(settings.data_dir) == []


@pytest.mark.sim
def test_a_job_runs_to_all_artifacts(settings_for, clip):
    settings = settings_for(controller="expert", job_preview_width=160, job_preview_height=120)
    app = create_app(settings)
    with TestClient(app) as client:
        r = upload(client, clip)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] == "queued" and job["view"] == "egocentric"
        assert job["files"] == {"input.mp4": f"/api/v1/jobs/{job['id']}/files/input.mp4"}
        seen_stages = set()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            job = client.get(f"/api/v1/jobs/{job['id']}").json()
            seen_stages.add(job["stage"])
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
        assert job["status"] == "done", job
        assert job["progress"] == 1.0 and len(seen_stages) >= 3, seen_stages
        assert set(ARTIFACTS) <= set(job["files"])
        report = job["report"]
        for key in ("fell", "vel_rms_mps", "yaw_rate_rms_radps", "max_torque_ratio", "passed",
                    "controller", "series"):  # fmt: skip
            assert key in report
        assert report["controller"] == "expert" and report["fell"] is False
        series = report["series"]
        assert len(series["t_s"]) == len(series["achieved_vx_mps"]) >= 15

        intents = client.get(job["files"]["intents.json"]).json()
        assert set(intents) == {"video", "view", "estimator", "fps", "intents"}
        assert intents["estimator"] == "embedded-egocentric" and intents["intents"]
        last = intents["intents"][-1]  # the clip's camera walks forward
        assert last["skill"] == "walk" and last["vx_mps"] > 0.05, last
        assert set(intents["intents"][0]) == {
            "t_s", "skill", "vx_mps", "vy_mps", "yaw_rate_radps", "confidence",
        }  # fmt: skip
        csv = client.get(job["files"]["trajectory.csv"]).text.splitlines()
        header = csv[0].split(",")
        assert header[0] == "t_s" and header[8:37] == list(g1.JOINT_NAMES)
        folder = settings.data_dir / "jobs" / job["id"]
        npz = np.load(folder / "trajectory.npz")
        assert npz["q_rad"].shape == (len(csv) - 1, 29)
        assert tuple(npz["joint_names"]) == g1.JOINT_NAMES
        preview = client.get(job["files"]["preview.mp4"])
        assert preview.status_code == 200 and preview.content[4:8] == b"ftyp"
        assert not list(folder.glob(".work-*"))
        assert client.get("/api/v1/jobs").json()[0]["id"] == job["id"]
        assert client.get(f"/api/v1/jobs/{job['id']}/files/../jobs.sqlite").status_code == 404


def one_running_one_queued(client, tmp_path: Path) -> tuple[dict, dict]:
    """Two uploads of a 20 s clip; with one worker the first runs and the second waits."""
    long_clip = tmp_path / "long.mp4"
    if not long_clip.exists():
        write_clip(long_clip, seconds=20.0)
    running, queued = upload(client, long_clip).json(), upload(client, long_clip).json()
    wait_status(client, running["id"], ("running",), 30)
    return running, queued


@pytest.mark.sim
def test_cancel_a_running_job_kills_it_and_removes_partials(settings_for, tmp_path):
    settings = settings_for()
    app = create_app(settings)
    with TestClient(app) as client:
        job, queued_too = one_running_one_queued(client, tmp_path)
        assert client.get(f"/api/v1/jobs/{queued_too['id']}").json()["status"] == "queued"
        assert client.delete(f"/api/v1/jobs/{queued_too['id']}").json()["status"] == "cancelled"
        procs = app.state.services.jobs._procs  # claimed first, then the child starts
        deadline = time.monotonic() + 20
        while job["id"] not in procs and time.monotonic() < deadline:
            time.sleep(0.05)
        child = procs[job["id"]]
        r = client.delete(f"/api/v1/jobs/{job['id']}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert child.wait(timeout=5) != 0  # killed, not finished
        time.sleep(0.5)
        job = client.get(f"/api/v1/jobs/{job['id']}").json()
        assert job["status"] == "cancelled" and set(job["files"]) == {"input.mp4"}
        folder = settings.data_dir / "jobs" / job["id"]
        assert not list(folder.glob(".work-*"))
        assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 409


@pytest.mark.sim
def test_jobs_survive_a_restart(settings_for, tmp_path):
    settings = settings_for()
    first = create_app(settings)
    with TestClient(first) as client:
        running, queued = one_running_one_queued(client, tmp_path)
    # The server stopped with one job running and one queued.
    store = JobStore(settings.data_dir / "jobs.sqlite")
    assert store.get(running["id"]).status == "running"
    assert store.get(queued["id"]).status == "queued"
    second = create_app(settings)
    with TestClient(second) as client:
        jobs = {j["id"]: j for j in client.get("/api/v1/jobs").json()}
        assert set(jobs) == {running["id"], queued["id"]}
        # The interrupted job was queued again and runs first (it is older).
        wait_status(client, running["id"], ("running",), 30)
        assert client.get(f"/api/v1/jobs/{queued['id']}").json()["status"] == "queued"
        for job_id in jobs:
            client.delete(f"/api/v1/jobs/{job_id}")


def test_job_folder_stays_inside_data_dir(settings_for):
    app = create_app(settings_for())
    with TestClient(app) as client:
        assert client.get("/api/v1/jobs/..%2F..%2Fetc").status_code == 404
        assert client.get("/api/v1/jobs/nope/files/report.json").status_code == 404
        r = client.post("/api/v1/jobs", content=b"x", headers={"content-type": "text/plain"})
        assert r.status_code in (400, 422)
