"""`serve --robot dds`: the service drives the simulated G1 process through the bridge, and
arms it only under a policy checkpoint that passes the hardware gate."""

import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("torch")

from fastapi.testclient import TestClient

from humanoid_teleop.control.gate import attach_report
from humanoid_teleop.policy.checkpoint import save_checkpoint
from humanoid_teleop.server.app import create_app
from humanoid_teleop.server.settings import ServerSettings
from tests.policy.helpers import tiny_policy

pytestmark = pytest.mark.sim


def test_dds_robot_is_gated_and_shadowed(sim_robot, domain_id, tmp_path):
    ckpt = save_checkpoint(tmp_path / "ck", tiny_policy())
    settings = ServerSettings(data_dir=tmp_path / "data", robot="dds", dds_domain=domain_id,
                              dds_interface="lo", controller=f"policy:{ckpt}")  # fmt: skip
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {app.state.services.new_token}"}
    with TestClient(app) as client:
        status = client.get("/api/v1/robot").json()
        assert status["hardware_connected"] is True and status["robot"] == "dds"
        assert "no validation report" in status["hardware_gate"]
        refused = client.post("/api/v1/robot/arm", headers=headers)
        assert refused.status_code == 409 and "validation report" in refused.text
        assert client.get("/api/v1/robot").json()["mode"] == "passive"

        attach_report(ckpt, {"passed": True, "episodes": 100, "fall_rate": 0.0,
                             "max_torque_ratio": 0.5})  # fmt: skip
        assert client.get("/api/v1/robot").json()["hardware_gate"] is None
        assert client.post("/api/v1/robot/arm", headers=headers).status_code == 200
        deadline = time.monotonic() + 5.0
        while client.get("/api/v1/robot").json()["mode"] == "passive":
            assert time.monotonic() < deadline, f"no ramp: {app.state.services.pipeline.safety.log}"
            time.sleep(0.05)
        assert client.get("/api/v1/robot").json()["mode"] in ("ramp", "active")
        assert app.state.services.pipeline.loop.monitor is not None  # the shadow twin
        assert client.post("/api/v1/robot/estop").status_code == 200
        assert client.get("/api/v1/robot").json()["mode"] == "estop"
    counters = sim_robot.stop()
    assert counters["commands_bad_crc"] == 0
