"""Shared pieces of the service tests: a small synthetic clip, settings on a temp data folder,
the operator's headers. The synthetic camera, the WebRTC client and the server thread live
in ``humanoid_teleop.server.synthetic`` (the benchmark uses them too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from humanoid_teleop.server.synthetic import write_synthetic_clip


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    return write_synthetic_clip(tmp_path_factory.mktemp("clips") / "walk.mp4")


@pytest.fixture
def settings_for(tmp_path):
    from humanoid_teleop.server.settings import ServerSettings

    def make(**overrides) -> ServerSettings:
        values = {"data_dir": tmp_path / "data", "controller": "stand"}
        values.update(overrides)
        return ServerSettings(**values)

    return make


def auth(app, lease: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {app.state.services.new_token}"}
    if lease:
        headers["X-Operator-Lease"] = lease
    return headers
