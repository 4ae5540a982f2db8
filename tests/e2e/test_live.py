"""The live page against a real server: WebRTC with Chromium's fake camera, telemetry, the 3D
robot, operator controls, keyboard override and the e-stop latency budget (100 ms).

One page (one WebRTC session) is shared by the tests of this module, in file order: setting
up the session and loading 20 MB of meshes per test would cost more than all assertions.
The page exposes `window.__teleop` (see client-web/js/live.js) so the tests check behaviour
without reading pixels.
"""

from __future__ import annotations

import time

import pytest

from .conftest import collect_console

pytestmark = pytest.mark.e2e

ESTOP_BUDGET_MS = 100.0


def _wait(page, expression: str, timeout_ms: int = 20_000, arg=None):
    return page.wait_for_function(expression, arg=arg, timeout=timeout_ms)


def _page_log(page) -> list[str]:
    """The page's event log, newest first (for assertion messages)."""
    return page.locator("#log li").all_text_contents()[:12]


def _mode(page) -> str:
    return page.evaluate("window.__teleop.displayedMode")


def _arm(page, server, timeout_ms: int = 30_000) -> None:
    """Re-arm (if latched) and arm through the page's buttons; wait for active.

    A twin that ended in damping (it fell, or a fault) is e-stopped first: only a re-arm
    puts it back on its gantry so that the ramp can stand it up again.
    """
    if _mode(page) == "damping":
        server.post_json("/api/v1/robot/estop")
        _wait(page, "window.__teleop.displayedMode === 'estop'")
    if _mode(page) == "estop":
        page.click("#rearm")
        _wait(page, "['damping', 'passive'].includes(window.__teleop.displayedMode)")
    page.click("#arm")
    _wait(page, "window.__teleop.displayedMode === 'active'", timeout_ms=timeout_ms)


@pytest.fixture(scope="module")
def live(browser, server, artifacts_dir):
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=server.base_url)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    errors = collect_console(page)
    page.goto("/")
    _wait(page, "window.__teleop !== undefined")
    page.errors = errors
    try:
        yield page
    finally:
        page.screenshot(path=str(artifacts_dir / "live-final.png"))
        ctx.close()


def test_page_loads_the_robot_model(live, artifacts_dir):
    # With a GPU, all meshes of g1.json loaded (and none failed); on a software rasteriser
    # (this headless Chromium: --disable-gpu) the 33 collision capsules and spheres instead.
    # The tree has the 29 hinges either way.
    _wait(
        live,
        "(() => { const p = window.__teleop.robotPose();"
        " return p.detail === 'shapes' ? p.shapes > 0 : p.meshes_expected > 0"
        " && p.meshes_loaded + p.meshes_failed === p.meshes_expected; })()",
        timeout_ms=60_000,
    )
    pose = live.evaluate("window.__teleop.robotPose()")
    if pose["software_gl"]:
        assert pose["detail"] == "shapes" and pose["shapes"] == 33, pose
        assert pose["meshes_expected"] == 0  # no STL was fetched
    else:
        assert pose["detail"] == "meshes" and pose["meshes_failed"] == 0, live.errors
    assert pose["joints"] == 29
    assert live.locator("#robot-view canvas").count() == 1
    assert pose["frames_rendered"] > 0
    live.screenshot(path=str(artifacts_dir / "live-model.png"))


def test_webrtc_connects_and_telemetry_streams(live, artifacts_dir):
    live.click("#start")
    _wait(live, "window.__teleop.connectionState === 'connected'", timeout_ms=30_000)
    _wait(live, "window.__teleop.telemetrySource === 'datachannel'", timeout_ms=15_000)
    hello = live.evaluate("window.__teleop.hello")
    assert hello and len(hello["joint_names"]) == 29

    time.sleep(1.0)  # let a server that fell behind during the page load catch up
    sample = "[window.__teleop.telemetryCount, performance.now(), window.__teleop.lastTelemetry]"
    n0, ms0, first = live.evaluate(sample)
    time.sleep(2.0)
    n1, ms1, last = live.evaluate(sample)
    rate_hz = (n1 - n0) / ((ms1 - ms0) / 1e3)
    server_hz = (last["seq"] - first["seq"]) / (last["t_s"] - first["t_s"])
    print(f"telemetry: page receives {rate_hz:.1f} msg/s, server stamps {server_hz:.1f} Hz")
    # The contract says 30 Hz; a shared 2-core machine may deliver less, never a trickle.
    assert rate_hz > 10, f"telemetry at {rate_hz:.1f} Hz"
    t = live.evaluate("window.__teleop.lastTelemetry")
    assert len(t["q_rad"]) == 29 and len(t["base"]["pos_m"]) == 3
    # The local camera preview plays the fake device.
    assert live.evaluate("document.getElementById('local-video').videoWidth") > 0
    live.screenshot(path=str(artifacts_dir / "live-connected.png"))


def test_hud_shows_an_intent_from_the_camera(live):
    # The estimator turns fake-camera frames into intents; the HUD shows the skill.
    _wait(
        live,
        "window.__teleop.lastTelemetry && window.__teleop.lastTelemetry.intent"
        " && document.getElementById('intent-skill').textContent !== '–'",
        timeout_ms=20_000,
    )
    skill = live.text_content("#intent-skill")
    intent = live.evaluate("window.__teleop.lastTelemetry.intent")
    assert skill == intent["skill"]
    assert live.evaluate("window.__teleop.lastTelemetry.frames.received") > 0
    assert live.text_content("#latency [data-key=total] .val") != "–"


def test_operator_arms_and_the_robot_moves(live, server, artifacts_dir):
    assert server.token, "no operator token found in the server output:\n" + "\n".join(
        server.lines[-20:]
    )
    before = live.evaluate("window.__teleop.robotPose()")
    live.fill("#token-input", server.token)
    live.click("#token-save")
    live.click("#lease")
    _wait(live, "document.getElementById('lease-state').textContent.startsWith('lease ')")
    live.click("#arm")
    # The server accepted the token and lease: Safety starts the ramp (the page hears it as
    # a `mode` message), which moves every joint towards the default pose.
    _wait(live, "['ramp', 'active'].includes(window.__teleop.displayedMode)", 10_000)
    assert live.evaluate("window.__teleop.lastMode.mode") in ("ramp", "active")
    time.sleep(1.0)
    after = live.evaluate("window.__teleop.robotPose()")
    dq = max(abs(a - b) for a, b in zip(after["q_rad"], before["q_rad"]))
    dpos = max(abs(a - b) for a, b in zip(after["base_pos_m"], before["base_pos_m"]))
    assert dq > 1e-3 or dpos > 1e-3, "joint angles and base pose did not change after arming"
    # What the 3D scene shows follows the telemetry.
    scene = after["scene_base_pos_m"]
    assert scene is not None
    assert max(abs(a - b) for a, b in zip(scene, after["base_pos_m"])) < 0.05
    live.screenshot(path=str(artifacts_dir / "live-armed.png"))


def test_keyboard_override_commands_the_robot(live):
    live.locator("#robot-view").click()  # focus away from the token field
    live.keyboard.down("KeyW")
    try:
        try:
            _wait(
                live,
                "window.__teleop.lastTelemetry.intent_source === 'override'"
                " && window.__teleop.lastTelemetry.command.vx > 0.2",
                timeout_ms=10_000,
            )
        except Exception as exc:
            # Sent count, held keys, what the server last reflected, errors, and when each
            # override POST started and how long it took (ms): a main thread blocked by
            # rendering shows up as POSTs seconds apart instead of 100 ms.
            state = live.evaluate(
                "[window.__teleop.input.sentCount, [...window.__teleop.input.keys],"
                " window.__teleop.lastTelemetry.intent_source,"
                " window.__teleop.lastTelemetry.command, window.__teleop.errors.slice(-5),"
                " performance.getEntriesByType('resource')"
                ".filter((e) => e.name.endsWith('/robot/override')).slice(-8)"
                ".map((e) => [Math.round(e.startTime), Math.round(e.duration)])]"
            )
            raise AssertionError(f"override not reflected: {state}") from exc
    finally:
        live.keyboard.up("KeyW")
    # The telemetry (datachannel) can overtake the POST's own response on a loaded machine:
    # the page counts a send only once its response arrived.
    _wait(live, "window.__teleop.input.sentCount > 0", timeout_ms=10_000)
    # Releasing the key hands control back (one {"clear": true}).
    _wait(live, "window.__teleop.lastTelemetry.intent_source !== 'override'", timeout_ms=10_000)
    assert not [e for e in live.evaluate("window.__teleop.errors") if "override" in e]


def _assert_estop_latched(live, server) -> None:
    robot = server.get_json("/api/v1/robot")
    assert robot["mode"] == "estop" or robot["estop_latched"], robot
    assert live.get_attribute("#mode-indicator", "data-mode") == "estop"


def _prepare_estop(page, server, try_arm: bool) -> None:
    """Leave a latched e-stop and try to arm, so the e-stop interrupts a moving robot.

    Arming is best effort here (a loaded machine may keep the twin from reaching active):
    what these tests measure is the e-stop display, from whichever mode the robot is in.
    The 3D view stays on: on this software rasteriser it draws the collision capsules.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if try_arm:
        try:
            _arm(page, server, timeout_ms=12_000)
        except (PlaywrightTimeout, AssertionError) as exc:
            print(f"arming before the e-stop did not reach active ({exc.__class__.__name__}); "
                  f"page log: {_page_log(page)[:4]}")  # fmt: skip
    # Whatever happened above, the e-stop must start from a mode that is not e-stop.
    if _mode(page) == "estop":
        page.click("#rearm")
        _wait(page, "window.__teleop.displayedMode !== 'estop'")
    assert _mode(page) != "estop"


# The click and the indicator's changes are timed inside the page (performance.now()), so
# the numbers do not include Playwright's round trips. "pending" marks the optimistic
# display; the e-stop counts as shown once the server confirmed it.
_CLICK_AND_TIME = """() => new Promise((resolve) => {
    const indicator = document.getElementById('mode-indicator');
    const result = {optimisticMs: null, confirmedMs: null};
    let t0 = 0;
    const check = () => {
        const now = performance.now() - t0;
        if (indicator.dataset.mode === 'estop' && result.optimisticMs === null)
            result.optimisticMs = now;
        if (indicator.dataset.mode === 'estop' && indicator.dataset.pending === undefined) {
            result.confirmedMs = now;
            observer.disconnect();
            resolve(result);
        }
    };
    const observer = new MutationObserver(check);
    observer.observe(indicator, {attributes: true});
    setTimeout(() => { observer.disconnect(); resolve(result); }, 3000);
    t0 = performance.now();
    document.getElementById('estop').click();
    check();
})"""

# A shared 2-core machine can stall any process for a few hundred ms; one attempt in three
# within budget shows the page and server can do it, a systematic delay fails all three.
ATTEMPTS = 3


def test_estop_button_shows_within_budget(live, server, artifacts_dir):
    results = []
    for attempt in range(ATTEMPTS):
        _prepare_estop(live, server, try_arm=attempt == 0)
        mode_before = _mode(live)
        timing = live.evaluate(_CLICK_AND_TIME)
        e = live.evaluate("window.__teleop.estop")
        http_ms = (e["httpMs"] or float("nan")) - e["clickMs"]
        results.append((mode_before, timing, e["confirmedBy"], round(http_ms, 1)))
        print(f"e-stop (button) from {mode_before}: shown {timing['optimisticMs']:.1f} ms, "
              f"confirmed {timing['confirmedMs']} ms by {e['confirmedBy']}; "
              f"HTTP answer {http_ms:.1f} ms")  # fmt: skip
        assert timing["confirmedMs"] is not None, ("the server never confirmed", _page_log(live))
        _assert_estop_latched(live, server)
        if timing["confirmedMs"] < ESTOP_BUDGET_MS:
            break
    live.screenshot(path=str(artifacts_dir / "live-estop-button.png"))
    assert min(r[1]["confirmedMs"] for r in results) < ESTOP_BUDGET_MS, results


def test_estop_space_bar_shows_within_budget(live, server, artifacts_dir):
    results = []
    for attempt in range(ATTEMPTS):
        _prepare_estop(live, server, try_arm=attempt == 0)
        # Focus on Arm: space must e-stop, and must not also "click" the focused button.
        live.focus("#arm")
        errors_before = len(live.evaluate("window.__teleop.errors"))
        live.keyboard.press("Space")
        _wait(live, "window.__teleop.estop && window.__teleop.estop.confirmedMs !== null", 3_000)
        e = live.evaluate("window.__teleop.estop")
        latency_ms = e["confirmedMs"] - e["clickMs"]
        http_ms = (e["httpMs"] or float("nan")) - e["clickMs"]
        results.append((round(latency_ms, 1), e["confirmedBy"], round(http_ms, 1)))
        print(f"e-stop (space): confirmed {latency_ms:.1f} ms after the key by "
              f"{e['confirmedBy']}; HTTP answer {http_ms:.1f} ms")  # fmt: skip
        assert e["trigger"] == "space"
        _assert_estop_latched(live, server)
        time.sleep(0.3)  # an arm request the key-up might have sent would be answered now
        new_errors = live.evaluate("window.__teleop.errors")[errors_before:]
        assert not [x for x in new_errors if x.startswith("arm")], new_errors
        assert _mode(live) == "estop"
        if latency_ms < ESTOP_BUDGET_MS:
            break
    # A `mode` message reached the page (not only the HTTP answer).
    _wait(live, "window.__teleop.lastMode && window.__teleop.lastMode.mode === 'estop'", 2_000)
    live.screenshot(path=str(artifacts_dir / "live-estop-space.png"))
    assert min(r[0] for r in results) < ESTOP_BUDGET_MS, results


def test_estop_needs_no_token(server):
    # Any client may stop the robot (the page's e-stop sends no credentials).
    server.post_json("/api/v1/robot/estop")
    assert server.get_json("/api/v1/robot")["estop_latched"]


def test_no_page_errors(live):
    assert not [e for e in live.errors if "pageerror" in e], live.errors


# Replaces the page's data channel with one that never opens (as behind a proxy that blocks
# SCTP): the offer then carries no data channel and telemetry must stay on the WebSocket.
_BLOCK_DATA_CHANNEL = """
RTCPeerConnection.prototype.createDataChannel = function (label) {
    const fake = new EventTarget();
    fake.label = label;
    fake.readyState = 'connecting';
    fake.send = () => { throw new Error('not open'); };
    fake.close = () => {};
    return fake;
};
"""


def test_telemetry_falls_back_to_websocket(browser, server):
    ctx = browser.new_context(base_url=server.base_url)
    try:
        ctx.add_init_script(_BLOCK_DATA_CHANNEL)
        page = ctx.new_page()
        page.goto("/")
        _wait(page, "window.__teleop !== undefined")
        page.click("#start")
        _wait(page, "window.__teleop.connectionState === 'connected'", timeout_ms=30_000)
        n0 = page.evaluate("window.__teleop.telemetryCount")
        time.sleep(1.0)
        assert page.evaluate("window.__teleop.telemetrySource") == "websocket"
        assert page.evaluate("window.__teleop.telemetryCount") - n0 > 10
    finally:
        ctx.close()
