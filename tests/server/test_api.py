"""Health, OpenAPI, static pages and the G1 description, through the ASGI app."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from humanoid_teleop import g1
from humanoid_teleop.server.app import create_app
from humanoid_teleop.sim.model import build_model
from tests.server.conftest import auth


def test_health_reports_the_shipped_policy_and_openapi_is_versioned(settings_for):
    app = create_app(settings_for(controller="policy"))  # the shipped default
    with TestClient(app) as client:
        health = client.get("/api/v1/health").json()
        assert health == {
            "status": "ok", "robot": "sim", "controller": "policy",
            "mode": "passive", "version": "1",
        }  # fmt: skip
        schema = client.get("/api/v1/openapi.json").json()
        assert schema["info"]["version"] == "1"
        paths = schema["paths"]
        for path in ("/api/v1/health", "/api/v1/offer", "/api/v1/robot", "/api/v1/robot/arm",
                     "/api/v1/robot/estop", "/api/v1/robot/override", "/api/v1/jobs",
                     "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/files/{name}",
                     "/api/v1/jobs/{job_id}/send-to-robot", "/api/v1/operator/lease"):  # fmt: skip
            assert path in paths, path
        assert "multipart/form-data" in paths["/api/v1/jobs"]["post"]["requestBody"]["content"]
        robot = client.get("/api/v1/robot").json()
        assert robot["hardware_connected"] is False and robot["estop_latched"] is False


def test_static_pages_come_from_the_client_folder(settings_for, tmp_path):
    client_dir = tmp_path / "client"
    (client_dir / "node_modules/three/build").mkdir(parents=True)
    for name in ("index.html", "upload.html", "job.html"):
        (client_dir / name).write_text(f"<title>{name}</title>")
    (client_dir / "app.js").write_text("console.log(1)")
    (client_dir / "node_modules/three/build/three.module.js").write_text("export {}")
    app = create_app(settings_for(client_dir=client_dir))
    with TestClient(app) as client:
        assert "index.html" in client.get("/").text
        assert "upload.html" in client.get("/upload").text
        assert "job.html" in client.get("/jobs/abc123").text
        assert client.get("/static/app.js").text == "console.log(1)"
        assert client.get("/vendor/three/build/three.module.js").status_code == 200


def test_missing_client_folder_gives_a_clear_page_not_a_crash(settings_for, tmp_path):
    app = create_app(settings_for(client_dir=tmp_path / "nowhere"))
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 503
        assert "not installed" in page.text and "nowhere" in page.text
        assert client.get("/static/app.js").status_code == 503
        assert client.get("/api/v1/health").status_code == 200


def test_g1_description_matches_the_twin(settings_for):
    app = create_app(settings_for())
    with TestClient(app) as client:
        desc = client.get("/models/g1/g1.json").json()
        assert desc["floating_base"] == "pelvis"
        assert desc["joint_names"] == list(g1.JOINT_NAMES)
        bodies = {b["name"]: b for b in desc["bodies"]}
        seen = set()
        for body in desc["bodies"]:  # parents come first
            assert body["parent"] in seen | {"world"}
            seen.add(body["name"])
        moved_by = [b["joint"]["name"] for b in desc["bodies"] if b["joint"]]
        assert moved_by == list(g1.JOINT_NAMES)
        knee = bodies["left_knee_link"]
        assert knee["parent"] == "left_hip_yaw_link" and knee["joint"]["axis"] == [0, 1, 0]
        mesh = bodies["pelvis"]["meshes"][0]
        assert len(mesh["pos"]) == 3 and len(mesh["quat_wxyz"]) == 4
        stl = client.get(f"/models/g1/{mesh['file']}")
        assert stl.status_code == 200 and len(stl.content) > 1000
        # The collision shapes (what a page without a GPU draws) are the twin's own.
        shapes = [s for b in desc["bodies"] for s in b["shapes"]]
        twin = build_model()
        colliding = [i for i in range(twin.ngeom) if twin.geom_bodyid[i] > 0  # not the floor
                     and (twin.geom_contype[i] or twin.geom_conaffinity[i])]
        assert len(shapes) == len(colliding) == 33
        shin = bodies["left_knee_link"]["shapes"][0]
        assert shin["type"] == "capsule" and shin["radius"] == pytest.approx(0.045)
        length = np.linalg.norm(np.subtract(shin["to"], shin["from"]))
        twin_shin = next(
            i for i in colliding if twin.body(twin.geom_bodyid[i]).name == "left_knee_link"
        )
        assert length == pytest.approx(2 * twin.geom_size[twin_shin][1], abs=1e-6)


@pytest.mark.parametrize("body", ['{"vx": NaN}', '{"vx": 0.1, "bogus": 1}', '{"vx": "fast"}'])
def test_bad_override_bodies_are_422(settings_for, body):
    app = create_app(settings_for())
    with TestClient(app) as client:
        headers = {**auth(app), "content-type": "application/json"}
        r = client.post("/api/v1/robot/override", headers=headers, content=body)
        assert r.status_code == 422
        ok = client.post("/api/v1/robot/override", headers=headers, content='{"vx": 0.1}')
        assert ok.status_code == 200 and ok.json()["intent_source"] == "override"
