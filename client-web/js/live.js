// The live page: camera -> WebRTC -> server; telemetry -> 3D robot + HUD; e-stop; operator
// controls; keyboard/gamepad override.

import {
  ApiError, fmt, getJson, loadLease, loadToken, operatorHeaders, operatorPost, postJson,
  saveLease, saveToken,
} from './api.js';
import { RobotView } from './robot-view.js';
import { TeleopInput } from './teleop-input.js';
import { RtcSession, TelemetrySocket } from './transport.js';

const $ = (id) => document.getElementById(id);

// A data channel that has not opened this long after Start means something on the path
// (a proxy, a firewall) blocks SCTP: telemetry stays on the WebSocket.
const CHANNEL_OPEN_TIMEOUT_MS = 5000;
// How long an optimistic e-stop display waits for the server to confirm before the page
// says the e-stop may not have arrived.
const ESTOP_CONFIRM_TIMEOUT_MS = 2000;
const MODES = ['passive', 'ramp', 'active', 'damping', 'estop'];

/** Server mode names -> the five canonical ones ("e_stop", "E-STOP" -> "estop"). */
function canonicalMode(mode) {
  if (!mode) return 'unknown';
  const m = String(mode).toLowerCase().replace(/[^a-z]/g, '');
  if (m === 'emergencystop') return 'estop';
  return MODES.includes(m) ? m : m || 'unknown';
}

// --- state shared with the e2e tests -----------------------------------------------------
const state = {
  telemetryCount: 0,
  lastTelemetry: null,
  lastMode: null, // last mode message {mode, reason, t_s}
  displayedMode: 'unknown',
  jointNames: null,
  hello: null,
  telemetrySource: null, // 'datachannel' | 'websocket'
  estop: null, // {clickMs, optimisticMs, confirmedMs, confirmedBy}
  rttMs: null,
  errors: [],
};

let view = null;
let rtc = null;
let channelTimer = null;
const telemetryTimes = [];

// Exposed so end-to-end tests can check behaviour (robot moved, e-stop shown) without
// reading pixels. Read-only by convention.
window.__teleop = {
  get telemetryCount() { return state.telemetryCount; },
  get lastTelemetry() { return state.lastTelemetry; },
  get lastMode() { return state.lastMode; },
  get displayedMode() { return state.displayedMode; },
  get telemetrySource() { return state.telemetrySource; },
  get estop() { return state.estop; },
  get hello() { return state.hello; },
  get errors() { return state.errors.slice(); },
  get connectionState() { return $('conn-state').dataset.state; },
  robotPose() {
    const model = view && view.model;
    const t = state.lastTelemetry;
    const pelvis = model && model.baseNode;
    return {
      base_pos_m: t && t.base ? t.base.pos_m : null,
      base_quat_wxyz: t && t.base ? t.base.quat_wxyz : null,
      q_rad: t ? t.q_rad : null,
      // What the scene actually shows (the pose applied to the three.js tree).
      scene_base_pos_m: pelvis ? pelvis.position.toArray() : null,
      meshes_loaded: model ? model.meshCount : 0,
      meshes_expected: model ? model.meshesExpected : 0,
      meshes_failed: model ? model.meshesFailed : 0,
      detail: model ? model.detail : null,
      shapes: model ? model.shapeCount : 0,
      bodies: model ? model.bodyCount : 0,
      joints: model ? model.jointNodes.size : 0,
      frames_rendered: view ? view.framesRendered : 0,
      gl_renderer: view ? view.rendererName : null,
      software_gl: view ? view.softwareGl : null,
      rendering: view ? view.enabled : false,
    };
  },
};

// --- log ----------------------------------------------------------------------------------
function log(text, level = 'info') {
  const list = $('log');
  const item = document.createElement('li');
  item.className = level;
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  list.prepend(item);
  while (list.children.length > 50) list.lastChild.remove();
  if (level === 'error') state.errors.push(text);
}

function reportError(prefix, err) {
  const message = err instanceof ApiError ? err.message : (err && err.message) || String(err);
  let hint = '';
  if (err instanceof ApiError && err.status === 401) hint = ' (paste the operator token)';
  if (err instanceof ApiError && err.status === 403) hint = ' (wrong token)';
  if (err instanceof ApiError && err.status === 409) hint = '';
  log(`${prefix}: ${message}${hint}`, 'error');
}

// --- mode indicator -------------------------------------------------------------------------
/**
 * Show a mode. `pending` marks an optimistic display (e-stop clicked, server not heard yet);
 * it is cleared by the server's confirmation. Synchronous on purpose: the e-stop must be
 * visible within 100 ms of the server's `mode` message.
 */
function showMode(mode, { pending = false, reason = '' } = {}) {
  const m = canonicalMode(mode);
  const indicator = $('mode-indicator');
  indicator.dataset.mode = m;
  if (pending) indicator.dataset.pending = 'true';
  else delete indicator.dataset.pending;
  $('mode-value').textContent = m === 'estop' ? 'E-STOP' : m;
  $('mode-reason').textContent = pending ? 'e-stop sent…' : reason || '';
  state.displayedMode = m;
  document.body.dataset.mode = m;
}

function confirmMode(mode, reason, by) {
  const m = canonicalMode(mode);
  const e = state.estop;
  if (e && e.confirmedMs === null) {
    if (m === 'estop') {
      e.confirmedMs = performance.now();
      e.confirmedBy = by;
      log(`e-stop confirmed by ${by} after ${(e.confirmedMs - e.clickMs).toFixed(1)} ms`);
    } else if (performance.now() - e.clickMs < ESTOP_CONFIRM_TIMEOUT_MS) {
      // A telemetry sample produced before the e-stop took effect: keep showing e-stop.
      return;
    }
  }
  const indicator = $('mode-indicator');
  if (indicator.dataset.mode !== m || indicator.dataset.pending) {
    showMode(m, { reason });
  } else if (reason) {
    $('mode-reason').textContent = reason;
  }
}

// --- e-stop ---------------------------------------------------------------------------------
async function estop(trigger) {
  const clickMs = performance.now();
  state.estop = {
    clickMs, optimisticMs: null, confirmedMs: null, confirmedBy: null, httpMs: null, trigger,
  };
  showMode('estop', { pending: true });
  state.estop.optimisticMs = performance.now();
  $('estop').classList.add('fired');
  try {
    // No token: anyone may stop the robot.
    const body = await postJson('/robot/estop', {});
    // When the server answered (for the latency breakdown: request vs mode message).
    if (state.estop.clickMs === clickMs) state.estop.httpMs = performance.now();
    const mode = body && (body.mode ?? (body.estop_latched ? 'estop' : null));
    if (mode) confirmMode(mode, body.reason || 'e-stop', 'http');
  } catch (err) {
    reportError('E-STOP FAILED', err);
    $('mode-reason').textContent = 'E-STOP REQUEST FAILED';
  } finally {
    setTimeout(() => $('estop').classList.remove('fired'), 300);
  }
  setTimeout(() => {
    if (state.estop && state.estop.clickMs === clickMs && state.estop.confirmedMs === null) {
      log('e-stop not confirmed by the server yet', 'error');
      $('mode-reason').textContent = 'e-stop NOT confirmed';
    }
  }, ESTOP_CONFIRM_TIMEOUT_MS);
}

// --- telemetry ------------------------------------------------------------------------------
function onMessage(message, source) {
  // While the data channel is open, the WebSocket (if still connected) is a duplicate.
  if (source === 'websocket' && rtc && rtc.channelOpen) return;
  switch (message.type) {
    case 'hello':
      state.hello = message;
      state.jointNames = message.joint_names || null;
      log(`hello over ${source}: ${state.jointNames ? state.jointNames.length : '?'} joints, `
        + `${message.control_hz ?? '?'} Hz control`);
      break;
    case 'mode':
      state.lastMode = message;
      confirmMode(message.mode, message.reason, `mode message (${source})`);
      log(`mode → ${canonicalMode(message.mode)}${message.reason ? ` (${message.reason})` : ''}`);
      break;
    case 'telemetry':
      onTelemetry(message, source);
      break;
    case 'pong':
      if (message.client_ms) {
        state.rttMs = performance.timeOrigin + performance.now() - message.client_ms;
        $('rtt').textContent = `${state.rttMs.toFixed(1)} ms`;
      }
      break;
    default:
      break;
  }
}

function onTelemetry(t, source) {
  state.telemetryCount += 1;
  state.lastTelemetry = t;
  if (state.telemetrySource !== source) {
    state.telemetrySource = source;
    $('telemetry-source').textContent = source;
  }
  const now = performance.now();
  telemetryTimes.push(now);
  while (telemetryTimes.length && now - telemetryTimes[0] > 1000) telemetryTimes.shift();
  if (t.mode) confirmMode(t.mode, '', `telemetry (${source})`);
  if (view && t.base) {
    view.setPose(t.base.pos_m, t.base.quat_wxyz, state.jointNames, t.q_rad);
  }
  scheduleHud();
}

// The HUD is text: update it once per animation frame at most, not per message.
let hudScheduled = false;
function scheduleHud() {
  if (hudScheduled) return;
  hudScheduled = true;
  requestAnimationFrame(() => {
    hudScheduled = false;
    renderHud(state.lastTelemetry);
  });
}

function renderHud(t) {
  if (!t) return;
  const intent = t.intent || {};
  $('intent-skill').textContent = intent.skill ?? '–';
  $('intent-vx').textContent = fmt(intent.vx, 2, 'm/s');
  $('intent-vy').textContent = fmt(intent.vy, 2, 'm/s');
  $('intent-yaw').textContent = fmt(intent.yaw_rate, 2, 'rad/s');
  $('intent-conf').value = Number(intent.confidence) || 0;
  $('intent-conf-text').textContent = fmt(intent.confidence, 2);
  $('intent-source').textContent = intent.source ?? '–';
  const cmd = t.command || {};
  $('cmd-vx').textContent = fmt(cmd.vx, 2, 'm/s');
  $('cmd-vy').textContent = fmt(cmd.vy, 2, 'm/s');
  $('cmd-yaw').textContent = fmt(cmd.yaw_rate, 2, 'rad/s');
  const lat = t.latency_ms || {};
  // Bars share a scale: 200 ms fills a bar (beyond that the number says enough).
  for (const row of document.querySelectorAll('#latency .lat-row')) {
    const v = lat[row.dataset.key];
    row.querySelector('.val').textContent = fmt(v, 1, 'ms');
    const width = v === undefined || v === null ? 0 : Math.min(100, (v / 200) * 100);
    row.querySelector('.bar i').style.width = `${width}%`;
    row.classList.toggle('slow', v > 100);
  }
  $('telemetry-rate').textContent = `${telemetryTimes.length} msg/s · #${t.seq ?? state.telemetryCount}`;
  const frames = t.frames || {};
  $('frames').textContent = `${frames.received ?? '–'} recv · ${frames.estimated ?? '–'} est · `
    + `${frames.dropped ?? '–'} dropped`;
}

// --- connection -----------------------------------------------------------------------------
const socket = new TelemetrySocket({
  onMessage,
  onState: (s) => {
    if (!rtc) setConn(s === 'open' ? 'viewing' : s === 'connecting' ? 'connecting' : 'offline');
  },
});

function setConn(s) {
  const pill = $('conn-state');
  pill.dataset.state = s;
  pill.textContent = s;
}

async function startStream() {
  $('start').disabled = true;
  $('stop-stream').disabled = false;
  rtc = new RtcSession({
    onMessage,
    onState: (s) => {
      setConn(s);
      if (s === 'failed' || s === 'disconnected') log(`WebRTC ${s}`, 'error');
    },
    onChannelOpen: () => {
      clearTimeout(channelTimer);
      log('telemetry data channel open');
      socket.close(); // the data channel carries telemetry now
    },
    onChannelClose: () => {
      if (rtc) {
        log('data channel closed: telemetry over WebSocket', 'error');
        socket.open();
      }
    },
  });
  try {
    await rtc.start({
      deviceId: $('camera-select').value || undefined,
      view: $('view-select').value,
      localVideo: $('local-video'),
    });
    $('local-video').classList.add('live');
    log(`WebRTC session ${rtc.sessionId ?? ''} (${$('view-select').value})`);
    await listCameras(); // labels become visible once permission was granted
    channelTimer = setTimeout(() => {
      if (rtc && !rtc.channelOpen) {
        log('data channel did not open: telemetry stays on WebSocket', 'error');
        socket.open();
      }
    }, CHANNEL_OPEN_TIMEOUT_MS);
  } catch (err) {
    reportError('start failed', err);
    stopStream();
  }
}

function stopStream() {
  clearTimeout(channelTimer);
  const session = rtc;
  rtc = null;
  if (session) session.stop();
  $('local-video').srcObject = null;
  $('local-video').classList.remove('live');
  $('start').disabled = false;
  $('stop-stream').disabled = true;
  socket.open(); // keep watching the robot
}

async function listCameras() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  const select = $('camera-select');
  const current = select.value;
  const devices = await navigator.mediaDevices.enumerateDevices();
  const cams = devices.filter((d) => d.kind === 'videoinput');
  select.replaceChildren(new Option('default camera', ''));
  cams.forEach((d, i) => select.add(new Option(d.label || `camera ${i + 1}`, d.deviceId)));
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}

// --- operator -------------------------------------------------------------------------------
let leaseTimer = null;

function showLease() {
  const lease = loadLease();
  $('lease-state').textContent = lease ? `lease ${String(lease.lease_id).slice(0, 8)}…` : 'no lease';
  $('lease').textContent = lease ? 'Release' : 'Acquire lease';
}

function scheduleRenew(lease) {
  clearTimeout(leaseTimer);
  if (!lease) return;
  // Renew well before expiry (control calls renew it too, but an idle operator keeps it).
  const periodMs = Math.max(1000, (Number(lease.expires_in_s) || 10) * 400);
  leaseTimer = setTimeout(async () => {
    try {
      const renewed = await postJson('/operator/lease/renew', {}, { headers: operatorHeaders() });
      const next = { ...lease, ...(renewed || {}) };
      saveLease(next);
      scheduleRenew(next);
    } catch (err) {
      reportError('lease renew failed', err);
      saveLease(null);
      showLease();
    }
  }, periodMs);
}

async function acquireLease() {
  if (!loadToken()) throw new Error('paste the operator token first');
  // The stored lease id rides along: the server renews our own lease instead of answering
  // 409 (e.g. after a reload of this tab).
  const lease = await postJson('/operator/lease', {}, { headers: operatorHeaders() });
  saveLease(lease);
  scheduleRenew(lease);
  showLease();
  log(`lease acquired (${lease.expires_in_s ?? '?'} s)`);
  return lease;
}

/** Operator call; acquires the lease first if this tab holds none. */
async function control(path, body = {}) {
  if (!loadLease()) await acquireLease();
  try {
    return await operatorPost(path, body);
  } catch (err) {
    // A lease that expired server-side: take a fresh one and retry once.
    if (err instanceof ApiError && (err.status === 409 || err.status === 423)
        && path !== '/robot/override') {
      await acquireLease();
      return operatorPost(path, body);
    }
    throw err;
  }
}

async function controlButton(name, path) {
  try {
    const body = await control(path);
    log(`${name}: ok${body && body.mode ? ` (${canonicalMode(body.mode)})` : ''}`);
    if (body && body.mode) confirmMode(body.mode, '', 'http');
  } catch (err) {
    reportError(name, err);
  }
}

// --- wiring ---------------------------------------------------------------------------------
function wire() {
  $('estop').addEventListener('click', () => estop('button'));
  const typing = (event) => ['INPUT', 'TEXTAREA', 'SELECT']
    .includes(event.target && event.target.tagName);
  window.addEventListener('keydown', (event) => {
    if (event.code !== 'Space' || typing(event)) return;
    event.preventDefault();
    if (!event.repeat) estop('space');
  });
  // A focused button is "clicked" by space on keyup: after an e-stop the focus may still be
  // on Arm, and releasing space must not arm the robot.
  window.addEventListener('keyup', (event) => {
    if (event.code === 'Space' && !typing(event)) event.preventDefault();
  }, true);

  $('start').addEventListener('click', startStream);
  $('stop-stream').addEventListener('click', stopStream);
  $('follow-camera').addEventListener('change', (e) => {
    if (view) view.follow = e.target.checked;
  });
  $('render-3d').addEventListener('change', (e) => {
    if (!view) return;
    view.enabled = e.target.checked;
    view.requestRender();
    log(e.target.checked ? '3D view on' : '3D view paused');
  });

  $('token-input').value = loadToken();
  $('token-save').addEventListener('click', () => {
    saveToken($('token-input').value);
    log(loadToken() ? 'token saved for this tab' : 'token cleared');
  });
  $('token-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') $('token-save').click();
  });
  $('lease').addEventListener('click', async () => {
    if (loadLease()) {
      saveLease(null);
      clearTimeout(leaseTimer);
      showLease();
      log('lease dropped by this tab (expires on the server)');
      return;
    }
    try {
      await acquireLease();
    } catch (err) {
      reportError('lease', err);
    }
  });
  $('arm').addEventListener('click', () => controlButton('arm', '/robot/arm'));
  $('stop-robot').addEventListener('click', () => controlButton('stop', '/robot/stop'));
  $('rearm').addEventListener('click', () => controlButton('re-arm', '/robot/rearm'));
  showLease();
  if (loadLease()) scheduleRenew(loadLease());

  let warnedNoToken = false;
  const input = new TeleopInput({
    onEstop: () => estop('gamepad'),
    send: async (body) => {
      if (!loadToken()) {
        // Without a token every repeat would fail: say it once, not ten times a second.
        if (!warnedNoToken) log('override needs the operator token', 'error');
        warnedNoToken = true;
        return;
      }
      warnedNoToken = false;
      try {
        await control('/robot/override', body);
      } catch (err) {
        reportError('override', err);
      }
    },
    onChange: (cmd, source) => {
      $('override-state').textContent = cmd
        ? `${source}: vx ${fmt(cmd.vx)} vy ${fmt(cmd.vy)} yaw ${fmt(cmd.yaw_rate)}`
        : 'no override';
      $('override-state').classList.toggle('active', !!cmd);
    },
  });
  window.__teleop.input = input;
  navigator.mediaDevices?.addEventListener?.('devicechange', listCameras);
}

async function init() {
  wire();
  listCameras().catch(() => {});
  try {
    const robot = await getJson('/robot');
    $('robot-info').textContent = `${robot.robot ?? '?'} · ${robot.controller ?? '?'}`
      + `${robot.hardware_connected ? ' · hardware' : ''}`;
    showMode(robot.estop_latched ? 'estop' : robot.mode);
  } catch (err) {
    reportError('robot status', err);
  }
  socket.open(); // viewers see the robot before (or without) streaming a camera

  view = new RobotView($('robot-view'));
  const status = $('model-status');
  try {
    await view.loadRobot((m) => {
      status.textContent = `meshes ${m.meshCount}/${m.meshesExpected}`;
    });
    const m = view.model;
    const drawn = m.detail === 'shapes'
      ? `${m.shapeCount} collision capsules (no GPU: meshes off)`
      : `${m.meshCount} meshes${m.meshesFailed ? `, ${m.meshesFailed} failed` : ''}`;
    status.textContent = `G1: ${m.bodyCount} bodies, ${m.jointNodes.size} joints, ${drawn}`;
    const t = state.lastTelemetry;
    if (t && t.base) view.setPose(t.base.pos_m, t.base.quat_wxyz, state.jointNames, t.q_rad);
  } catch (err) {
    status.textContent = `model failed: ${err.message}`;
    reportError('3D model', err);
  }
}

init();
