"""Server settings: read once from ``HT_*`` environment variables (or given explicitly), then
injected into ``create_app``. Nothing else in the package reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The upload types the page accepts; PyAV decodes all of them.
UPLOAD_TYPES: tuple[str, ...] = ("mp4", "webm", "mov", "avi", "gif")
RobotKind = Literal["sim", "dds"]


def repo_client_dir() -> Path:
    """client-web/ next to src/ in the repository (the package is installed editable)."""
    return Path(__file__).resolve().parents[3] / "client-web"


class ServerSettings(BaseSettings):
    """Everything the service can be configured with. Env: ``HT_<FIELD>`` (e.g. HT_PORT).

    ``data_dir`` holds the operator token hash, the job database and the job folders; a
    relative path is relative to the working directory the server starts in.
    """

    model_config = SettingsConfigDict(env_prefix="HT_", frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Path("data")
    # "sim": the MuJoCo twin in real time, in-process. "dds": a G1 (or the simulated G1
    # process, `humanoid-teleop sim-robot`) over DDS, behind the hardware gate and a shadow
    # twin (server.robots). A real G1: domain 0 on its network interface.
    robot: RobotKind = "sim"
    dds_domain: int = Field(1, ge=0, le=232)
    dds_interface: str | None = "lo"
    controller: str = "policy"  # stand | expert | policy | policy:CKPT
    upload_max_bytes: int = Field(200 * 1024 * 1024, gt=0)
    upload_types: tuple[str, ...] = UPLOAD_TYPES
    job_workers: int = Field(1, ge=1, le=8)
    job_nice: int = Field(10, ge=0, le=19)  # jobs must not starve the 50 Hz loop
    job_preview_width: int = Field(320, ge=64, le=1920)
    job_preview_height: int = Field(240, ge=48, le=1080)
    # The visual planner (POST /api/v1/plan/visual): a local diffusers image-to-image
    # checkpoint directory, an optional LoRA on top, the denoising steps (None: the
    # pipeline's default). Unset: the route answers 503 and says what to set.
    image_planner_path: Path | None = None
    image_planner_lora: Path | None = None
    image_planner_steps: int | None = Field(None, ge=1, le=1000)
    # Same-origin only by default: no CORS headers at all. List origins to allow others.
    allowed_origins: tuple[str, ...] = ()
    client_dir: Path | None = None  # default: client-web/ of the repository
    lease_s: float = Field(30.0, gt=0)  # operator lease lifetime, renewed by control calls
    override_stale_s: float = Field(0.5, gt=0)
    intent_stale_s: float = Field(1.0, gt=0)

    @field_validator("upload_types")
    @classmethod
    def _lower(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(t.lower().lstrip(".") for t in v)

    @property
    def resolved_client_dir(self) -> Path:
        return self.client_dir if self.client_dir is not None else repo_client_dir()
