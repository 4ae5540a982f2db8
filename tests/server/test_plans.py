"""Manipulation plans as jobs: POST /api/v1/plan/<planner> on the upload jobs' machinery (the
same table, workers, child process, files, cancel and restart), refusals that leave nothing
behind, the visual planner with a tiny random diffusers checkpoint."""

from __future__ import annotations

import io
import json
import sqlite3

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from humanoid_teleop import g1
from humanoid_teleop.manip.plans import PLAN_FRAMES, decode_image
from humanoid_teleop.server.app import create_app
from humanoid_teleop.server.jobs import JobStore
from tests.manip.synthetic import K
from tests.server.test_jobs import leftovers, wait_status

ARM_BODY = {"points": [[0.08, 0.0, 0.1], [0.08, 0.08, 0.1]], "relative": True}


def png_bytes(h: int = 48, w: int = 64) -> bytes:
    rng = np.random.default_rng(1)
    ok, data = cv2.imencode(".png", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.sim
def test_an_arm_plan_runs_to_a_validated_trajectory(settings_for):
    settings = settings_for()
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/v1/plan/arm", json=ARM_BODY)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["kind"] == "plan-arm" and job["status"] == "queued"
        assert job["controller"] == "arm-trajectory" and job["view"] is None
        assert set(job["files"]) == {"input.json"}
        job = wait_status(client, job["id"], ("done", "failed"), 120)
        assert job["status"] == "done", job
        report = job["report"]
        assert report["planner"] == "arm" and report["passed"] is True, report["validation"]
        assert report["validation"]["upright"] is True
        assert report["validation"]["max_tracking_error_rad"] <= 0.1
        assert report["tolerance"]["tracking_tolerance_rad"] == 0.1
        assert report["joint_names"] == list(g1.JOINT_NAMES)
        q = np.asarray(report["q_traj_rad"])
        assert q.shape[1] == g1.NUM_JOINTS and len(q) == len(report["palm_path_pelvis_m"])
        assert set(job["files"]) == {"input.json", "trajectory.npz", "preview.mp4", "report.json"}
        preview = client.get(job["files"]["preview.mp4"])
        assert preview.status_code == 200 and preview.content[4:8] == b"ftyp"
        npz = np.load(io.BytesIO(client.get(job["files"]["trajectory.npz"]).content))
        np.testing.assert_allclose(npz["q_rad"], q)
        assert client.get(job["files"]["input.json"]).json()["points"] == ARM_BODY["points"]
        # The imitation job's files are not this job's; listings leave the trajectory out.
        assert client.get(f"/api/v1/jobs/{job['id']}/files/intents.json").status_code == 404
        listed = client.get("/api/v1/jobs").json()[0]
        assert listed["id"] == job["id"] and "q_traj_rad" not in listed["report"]
        assert listed["report"]["passed"] is True


def test_malformed_plans_are_refused_and_leave_nothing(settings_for):
    settings = settings_for(upload_max_bytes=100_000)
    good = {"depth": np.ones((3, 24, 32)), "K": K, "mask": np.ones((24, 32), bool),
            "T_pelvis_cam": np.eye(4)}  # fmt: skip
    with TestClient(create_app(settings)) as client:
        arm = [
            (b"{not json", 422, "arm plan"),
            (json.dumps({"side": "left"}).encode(), 422, "points: required"),
            (b'{"points": [[0.1, NaN, 0.1]]}', 422, "finite"),
            (json.dumps({"points": [[0, 0, 0]], "speed": 1}).encode(), 422, "unknown fields"),
        ]
        for body, status, words in arm:
            r = client.post("/api/v1/plan/arm", content=body,
                            headers={"content-type": "application/json"})  # fmt: skip
            assert r.status_code == status and words in r.json()["detail"], r.text
        missing = {k: v for k, v in good.items() if k != "mask"}
        rigvid = [
            ({"file": ("in.npz", npz_bytes(**missing))}, {}, 422, "missing arrays ['mask']"),
            ({"file": ("in.npz", b"not a zip")}, {}, 422, "readable .npz"),
            ({"file": ("in.txt", npz_bytes(**good))}, {}, 415, "unsupported file type"),
            ({"file": ("in.npz", npz_bytes(**good))}, {"fps": "fast"}, 422, "fps"),
            ({"file": ("in.npz", npz_bytes(**good))}, {"grasp_index": "7"}, 422, "grasp_index"),
            ({"file": ("in.npz", npz_bytes(**good))}, {"colour": "red"}, 422, "unknown form"),
            ({}, {"side": "right"}, 422, "'file' is missing"),
            ({"file": ("in.npz", b"\0" * 150_000)}, {}, 413, "upload limit"),
        ]
        for files, data, status, words in rigvid:
            r = client.post("/api/v1/plan/rigvid", files=files or None, data=data)
            assert r.status_code == status and words in r.json()["detail"], (words, r.text)
        # No image planner configured: a clear 503 before anything is read.
        r = client.post("/api/v1/plan/visual", files={"file": ("f.png", png_bytes())},
                        data={"instruction": "wave"})  # fmt: skip
        assert r.status_code == 503 and "HT_IMAGE_PLANNER_PATH" in r.json()["detail"]
        assert client.post("/api/v1/plan/juggle", json={}).status_code == 404
        assert client.get("/api/v1/jobs").json() == []
        assert leftovers(settings.data_dir) == []


@pytest.fixture(scope="module")
def tiny_planner(tmp_path_factory):
    pytest.importorskip("diffusers", reason="pip install -e '.[manip]' (make setup)")
    from humanoid_teleop.manip.tiny_planner import build_tiny_image_planner

    return build_tiny_image_planner(tmp_path_factory.mktemp("tiny-sd"))


def test_a_visual_plan_with_a_tiny_pipeline(settings_for, tiny_planner, tmp_path):
    settings = settings_for(image_planner_path=tiny_planner, image_planner_steps=2)
    trajectory = json.dumps([[4, 40], [30, 24], [60, 6]])
    with TestClient(create_app(settings)) as client:
        bad = [
            ({"file": ("f.png", png_bytes())}, {}, 422, "instruction, a trajectory"),
            ({"file": ("f.png", png_bytes())}, {"trajectory": "[[1, 2],"}, 422, "not valid JSON"),
            ({"file": ("f.png", png_bytes())}, {"trajectory": "[[1, 2], [900, 2]]"}, 422,
             "inside the 64x48 image"),
            ({"file": ("f.png", b"GIF89a")}, {"instruction": "wave"}, 422, "not a decodable"),
            ({"file": ("f.gif", png_bytes())}, {"instruction": "wave"}, 415, "unsupported"),
        ]  # fmt: skip
        for files, data, status, words in bad:
            r = client.post("/api/v1/plan/visual", files=files, data=data)
            assert r.status_code == status and words in r.json()["detail"], (words, r.text)
        assert leftovers(settings.data_dir) == []
        r = client.post("/api/v1/plan/visual", files={"file": ("first.png", png_bytes())},
                        data={"instruction": "push the cube", "trajectory": trajectory})  # fmt: skip
        assert r.status_code == 202, r.text
        job = wait_status(client, r.json()["id"], ("done", "failed"), 120)
        assert job["status"] == "done" and job["kind"] == "plan-visual", job
        files = job["files"]
        assert {"input.png", "grid.png", "overlay.png", "preview.mp4", *PLAN_FRAMES} <= set(files)
        grid = decode_image(client.get(files["grid.png"]).content)
        assert grid.shape == (3 * 48, 3 * 64, 3)
        first = decode_image(png_bytes())
        np.testing.assert_array_equal(grid[:48, :64], first)  # cell 0 is the uploaded frame
        assert decode_image(client.get(files["frame_8.png"]).content).shape == (48, 64, 3)
        report = job["report"]
        assert report["planner"] == "visual" and report["grid_size"] == [192, 144]
        assert "push the cube" in report["prompt"] and report["validated"] is False


def test_a_visual_plan_with_a_broken_checkpoint_is_refused(settings_for, tmp_path):
    settings = settings_for(image_planner_path=tmp_path)  # no model_index.json there
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/v1/plan/visual", files={"file": ("f.png", png_bytes())},
                        data={"instruction": "wave"})  # fmt: skip
        assert r.status_code == 503 and "model_index.json" in r.json()["detail"], r.text


@pytest.mark.sim
def test_a_plan_job_survives_a_restart_and_can_be_cancelled(settings_for):
    settings = settings_for()
    with TestClient(create_app(settings)) as client:
        first = client.post("/api/v1/plan/arm", json=ARM_BODY).json()
        second = client.post("/api/v1/plan/arm", json=ARM_BODY).json()
        wait_status(client, first["id"], ("running",), 30)
    # Stopped with the first running: the next server queues it again, as a plan job.
    stopped = JobStore(settings.data_dir / "jobs.sqlite").get(first["id"])
    assert stopped.status == "running" and stopped.kind == "plan-arm"
    with TestClient(create_app(settings)) as client:
        assert client.delete(f"/api/v1/jobs/{second['id']}").json()["status"] == "cancelled"
        job = wait_status(client, first["id"], ("done", "failed"), 120)
        assert job["status"] == "done" and job["report"]["passed"] is True, job
        cancelled = client.get(f"/api/v1/jobs/{second['id']}").json()
        assert cancelled["status"] == "cancelled" and set(cancelled["files"]) == {"input.json"}


def test_a_database_from_before_plans_gains_the_kind_column(settings_for):
    settings = settings_for()
    db_path = settings.data_dir / "jobs.sqlite"
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    db.execute(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, view TEXT NOT NULL, "
        "input_name TEXT NOT NULL, controller TEXT NOT NULL, created_s REAL NOT NULL, "
        "updated_s REAL NOT NULL, progress REAL NOT NULL DEFAULT 0, "
        "stage TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '')"
    )
    db.execute("INSERT INTO jobs (id, status, view, input_name, controller, created_s, "
               "updated_s) VALUES ('old1', 'done', 'egocentric', 'input.mp4', 'expert', 1, 1)")  # fmt: skip
    db.commit()
    db.close()
    with TestClient(create_app(settings)) as client:
        (job,) = client.get("/api/v1/jobs").json()
        assert job["id"] == "old1" and job["kind"] == "imitation" and job["view"] == "egocentric"
    JobStore(db_path)  # opening a migrated database again changes nothing
    assert JobStore(db_path).get("old1").kind == "imitation"


@pytest.mark.sim
def test_plans_that_fail_in_the_job_say_why_and_leave_only_their_inputs(settings_for, tmp_path):
    broken = tmp_path / "broken-checkpoint"
    broken.mkdir()
    (broken / "model_index.json").write_text("{}")  # passes the route's check, cannot load
    settings = settings_for(image_planner_path=broken)
    with TestClient(create_app(settings)) as client:
        far = client.post("/api/v1/plan/arm", json={"points": [[1.0, 0.0, 0.0]]}).json()
        visual = client.post("/api/v1/plan/visual", files={"file": ("f.png", png_bytes())},
                             data={"instruction": "wave"}).json()  # fmt: skip
        far = wait_status(client, far["id"], ("done", "failed"), 60)
        assert far["status"] == "failed" and "waypoint" in far["error"], far
        assert set(far["files"]) == {"input.json"}
        visual = wait_status(client, visual["id"], ("done", "failed"), 60)
        assert visual["status"] == "failed", visual
        assert "not a loadable image-to-image pipeline" in visual["error"], visual
        assert set(visual["files"]) == {"input.json", "input.png"}
