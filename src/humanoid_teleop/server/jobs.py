"""Jobs (video-upload imitation and manipulation plans): an SQLite table, a folder per job,
and a bounded pool of workers that run each job in a child process at lower CPU priority.

- ``JobStore``: the ``jobs`` table (stdlib sqlite3, WAL: the server's threads and the job
  children write to it). Statuses: queued -> running -> done | failed | cancelled. ``kind``:
  ``imitation`` (an upload) or ``plan-<planner>`` (``manip.plans``); a database from before
  the column existed gains it on open, its rows being imitation jobs.
- ``probe_upload``: an upload is accepted only if PyAV can open it and decode a frame;
  ``UploadRejected`` carries the HTTP status (413 too big, 415 not a video, 422 empty or
  corrupt) and a message for the page.
- ``JobManager``: ``job_workers`` threads; each claims the oldest queued job and runs
  ``python -m humanoid_teleop.server.jobs`` (``humanoid_teleop.imitation`` or the planner)
  under ``os.nice`` so a job cannot starve the 50 Hz control loop. The child reports
  progress (stage + fraction) straight into SQLite. Cancel kills the child's process group
  and removes partial files. On start, jobs left ``running`` by a previous server are
  queued again; finished results stay.

Folder layout: ``<data_dir>/jobs/<id>/`` with the job's inputs (``input.<ext>``; plans:
``plans.PLAN_INPUTS``) and artifacts (``imitation.ARTIFACTS``; plans: ``plans.PLAN_ARTIFACTS``);
``log.txt`` holds the child's stderr. A job's inputs are staged in a folder under
``<data_dir>/uploads/`` and renamed into place when it is queued.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from humanoid_teleop.imitation import ARTIFACTS
from humanoid_teleop.manip.plans import (
    BULKY_REPORT_KEYS,
    PLAN_ARTIFACTS,
    PLAN_INPUTS,
    ImagePlannerSource,
    planner_of,
)

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "done", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    view TEXT NOT NULL,
    input_name TEXT NOT NULL,
    controller TEXT NOT NULL,
    created_s REAL NOT NULL,
    updated_s REAL NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'imitation'
)"""
IMITATION = "imitation"


@dataclass(frozen=True)
class Job:
    id: str
    status: str
    view: str
    input_name: str
    controller: str
    created_s: float  # wall clock (time.time), for display
    updated_s: float
    progress: float
    stage: str
    error: str
    kind: str = IMITATION

    @property
    def files(self) -> tuple[str, ...]:
        """Every file a client may fetch from the job's folder: inputs, then artifacts."""
        if self.kind == IMITATION:
            return (self.input_name, *ARTIFACTS)
        planner = planner_of(self.kind)
        return (*PLAN_INPUTS[planner], *PLAN_ARTIFACTS[planner])

    @property
    def artifacts(self) -> tuple[str, ...]:
        """What the job writes (removed again when it fails or is cancelled)."""
        return ARTIFACTS if self.kind == IMITATION else PLAN_ARTIFACTS[planner_of(self.kind)]


class JobStore:
    """The job table. A connection per call: used from threads and from child processes."""

    def __init__(self, db_path: Path):
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")  # one process migrates; the others see the result
            db.execute(_SCHEMA)
            columns = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
            if "kind" not in columns:  # a database from before plan jobs: all imitation
                db.execute(f"ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT '{IMITATION}'")
            db.execute("COMMIT")

    @contextlib.contextmanager
    def _db(self):
        db = sqlite3.connect(self.db_path, timeout=10.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    def insert(self, job_id: str, view: str, input_name: str, controller: str,
               kind: str = IMITATION) -> Job:  # fmt: skip
        now = time.time()
        with self._db() as db:
            db.execute(
                "INSERT INTO jobs (id, status, view, input_name, controller, created_s, "
                "updated_s, kind) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?)",
                (job_id, view, input_name, controller, now, now, kind),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job(**dict(row)) if row else None

    def list(self, limit: int = 200) -> list[Job]:
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM jobs ORDER BY created_s DESC LIMIT ?", (limit,)
            ).fetchall()
        return [Job(**dict(r)) for r in rows]

    def claim_next(self) -> Job | None:
        """Atomically move the oldest queued job to running."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_s LIMIT 1"
            ).fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            db.execute(
                "UPDATE jobs SET status = 'running', stage = 'starting', progress = 0, "
                "updated_s = ? WHERE id = ?",
                (time.time(), row["id"]),
            )
            db.execute("COMMIT")
        return self.get(row["id"])

    def set_progress(self, job_id: str, stage: str, fraction: float) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE jobs SET stage = ?, progress = ?, updated_s = ? "
                "WHERE id = ? AND status = 'running'",
                (stage, float(min(max(fraction, 0.0), 1.0)), time.time(), job_id),
            )

    def finish(self, job_id: str, status: str, error: str = "") -> None:
        """running -> done | failed (a cancel that won the race stays cancelled)."""
        progress = 1.0 if status == "done" else None
        with self._db() as db:
            db.execute(
                "UPDATE jobs SET status = ?, error = ?, progress = COALESCE(?, progress), "
                "stage = ?, updated_s = ? WHERE id = ? AND status = 'running'",
                (status, error, progress, status, time.time(), job_id),
            )

    def cancel(self, job_id: str) -> bool:
        """queued | running -> cancelled; False if the job had already ended."""
        with self._db() as db:
            cur = db.execute(
                "UPDATE jobs SET status = 'cancelled', stage = 'cancelled', updated_s = ? "
                "WHERE id = ? AND status IN ('queued', 'running')",
                (time.time(), job_id),
            )
            return cur.rowcount == 1

    def requeue_running(self) -> list[str]:
        """Jobs a previous server left running go back to the queue."""
        with self._db() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM jobs WHERE status = 'running'")]
            db.execute(
                "UPDATE jobs SET status = 'queued', stage = 'requeued', progress = 0 "
                "WHERE status = 'running'"
            )
        return ids


# -- uploads ----------------------------------------------------------------------------------


class UploadRejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _looks_like_media(head: bytes) -> bool:
    """Container signatures of the accepted types: a file that starts like one but does not
    open is corrupt or truncated (422), anything else is not a video at all (415)."""
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")  # mp4 / mov
        or head[:4] == b"\x1a\x45\xdf\xa3"  # EBML: webm / mkv
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or head[:4] == b"GIF8"
    )


def probe_upload(path: Path) -> dict:
    """Open the file with PyAV and decode its first frame; UploadRejected if that fails."""
    import av

    size = path.stat().st_size
    if size == 0:
        raise UploadRejected(422, "the file is empty")
    with open(path, "rb") as f:
        head = f.read(16)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        if _looks_like_media(head):
            raise UploadRejected(
                422, f"the video is corrupt or truncated and cannot be opened ({exc})"
            ) from exc
        raise UploadRejected(415, "the file is not a video (no known container format)") from exc
    try:
        if not container.streams.video:
            raise UploadRejected(415, "the file has no video stream")
        stream = container.streams.video[0]
        try:
            frame = next(iter(container.decode(stream)), None)
        except av.FFmpegError as exc:
            raise UploadRejected(422, f"the video is corrupt: no frame decodes ({exc})") from exc
        if frame is None:
            raise UploadRejected(422, "the video has no decodable frames")
        duration = float(stream.duration * stream.time_base) if stream.duration else None
        if duration is None and container.duration:
            duration = container.duration / 1e6
        return {"width": frame.width, "height": frame.height, "duration_s": duration,
                "codec": stream.codec_context.name}  # fmt: skip
    finally:
        container.close()


def new_job_id() -> str:
    return secrets.token_hex(6)


# -- workers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRunnerConfig:
    workers: int = 1
    nice: int = 10
    preview_width: int = 320
    preview_height: int = 240
    poll_s: float = 0.1
    image_planner: ImagePlannerSource = field(default_factory=ImagePlannerSource)  # visual planner


class JobManager:
    """The bounded worker pool. ``start``/``stop`` belong to the server's lifespan."""

    def __init__(self, data_dir: Path, config: JobRunnerConfig | None = None):
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self.uploads_dir = self.data_dir / "uploads"
        self.config = config or JobRunnerConfig()
        self.store = JobStore(self.data_dir / "jobs.sqlite")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def start(self) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.uploads_dir.glob(".upload-*"):  # uploads cut off by a crash
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        for job_id in self.store.requeue_running():
            log.info("job %s was running when the server stopped: queued again", job_id)
            _kill_orphan(self.job_dir(job_id) / "child.pid")  # a server killed hard left it
            self._remove_partials(job_id)
        self._stop.clear()
        for i in range(self.config.workers):
            t = threading.Thread(target=self._worker, name=f"job-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Stop the workers; running children are killed and their jobs stay ``running``
        in the table, so the next start queues them again."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=10.0)
        self._threads.clear()

    def staging_dir(self, job_id: str) -> Path:
        """Where a request's inputs are written and checked before the job exists."""
        return self.uploads_dir / f".upload-{job_id}"

    def submit(self, job_id: str, input_name: str, view: str, controller: str,
               kind: str = IMITATION) -> Job:  # fmt: skip
        """Rename the checked inputs (``staging_dir``) into the job folder and queue it."""
        os.replace(self.staging_dir(job_id), self.job_dir(job_id))
        job = self.store.insert(job_id, view, input_name, controller, kind)
        self._wake.set()
        return job

    def cancel(self, job_id: str) -> bool:
        if not self.store.cancel(job_id):
            return False
        with self._lock:
            proc = self._procs.get(job_id)
        if proc is not None:
            _kill_group(proc)
        else:
            self._remove_partials(job_id)
        return True

    def _remove_partials(self, job_id: str) -> None:
        folder = self.job_dir(job_id)
        for path in folder.glob(".work-*"):
            shutil.rmtree(path, ignore_errors=True)
        job = self.store.get(job_id)
        for name in job.artifacts if job is not None else ARTIFACTS:
            (folder / name).unlink(missing_ok=True)

    def _worker(self) -> None:
        while not self._stop.is_set():
            job = self.store.claim_next()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self._run(job)
            except Exception as exc:  # a worker must survive any one job
                log.exception("job %s failed in the worker", job.id)
                self.store.finish(job.id, "failed", f"{type(exc).__name__}: {exc}")

    def _run(self, job: Job) -> None:
        folder = self.job_dir(job.id)
        c = self.config
        if job.kind == IMITATION:
            options = {"input_name": job.input_name, "view": job.view,
                       "controller": job.controller, "preview_width": c.preview_width,
                       "preview_height": c.preview_height}  # fmt: skip
        else:
            options = {"image_planner": c.image_planner.to_json()}
        cmd = [sys.executable, "-m", "humanoid_teleop.server.jobs", str(self.store.db_path),
               job.id, str(folder), str(c.nice), job.kind, json.dumps(options)]  # fmt: skip
        env = dict(os.environ, OMP_NUM_THREADS="1")
        with open(folder / "log.txt", "ab") as logfile:
            # A new session: cancel kills the child and anything it started, together.
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logfile,
                                    stderr=logfile, env=env, start_new_session=True)  # fmt: skip
            (folder / "child.pid").write_text(str(proc.pid))
            with self._lock:
                self._procs[job.id] = proc
            try:
                while proc.poll() is None:
                    if self._stop.wait(c.poll_s):
                        _kill_group(proc)
            finally:
                with self._lock:
                    self._procs.pop(job.id, None)
        current = self.store.get(job.id)
        if current is not None and current.status == "cancelled":
            self._remove_partials(job.id)
        elif self._stop.is_set():
            self._remove_partials(job.id)  # left running: queued again on the next start
        elif proc.returncode == 0 and (folder / "report.json").is_file():
            self.store.finish(job.id, "done")
        else:
            self._remove_partials(job.id)
            self.store.finish(job.id, "failed", _last_error(folder / "log.txt", proc.returncode))


def _kill_orphan(pid_file: Path) -> None:
    """Kill a job child that outlived its server (it runs in its own session), if the pid
    still belongs to a job child and not to a process that reused the number."""
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"humanoid_teleop.server.jobs" in cmdline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)


def _last_error(log_path: Path, returncode: int | None) -> str:
    try:
        lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines()]
    except OSError:
        lines = []
    for line in reversed(lines):
        if line.startswith("error: "):
            return line[len("error: ") :]
    last = next((ln for ln in reversed(lines) if ln), "")
    return last or f"the job process exited with status {returncode}"


def job_view(job: Job, folder: Path, url_prefix: str, *, with_series: bool = True) -> dict:
    """The API's description of a job. ``with_series=False`` (listings) leaves out the bulky
    parts of the report: the plot series, a plan's joint trajectory and palm path."""
    files = {}
    for name in job.files:
        if (folder / name).is_file():
            files[name] = f"{url_prefix}/{job.id}/files/{name}"
    report = None
    if job.status == "done" and (folder / "report.json").is_file():
        try:
            report = json.loads((folder / "report.json").read_text())
        except ValueError:
            report = None
        if report is not None and not with_series:
            for key in ("series", *BULKY_REPORT_KEYS):
                report.pop(key, None)
    return {"id": job.id, "kind": job.kind, "status": job.status,
            "progress": round(job.progress, 3), "stage": job.stage, "error": job.error or None,
            "view": job.view or None, "created_s": job.created_s,
            "controller": job.controller or None, "input": job.input_name, "files": files,
            "report": report}  # fmt: skip


# -- the child process ---------------------------------------------------------------------------


def _child_main(argv: list[str]) -> int:
    db, job_id, folder, nice, kind, options_json = argv
    os.nice(int(nice))
    from humanoid_teleop.sim.render import ensure_gl_backend

    ensure_gl_backend()
    from humanoid_teleop.imitation import ImitationConfig, run_imitation
    from humanoid_teleop.manip.plans import plan_errors, run_plan_job

    options = json.loads(options_json)
    store = JobStore(Path(db))
    last = [0.0]

    def progress(stage: str, fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.25 or fraction >= 1.0:  # a few writes per second at most
            last[0] = now
            store.set_progress(job_id, stage, fraction)

    from humanoid_teleop.cli import _user_errors

    try:
        if kind == IMITATION:
            input_name = options.pop("input_name")
            run_imitation(Path(folder) / input_name, Path(folder), ImitationConfig(**options),
                          progress)  # fmt: skip
        else:
            source = ImagePlannerSource.from_json(options["image_planner"])
            run_plan_job(kind, Path(folder), source, progress)
    except (*_user_errors(), *plan_errors()) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
