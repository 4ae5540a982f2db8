"""The Dockerfile stays consistent with the Makefile, .ci/run and the server's defaults.

No Docker daemon is available here (PLATFORM.md), so the image cannot be built in tests; the
file is parsed instead and its instructions are checked against the sources of truth.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"

# Packages .ci/run installs only for the tests (the end-to-end browser) or for a system Python
# venv; the image has its own Python and runs no tests.
TEST_ONLY_PACKAGES = {"chromium", "chromium-driver", "python3-venv"}


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        current += line
        keyword, _, args = current.strip().partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        current = ""
    if current:
        raise ValueError(f"Dockerfile ends inside a continued line: {current!r}")
    return instructions


def exec_form(args: str) -> list[str]:
    """CMD/ENTRYPOINT arguments as a list (JSON exec form or shell form)."""
    if args.startswith("["):
        return json.loads(args)
    return shlex.split(args)


def apt_packages(shell: str) -> set[str]:
    """Package names of every `apt-get install` in a shell snippet (options dropped)."""
    packages: set[str] = set()
    joined = re.sub(r"\\\n", " ", shell)  # continuation lines -> one command line
    for match in re.finditer(r"apt-get\s+install\s+([^;&|\n]*)", joined):
        for word in match.group(1).split():
            if not word.startswith("-") and not word.startswith("$"):
                packages.add(word)
    return packages


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    assert DOCKERFILE.is_file(), "Dockerfile missing at the repository root"
    return parse_dockerfile(DOCKERFILE.read_text())


def _all(instructions, keyword: str) -> list[str]:
    return [args for kw, args in instructions if kw == keyword]


def test_parser_joins_continuations_and_drops_comments():
    parsed = parse_dockerfile("# c\nFROM x:1\nRUN a \\\n  # inner\n  && b\nUSER u\n")
    assert parsed == [("FROM", "x:1"), ("RUN", "a && b"), ("USER", "u")]


def test_base_image_is_python_311_slim(instructions):
    froms = _all(instructions, "FROM")
    assert froms, "no FROM"
    assert froms[-1].split()[0] == "python:3.11-slim"
    assert instructions[0][0] in {"FROM", "ARG"}


def test_system_packages_match_ci(instructions):
    ci = (ROOT / ".ci" / "run").read_text()
    needed = apt_packages(ci) - TEST_ONLY_PACKAGES
    assert needed, ".ci/run installs no packages? the parser is out of date"
    installed = apt_packages(" ".join(_all(instructions, "RUN")))
    assert needed <= installed, f"missing from the Dockerfile: {sorted(needed - installed)}"
    assert not installed & {"chromium", "chromium-driver"}, "the image needs no browser"


def test_installs_through_make_setup(instructions):
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^setup:", makefile, re.MULTILINE), "the Makefile has no setup target"
    runs = _all(instructions, "RUN")
    assert any(re.search(r"\bmake\s+setup\b", r) for r in runs), "the image must run `make setup`"
    # The Python and npm install steps live in the Makefile only: a second copy here would drift.
    for r in runs:
        assert not re.search(r"\bpip\b.*\binstall\b", r), f"pip install outside the Makefile: {r}"
        assert not re.search(r"\bnpm\s+(ci|install)\b", r), f"npm install outside the Makefile: {r}"
    # The project is in the image before `make setup` runs.
    keywords = [kw for kw, _ in instructions]
    setup_at = next(i for i, (kw, a) in enumerate(instructions)
                    if kw == "RUN" and "make setup" in a)  # fmt: skip
    assert "COPY" in keywords[:setup_at], "COPY the project before `make setup`"


def test_dockerignore_keeps_local_environments_out():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}  # fmt: skip
    # A copied .venv (with its .installed stamp) would make `make setup` a no-op in the image.
    assert {".venv", "client-web/node_modules", ".git"} <= ignored


def test_exposes_the_serve_default_port(instructions):
    from humanoid_teleop.server.settings import ServerSettings

    default_port = ServerSettings.model_fields["port"].default
    exposed = [p.split("/")[0] for args in _all(instructions, "EXPOSE") for p in args.split()]
    assert exposed == [str(default_port)]
    command = exec_form(_all(instructions, "CMD")[-1])
    if "--port" in command:
        assert command[command.index("--port") + 1] == str(default_port)


def test_runs_as_a_non_root_user(instructions):
    users = _all(instructions, "USER")
    assert users, "no USER: the service would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    # The user is created in the image (a USER that does not exist fails at run time).
    runs = " ".join(_all(instructions, "RUN"))
    assert re.search(rf"\b(useradd|adduser)\b[^&;]*\b{re.escape(user)}\b", runs)
    # USER comes after the root-only steps (apt, make setup).
    last_user = max(i for i, (kw, _) in enumerate(instructions) if kw == "USER")
    setup_runs = [i for i, (kw, a) in enumerate(instructions) if kw == "RUN" and "make setup" in a]
    assert last_user > max(setup_runs, default=-1)


def test_command_runs_serve_on_all_interfaces(instructions):
    entry = _all(instructions, "ENTRYPOINT")
    cmds = _all(instructions, "CMD")
    assert cmds or entry, "no CMD or ENTRYPOINT"
    argv = (exec_form(entry[-1]) if entry else []) + (exec_form(cmds[-1]) if cmds else [])
    assert Path(argv[0]).name == "humanoid-teleop", argv
    assert argv[1] == "serve", argv
    assert "--host" in argv and argv[argv.index("--host") + 1] == "0.0.0.0"
