"""The operator model: token (401 / 403), lease (409), e-stop for anyone, latching."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from humanoid_teleop.server.app import create_app
from humanoid_teleop.server.auth import TOKEN_FILE, AuthError, LeaseManager, OperatorToken
from tests.server.conftest import auth

CONTROL = [
    ("/api/v1/robot/arm", None),
    ("/api/v1/robot/stop", None),
    ("/api/v1/robot/rearm", None),
    ("/api/v1/robot/override", {"vx": 0.1}),
    ("/api/v1/jobs/nope/send-to-robot", None),
]


def test_token_is_created_once_and_stored_only_as_a_hash(tmp_path):
    _, token = OperatorToken.open(tmp_path)
    assert token and len(token) >= 24
    stored = (tmp_path / TOKEN_FILE).read_text()
    assert token not in stored and json.loads(stored)["algorithm"] == "scrypt"
    again, none = OperatorToken.open(tmp_path)
    assert none is None
    again.check(f"Bearer {token}")  # the same token still works after a restart
    with pytest.raises(AuthError) as wrong:
        again.check("Bearer " + token[::-1])
    assert wrong.value.status == 403


def test_control_needs_the_token(settings_for):
    app = create_app(settings_for())
    with TestClient(app) as client:
        for path, body in CONTROL:
            assert client.post(path, json=body).status_code == 401, path
            bad = {"Authorization": "Bearer not-the-token"}
            r = client.post(path, json=body, headers=bad)
            assert r.status_code == 403, path
            assert "wrong operator token" in r.json()["detail"]


def test_estop_needs_nothing_and_latches_until_rearm(settings_for):
    app = create_app(settings_for())
    with TestClient(app) as client:
        r = client.post("/api/v1/robot/estop")  # no token, no lease
        assert r.status_code == 200 and r.json()["mode"] == "estop"
        assert client.get("/api/v1/robot").json()["estop_latched"] is True
        arm = client.post("/api/v1/robot/arm", headers=auth(app))
        assert arm.status_code == 409 and "latched" in arm.json()["detail"]
        assert client.get("/api/v1/health").json()["mode"] == "estop"
        lease = client.post("/api/v1/operator/lease", headers=auth(app)).json()["lease_id"]
        r = client.post("/api/v1/robot/rearm", headers=auth(app, lease))
        assert r.status_code == 200 and r.json()["mode"] == "damping"
        r = client.post("/api/v1/robot/arm", headers=auth(app, lease))
        assert r.status_code == 200 and r.json()["mode"] in ("ramp", "damping")
        time.sleep(0.2)
        assert client.get("/api/v1/robot").json()["mode"] == "ramp"


def test_arm_refused_at_its_tick_is_a_409_with_the_reason(settings_for):
    """Safety takes an arm at the next control tick and refuses it while a joint moves faster
    than 10 rad/s; the request answers with that refusal instead of 200 and a robot that
    stays passive."""
    from humanoid_teleop import g1

    app = create_app(settings_for())
    with TestClient(app) as client:
        twin = app.state.services.pipeline.robot  # held on its gantry: physics frozen
        knee = twin.index.joint_dof[g1.JOINT_INDEX["left_knee_joint"]]
        twin.data.qvel[knee] = 12.0
        refused = client.post("/api/v1/robot/arm", headers=auth(app))
        assert refused.status_code == 409
        assert "arm refused: left_knee_joint speed 12.0 rad/s" in refused.json()["detail"]
        assert client.get("/api/v1/robot").json()["mode"] == "passive"
        twin.data.qvel[knee] = 0.0
        armed = client.post("/api/v1/robot/arm", headers=auth(app))
        assert armed.status_code == 200 and armed.json()["mode"] == "ramp"


def test_one_lease_at_a_time(settings_for):
    offset = [0.0]
    app = create_app(settings_for(lease_s=5.0), clock=lambda: time.monotonic() + offset[0])
    with TestClient(app) as client:
        first = client.post("/api/v1/operator/lease", headers=auth(app))
        assert first.status_code == 200
        lease = first.json()["lease_id"]
        assert first.json()["expires_in_s"] == 5.0
        # Another client (same token, no lease) is refused while the lease is held ...
        assert client.post("/api/v1/operator/lease", headers=auth(app)).status_code == 409
        r = client.post("/api/v1/robot/arm", headers=auth(app, "someone-else"))
        assert r.status_code == 409 and "another operator" in r.json()["detail"]
        # ... the holder is not, and its calls renew the lease ...
        assert client.post("/api/v1/robot/stop", headers=auth(app, lease)).status_code == 200
        renewed = client.post("/api/v1/operator/lease/renew", headers=auth(app, lease))
        assert renewed.status_code == 200 and renewed.json()["lease_id"] == lease
        # ... and once it expires, the next operator gets it.
        offset[0] += 6.0
        taken = client.post("/api/v1/operator/lease", headers=auth(app))
        assert taken.status_code == 200 and taken.json()["lease_id"] != lease
        assert client.post("/api/v1/robot/stop", headers=auth(app, lease)).status_code == 409


def test_lease_manager_expiry_without_a_server():
    now = [100.0]
    leases = LeaseManager(2.0, clock=lambda: now[0])
    a = leases.acquire(None)
    with pytest.raises(AuthError) as busy:
        leases.acquire(None)
    assert busy.value.status == 409
    now[0] += 1.5
    assert leases.for_control(a.lease_id).expires_s == pytest.approx(103.5)
    with pytest.raises(AuthError):
        leases.for_control(None)
    now[0] += 2.5
    assert leases.for_control(None) is None  # nobody holds it: no lease needed, none taken
    assert leases.acquire(None).lease_id != a.lease_id


def test_send_to_robot_is_refused_in_sim(settings_for):
    app = create_app(settings_for())
    with TestClient(app) as client:
        r = client.post("/api/v1/jobs/nope/send-to-robot", headers=auth(app))
        assert r.status_code == 404
