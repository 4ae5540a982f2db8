"""``create_app(settings, ...)``: the FastAPI app of the service (routes: docs/service-api.md).

Everything is constructed here and injected; threads (control loop, telemetry, job workers)
start in the app's lifespan and stop with it. Handlers on the event loop only move bytes:
inference runs in the estimator threads, physics in the robot's thread, jobs in child
processes, password hashing and SQLite in the threadpool (sync handlers).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict

from humanoid_teleop.contracts import VelocityCommand
from humanoid_teleop.control.controller import Controller
from humanoid_teleop.control.robot import Robot
from humanoid_teleop.control.safety import SafetyRefusal
from humanoid_teleop.imitation import controller_with_fallback
from humanoid_teleop.manip.plans import (
    ArmPlanRequest,
    ImagePlannerSource,
    PlanRequestError,
    RigvidInput,
    RigvidPlanRequest,
    VisualPlanRequest,
    decode_image,
    job_kind,
    write_png,
)
from humanoid_teleop.server.auth import AuthError, LeaseManager, OperatorToken
from humanoid_teleop.server.jobs import (
    JobManager,
    JobRunnerConfig,
    UploadRejected,
    job_view,
    new_job_id,
    probe_upload,
)  # fmt: skip
from humanoid_teleop.server.live import LiveConfig, LivePipeline
from humanoid_teleop.server.robots import hardware_gate, is_hardware, make_robot
from humanoid_teleop.server.rtc import RtcSessions, TelemetryHub, WsClient, handle_client_message
from humanoid_teleop.server.settings import ServerSettings
from humanoid_teleop.timing import now_s

log = logging.getLogger(__name__)

API_VERSION = "1"
API = "/api/v1"
# multipart framing around the file: the Content-Length may exceed the file by this much.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
CHUNK_BYTES = 1 << 20
PLAN_JSON_MAX_BYTES = 1 << 20  # an arm plan's waypoints: kilobytes
IMAGE_TYPES = ("png", "jpg", "jpeg", "webp", "bmp")
# What validates an arm motion in the twin: the stand controller with the arm following.
ARM_PLAN_CONTROLLER = "arm-trajectory"


@dataclass
class Services:
    settings: ServerSettings
    pipeline: LivePipeline
    robot: Robot
    controller_label: str
    token: OperatorToken
    new_token: str | None  # the plaintext, only on the first start (serve prints it once)
    leases: LeaseManager
    jobs: JobManager
    job_controller: str  # the controller spec jobs roll out with
    rtc: RtcSessions | None = None
    hub: TelemetryHub | None = None


class OfferBody(BaseModel):
    sdp: str
    type: Literal["offer"]
    view: Literal["egocentric", "third_person", "third-person"] = "egocentric"


class OverrideBody(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")
    vx: float = 0.0
    vy: float = 0.0
    yaw_rate: float = 0.0
    clear: bool = False


def create_app(
    settings: ServerSettings,
    *,
    robot: Robot | None = None,
    controller: Controller | None = None,
    clock: Callable[[], float] = now_s,
) -> FastAPI:
    """The service. ``robot`` / ``controller`` override what ``settings`` would build (tests,
    benchmarks); ``clock`` is the monotonic clock of leases, overrides and telemetry."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if controller is None:
        controller, label, job_controller = controller_with_fallback(settings.controller)
        controller = _off_the_control_thread(controller)
    else:
        label = job_controller = getattr(controller, "name", settings.controller)
    if robot is None:
        robot = make_robot(settings.robot, controller.control_dt_s,
                           dds_domain=settings.dds_domain, dds_interface=settings.dds_interface)  # fmt: skip
    arm_gate = monitor = None
    if is_hardware(robot):  # only a validated policy moves hardware, watched by a twin
        from humanoid_teleop.sim.shadow import ShadowConfig, ShadowTwin

        arm_gate = hardware_gate(settings.controller)
        monitor = ShadowTwin(ShadowConfig(control_dt_s=controller.control_dt_s))
    token, new_token = OperatorToken.open(data_dir)
    live = LiveConfig(override_stale_s=settings.override_stale_s,
                      intent_stale_s=settings.intent_stale_s)  # fmt: skip
    jobs = JobManager(data_dir, JobRunnerConfig(
        workers=settings.job_workers, nice=settings.job_nice,
        preview_width=settings.job_preview_width, preview_height=settings.job_preview_height,
        image_planner=ImagePlannerSource(settings.image_planner_path,
                                         settings.image_planner_lora, settings.image_planner_steps),
    ))  # fmt: skip
    services = Services(
        settings=settings, pipeline=LivePipeline(robot, controller, config=live, clock=clock,
                                                 arm_gate=arm_gate, monitor=monitor),
        robot=robot, controller_label=label, token=token, new_token=new_token,
        leases=LeaseManager(settings.lease_s, clock), jobs=jobs, job_controller=job_controller,
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        hub = TelemetryHub(loop)
        services.hub = hub
        services.rtc = RtcSessions(services.pipeline, hub)
        services.pipeline.on_mode = lambda msg: hub.publish_threadsafe(
            json.dumps(msg), "mode", msg["t_s"]
        )
        services.pipeline.on_telemetry = lambda text, t_s: hub.publish_threadsafe(
            text, "telemetry", t_s
        )
        services.pipeline.start()
        services.jobs.start()
        try:
            yield
        finally:
            await services.rtc.close_all()
            await run_in_threadpool(services.pipeline.close)
            await run_in_threadpool(services.jobs.stop)
            close_worker = getattr(services.pipeline.controller, "close", None)
            if close_worker is not None:  # the policy's inference thread
                await run_in_threadpool(close_worker)

    app = FastAPI(
        title="humanoid-teleop", version=API_VERSION, lifespan=lifespan,
        openapi_url=f"{API}/openapi.json", docs_url=f"{API}/docs", redoc_url=None,
    )  # fmt: skip
    app.state.services = services
    if settings.allowed_origins:  # off by default: the page is served from the same origin
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins),
                           allow_methods=["*"], allow_headers=["*"])  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # FastAPI's default echoes the input back, and a NaN in it cannot be JSON-encoded.
        errors = [{"loc": e.get("loc"), "msg": e.get("msg")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    app.include_router(_api_router(services))
    _mount_static(app, settings)
    return app


def _off_the_control_thread(controller: Controller) -> Controller:
    """Live, the diffusion policy samples its chunks in a worker thread (the 50 Hz loop only
    reads the newest chunk); jobs and validation keep the inline, deterministic one."""
    from humanoid_teleop.policy.controller import PolicyController, ThreadedPolicyController

    if type(controller) is PolicyController:
        controller.policy.warm_up()
        return ThreadedPolicyController(controller.policy,
                                        infer_every_ticks=controller.infer_every_ticks)  # fmt: skip
    return controller


def _robot_status(s: Services) -> dict:
    mode = s.pipeline.mode.value
    return {"mode": mode, "robot": s.settings.robot, "controller": s.controller_label,
            "estop_latched": mode == "estop", "hardware_connected": is_hardware(s.robot),
            "intent_source": s.pipeline.intent_source(),
            "safety_fault": s.pipeline.safety.last_fault or None,
            # Why a hardware robot may not be armed now (null: it may, or it is the twin).
            "hardware_gate": (s.pipeline.arm_gate() or None) if s.pipeline.arm_gate else None}  # fmt: skip


def _api_router(s: Services) -> APIRouter:
    router = APIRouter(prefix=API)

    def operator(
        response: Response,
        authorization: str | None = Header(None),
        x_operator_lease: str | None = Header(None),
    ) -> str | None:
        """Token (401/403), then the lease (409 while another operator holds it)."""
        s.token.check(authorization)
        lease = s.leases.for_control(x_operator_lease)
        if lease is None:
            return None
        response.headers["X-Operator-Lease"] = lease.lease_id
        return lease.lease_id

    async def safety_request(action: str, lease: str | None = None) -> dict:
        # A refused request still tells the caller which lease it holds.
        headers = {"X-Operator-Lease": lease} if lease else None
        try:
            # In the threadpool: it may wait up to one control tick for the Safety lock.
            await run_in_threadpool(s.pipeline.apply, action)
        except SafetyRefusal as exc:
            raise HTTPException(409, str(exc), headers=headers) from exc
        return _robot_status(s)

    @router.get("/health")
    def health() -> dict:
        return {"status": "ok", "robot": s.settings.robot, "controller": s.controller_label,
                "mode": s.pipeline.mode.value, "version": API_VERSION}  # fmt: skip

    @router.post("/offer")
    async def offer(body: OfferBody) -> dict:
        view = "third_person" if body.view == "third-person" else body.view
        try:
            return await s.rtc.offer(body.sdp, body.type, view)
        except ValueError as exc:  # aiortc: malformed SDP
            raise HTTPException(422, f"bad SDP offer: {exc}") from exc

    @router.get("/robot")
    def robot_status() -> dict:
        return _robot_status(s)

    def lease_route(take):
        def route(
            authorization: str | None = Header(None), x_operator_lease: str | None = Header(None)
        ) -> dict:
            s.token.check(authorization)
            held = take(x_operator_lease)
            return {"lease_id": held.lease_id, "expires_in_s": s.leases.lease_s}

        return route

    router.post("/operator/lease", name="acquire_lease")(lease_route(s.leases.acquire))
    router.post("/operator/lease/renew", name="renew_lease")(lease_route(s.leases.renew))

    @router.post("/robot/arm")
    async def arm(lease: str | None = Depends(operator)) -> dict:
        return await safety_request("arm", lease)

    @router.post("/robot/stop")
    async def stop(lease: str | None = Depends(operator)) -> dict:
        return await safety_request("stop", lease)

    @router.post("/robot/estop")
    async def estop() -> dict:  # no token, no lease: anyone may stop the robot
        return await safety_request("estop")

    @router.post("/robot/rearm")
    async def rearm(lease: str | None = Depends(operator)) -> dict:
        return await safety_request("rearm", lease)

    @router.post("/robot/override")
    def override(body: OverrideBody, _: str | None = Depends(operator)) -> dict:
        if body.clear:
            s.pipeline.set_override(None)
        else:
            s.pipeline.set_override(VelocityCommand(body.vx, body.vy, body.yaw_rate))
        return _robot_status(s)

    @router.post("/jobs", status_code=202, openapi_extra=_UPLOAD_SCHEMA)
    async def create_job(request: Request) -> dict:
        return await _accept_upload(s, request)

    @router.get("/jobs")
    def list_jobs() -> list[dict]:
        return [job_view(j, s.jobs.job_dir(j.id), f"{API}/jobs", with_series=False)
                for j in s.jobs.store.list()]  # fmt: skip

    def get_job_or_404(job_id: str):
        job = s.jobs.store.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    @router.get("/jobs/{job_id}")
    def get_job(job_id: str) -> dict:
        return job_view(get_job_or_404(job_id), s.jobs.job_dir(job_id), f"{API}/jobs")

    @router.delete("/jobs/{job_id}")
    def cancel_job(job_id: str) -> dict:
        job = get_job_or_404(job_id)
        if not s.jobs.cancel(job_id):
            raise HTTPException(409, f"job {job_id} has already ended ({job.status})")
        return job_view(s.jobs.store.get(job_id), s.jobs.job_dir(job_id), f"{API}/jobs")

    @router.post("/plan/arm", status_code=202, openapi_extra=_ARM_PLAN_SCHEMA)
    async def plan_arm(request: Request) -> dict:
        return await _accept_arm_plan(s, request)

    @router.post("/plan/visual", status_code=202, openapi_extra=_VISUAL_PLAN_SCHEMA)
    async def plan_visual(request: Request) -> dict:
        problem = s.jobs.config.image_planner.problem()
        if problem is not None:  # before reading the body: nothing to stage
            raise HTTPException(503, problem)
        return await _accept_visual_plan(s, request)

    @router.post("/plan/rigvid", status_code=202, openapi_extra=_RIGVID_PLAN_SCHEMA)
    async def plan_rigvid(request: Request) -> dict:
        return await _accept_rigvid_plan(s, request)

    @router.get("/jobs/{job_id}/files/{name}")
    def job_file(job_id: str, name: str):
        job = get_job_or_404(job_id)
        if name not in job.files:
            raise HTTPException(404, f"no file {name!r}; expected one of {list(job.files)}")
        path = s.jobs.job_dir(job_id) / name
        if not path.is_file():
            raise HTTPException(404, f"{name} is not ready (job {job.status})")
        return FileResponse(path)

    @router.post("/jobs/{job_id}/send-to-robot")
    def send_to_robot(job_id: str, _: str | None = Depends(operator)) -> dict:
        job = get_job_or_404(job_id)
        view = job_view(job, s.jobs.job_dir(job_id), f"{API}/jobs")
        if job.status != "done" or not (view["report"] or {}).get("passed"):
            raise HTTPException(409, "only a job that passed validation in the twin can be sent")
        if not is_hardware(s.robot):
            raise HTTPException(409, f"no hardware robot is connected (robot: {s.settings.robot})")
        raise HTTPException(501, "sending validated motions to hardware is not implemented yet")

    @router.websocket("/telemetry")
    async def telemetry(ws: WebSocket):
        await ws.accept()
        client = WsClient()
        s.hub.websockets.add(client)
        session_id = f"ws-{id(client):x}"

        async def replies():  # ping -> pong; clock messages need a video session: ignored
            while True:
                reply = handle_client_message(await ws.receive_text(), None)
                if reply is not None:
                    client.offer(reply, "mode")  # never dropped, like mode messages

        reader = asyncio.ensure_future(replies())
        try:
            await ws.send_text(json.dumps(s.pipeline.hello(session_id)))
            await ws.send_text(json.dumps(s.pipeline.mode_message("current")))
            while not reader.done():
                try:
                    await asyncio.wait_for(client.ready.wait(), 1.0)
                except TimeoutError:
                    continue
                for text in client.take():
                    await ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            s.hub.websockets.discard(client)

    return router


_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary"},
                "view": {"type": "string", "enum": ["egocentric", "third_person"]},
            },
        }}},
    },
    "responses": {"413": {"description": "too big"}, "415": {"description": "not a video"},
                  "422": {"description": "empty or corrupt"}},
}  # fmt: skip
_ARM_PLAN_SCHEMA = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["points"], "additionalProperties": False,
        "properties": {
            "points": {"type": "array", "items": {"type": "array", "items": {"type": "number"},
                                                  "minItems": 3, "maxItems": 3}},
            "side": {"type": "string", "enum": ["left", "right"]},
            "relative": {"type": "boolean"},
            "speed_mps": {"type": "number"},
        },
    }}}},
    "responses": {"422": {"description": "malformed or out-of-range request"}},
}  # fmt: skip
_VISUAL_PLAN_SCHEMA = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "instruction": {"type": "string"},
            "trajectory": {"type": "string", "description": "JSON [[x, y], ...] pixels"},
        },
    }}}},
    "responses": {"422": {"description": "malformed request"},
                  "503": {"description": "the visual planner is not configured"}},
}  # fmt: skip
_RIGVID_PLAN_SCHEMA = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "npz: docs/service-api.md"},
            "side": {"type": "string", "enum": ["left", "right"]},
            "fps": {"type": "number"},
            "grasp_index": {"type": "integer"},
        },
    }}}},
    "responses": {"422": {"description": "malformed request or arrays"}},
}  # fmt: skip


def _check_length(request: Request, cap: int, framing: int = 0) -> None:
    """Browsers and HTTP clients send Content-Length with bodies: one announced larger than
    the cap (+ ``framing``, multipart's own bytes) is refused before a byte is read."""
    length = request.headers.get("content-length")
    if length is None:
        raise HTTPException(411, "uploads need a Content-Length header")
    if int(length) > cap + framing:
        raise HTTPException(413, f"the file is larger than the {cap / 1e6:.0f} MB upload limit")


@asynccontextmanager
async def _staged(s: Services, request: Request, fields: tuple[str, ...]
                  ) -> AsyncIterator[tuple[dict, str]]:  # fmt: skip
    """(form, job id) of a multipart request within the upload cap, with only ``fields``.

    The job's inputs go to ``s.jobs.staging_dir(job_id)``, which ``JobManager.submit``
    renames into the job folder; whatever refuses the request, the folder is removed and
    nothing is left behind."""
    _check_length(request, s.settings.upload_max_bytes, MULTIPART_OVERHEAD_BYTES)
    form = await request.form(max_files=1, max_fields=len(fields))
    job_id = new_job_id()
    staging = s.jobs.staging_dir(job_id)
    try:
        unknown = sorted(set(form.keys()) - set(fields))
        if unknown:
            raise HTTPException(422, f"unknown form fields {unknown}; expected {list(fields)}")
        yield form, job_id
    finally:
        await form.close()
        if staging.exists():
            await run_in_threadpool(shutil.rmtree, staging, True)


async def _save_file(s: Services, form, job_id: str, name: str, types: tuple[str, ...]
                     ) -> Path:  # fmt: skip
    """Copy the form's ``file`` (one of ``types``) into the staging folder as ``name.<ext>``
    under the upload cap (enforced again while copying: a lying header gains nothing)."""
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPException(422, "multipart field 'file' is missing")
    ext = Path(upload.filename or "").suffix.lower().lstrip(".")
    if ext not in types:
        raise HTTPException(
            415, f"unsupported file type {ext or '(none)'!r}; expected one of {', '.join(types)}"
        )
    cap = s.settings.upload_max_bytes
    staging = s.jobs.staging_dir(job_id)
    staging.mkdir(parents=True, exist_ok=True)
    dest = staging / f"{name}.{ext}"
    if await run_in_threadpool(_copy_capped, upload.file, dest, cap) > cap:
        raise HTTPException(413, f"the file is larger than the {cap / 1e6:.0f} MB upload limit")
    return dest


async def _accept_upload(s: Services, request: Request) -> dict:
    """Stream the upload to the staging folder under a size cap, probe it, queue the job."""
    async with _staged(s, request, ("file", "view")) as (form, job_id):
        view = str(form.get("view") or "egocentric").replace("-", "_")
        if view not in ("egocentric", "third_person"):
            raise HTTPException(422, f"view: expected egocentric or third_person, got {view!r}")
        path = await _save_file(s, form, job_id, "input", s.settings.upload_types)
        try:
            await run_in_threadpool(probe_upload, path)
        except UploadRejected as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        job = await run_in_threadpool(s.jobs.submit, job_id, path.name, view, s.job_controller)
        return job_view(job, s.jobs.job_dir(job_id), f"{API}/jobs")


async def _submit_plan(s: Services, job_id: str, planner: str, params: dict, input_name: str,
                       controller: str) -> dict:  # fmt: skip
    """Write the checked request's parameters beside its staged inputs and queue the job."""
    staging = s.jobs.staging_dir(job_id)
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "input.json").write_text(json.dumps(params))
    job = await run_in_threadpool(s.jobs.submit, job_id, input_name, "", controller,
                                  job_kind(planner))  # fmt: skip
    return job_view(job, s.jobs.job_dir(job_id), f"{API}/jobs")


async def _accept_arm_plan(s: Services, request: Request) -> dict:
    _check_length(request, PLAN_JSON_MAX_BYTES)
    try:
        body = json.loads(await request.body())
        plan = ArmPlanRequest.from_json(body)
    except ValueError as exc:  # json.JSONDecodeError and PlanRequestError alike
        raise HTTPException(422, f"arm plan: {exc}") from exc
    job_id = new_job_id()
    try:
        return await _submit_plan(s, job_id, "arm", plan.to_json(), "input.json",
                                  ARM_PLAN_CONTROLLER)  # fmt: skip
    finally:
        shutil.rmtree(s.jobs.staging_dir(job_id), ignore_errors=True)


def _form_json(form, name: str):
    """A form field holding JSON (a trajectory), or None when absent or empty."""
    text = form.get(name)
    if text is None or text == "":
        return None
    try:
        return json.loads(str(text))
    except ValueError as exc:
        raise PlanRequestError(f"{name}: not valid JSON ({exc})") from exc


def _decode_frame(path: Path, request: VisualPlanRequest) -> None:
    """The uploaded image -> input.png (one format for the job child); the raw file goes."""
    frame = decode_image(path.read_bytes())
    request.check_frame(frame)
    write_png(path.with_name("input.png"), frame)
    if path.name != "input.png":
        path.unlink()


async def _accept_visual_plan(s: Services, request: Request) -> dict:
    async with _staged(s, request, ("file", "instruction", "trajectory")) as (form, job_id):
        try:
            plan = VisualPlanRequest.from_json({"instruction": str(form.get("instruction") or ""),
                                                "trajectory": _form_json(form, "trajectory")})  # fmt: skip
            path = await _save_file(s, form, job_id, "upload", IMAGE_TYPES)
            await run_in_threadpool(_decode_frame, path, plan)
        except PlanRequestError as exc:
            raise HTTPException(422, str(exc)) from exc
        return await _submit_plan(s, job_id, "visual", plan.to_json(), "input.png", "")


def _form_number(form, name: str, kind: type):
    text = form.get(name)
    if text is None or text == "":
        return None
    try:
        return kind(str(text))
    except ValueError as exc:
        raise PlanRequestError(f"{name}: expected {kind.__name__}, got {text!r}") from exc


def _check_rigvid(path: Path, request: RigvidPlanRequest) -> None:
    RigvidInput.load(path).check(request)


async def _accept_rigvid_plan(s: Services, request: Request) -> dict:
    fields = ("file", "side", "fps", "grasp_index")
    async with _staged(s, request, fields) as (form, job_id):
        try:
            params = {"side": str(form.get("side") or "right"),
                      "fps": _form_number(form, "fps", float),
                      "grasp_index": _form_number(form, "grasp_index", int)}  # fmt: skip
            plan = RigvidPlanRequest.from_json({k: v for k, v in params.items() if v is not None})
            path = await _save_file(s, form, job_id, "input", ("npz",))
            await run_in_threadpool(_check_rigvid, path, plan)
        except PlanRequestError as exc:
            raise HTTPException(422, str(exc)) from exc
        return await _submit_plan(s, job_id, "rigvid", plan.to_json(), "input.npz",
                                  ARM_PLAN_CONTROLLER)  # fmt: skip


def _copy_capped(src, dest: Path, cap: int) -> int:
    """Copy until EOF or one byte past the cap; returns the bytes copied."""
    size = 0
    with open(dest, "wb") as out:
        while size <= cap:
            chunk = src.read(min(CHUNK_BYTES, cap + 1 - size))
            if not chunk:
                break
            out.write(chunk)
            size += len(chunk)
    return size


# -- static pages ---------------------------------------------------------------------------------


def _missing_page(what: Path) -> HTMLResponse:
    body = (
        "<!doctype html><title>humanoid-teleop: page missing</title>"
        "<h1>The browser client is not installed</h1>"
        f"<p>Expected <code>{html.escape(str(what))}</code>. The pages live in "
        "<code>client-web/</code> of the repository (three.js via <code>npm ci --prefix "
        "client-web</code>); point <code>HT_CLIENT_DIR</code> elsewhere if you moved them. "
        f"The API is up: <a href='{API}/health'>{API}/health</a>.</p>"
    )
    return HTMLResponse(body, status_code=503)


def _mount_static(app: FastAPI, settings: ServerSettings) -> None:
    client = settings.resolved_client_dir

    def page(name: str):
        path = client / name
        return FileResponse(path) if path.is_file() else _missing_page(path)

    app.get("/", include_in_schema=False)(lambda: page("index.html"))
    app.get("/upload", include_in_schema=False)(lambda: page("upload.html"))
    app.get("/jobs/{job_id}", include_in_schema=False)(lambda job_id: page("job.html"))

    g1_json: dict = {}

    @app.get("/models/g1/g1.json", include_in_schema=False)
    async def g1_model():
        if not g1_json:  # built on first use: parsing the MJCF takes a moment
            from humanoid_teleop.server.g1_model import g1_description

            g1_json.update(await run_in_threadpool(g1_description))
        return g1_json

    three = client / "node_modules" / "three"
    for prefix, folder in (("/static", client), ("/vendor/three", three)):
        if folder.is_dir():
            app.mount(prefix, StaticFiles(directory=folder), name=prefix.strip("/"))
        else:
            app.get(prefix + "/{path:path}", include_in_schema=False)(
                lambda path, folder=folder: _missing_page(folder)
            )
    try:
        from humanoid_teleop.sim.model import g1_mesh_dir

        app.mount("/models/g1", StaticFiles(directory=g1_mesh_dir()), name="g1-meshes")
    except Exception as exc:  # noqa: BLE001 - mjlab missing: the API works, the 3D view not
        log.warning("G1 meshes unavailable: %s", exc)
