// The result page of one upload job: input and preview videos side by side, the intent
// timeline, the validation report with plots, downloads and "Send to robot".

import {
  ApiError, el, fmt, formatTime, getJson, jobFileUrl, loadLease, loadToken, operatorPost,
  postJson, operatorHeaders, saveLease,
} from './api.js';
import { barPlot, linePlot } from './plot.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 700;
const DOWNLOADS = ['trajectory.npz', 'trajectory.csv', 'intents.json', 'preview.mp4', 'report.json'];

// The job id is the last path segment: /jobs/{id} (also accepts ?id= for the static file).
const jobId = decodeURIComponent(
  new URLSearchParams(location.search).get('id') || location.pathname.split('/').filter(Boolean).pop(),
);

const state = { job: null, report: null, robot: null, rendered: false };
window.__job = state; // for the e2e tests

function showError(text) {
  $('error').textContent = text;
  $('error').hidden = !text;
}

// --- data extraction ----------------------------------------------------------------------
// The page reads the files tolerantly: intents.json as written by `humanoid-teleop intent`
// ({intents: [{t_s, vx_mps, ...}]}) or with the live names (vx, vy, yaw_rate); the report's
// time series from report.series (or similar) and else from trajectory.csv columns.

function pick(obj, ...names) {
  for (const n of names) if (obj && obj[n] !== undefined && obj[n] !== null) return obj[n];
  return undefined;
}

function intentRows(doc) {
  const rows = Array.isArray(doc) ? doc : (doc && (doc.intents ?? doc.timeline)) || [];
  return rows.map((r) => ({
    t: Number(pick(r, 't_s', 't', 'time_s')),
    vx: Number(pick(r, 'vx_mps', 'vx')),
    vy: Number(pick(r, 'vy_mps', 'vy')),
    yaw: Number(pick(r, 'yaw_rate_radps', 'yaw_rate')),
    confidence: Number(pick(r, 'confidence')),
    skill: pick(r, 'skill'),
  }));
}

/** Columns (name -> number[]) from a CSV with one header row (trajectory.csv). */
export function parseCsv(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith('#'));
  if (!lines.length) return {};
  const header = lines[0].split(',').map((h) => h.trim());
  const cols = Object.fromEntries(header.map((h) => [h, []]));
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    header.forEach((h, i) => cols[h].push(Number(cells[i])));
  }
  return cols;
}

/** Column/series object -> the first key matching one of the patterns. */
function findKey(cols, patterns) {
  const keys = Object.keys(cols);
  for (const p of patterns) {
    const hit = keys.find((k) => p.test(k));
    if (hit) return hit;
  }
  return null;
}

const TIME = [/^t(_s)?$/, /^time(_s)?$/];
const AXES = [
  { name: 'vx', unit: 'm/s',
    cmd: [/^(cmd|command|commanded)_?vx/, /^vx_?(cmd|command)/],
    got: [/^(achieved|actual|measured|base)_?vx/, /^vx_?(achieved|actual|measured|base)/] },
  { name: 'vy', unit: 'm/s',
    cmd: [/^(cmd|command|commanded)_?vy/, /^vy_?(cmd|command)/],
    got: [/^(achieved|actual|measured|base)_?vy/, /^vy_?(achieved|actual|measured|base)/] },
  { name: 'yaw rate', unit: 'rad/s',
    cmd: [/^(cmd|command|commanded)_?yaw/, /^yaw_rate_?(cmd|command)/],
    got: [/^(achieved|actual|measured|base)_?yaw/, /^yaw_rate_?(achieved|actual|measured|base)/] },
];

/** A series object (name -> array) from the report, if it carries one. */
function reportSeries(report) {
  const s = report && (report.series ?? report.timeseries ?? report.trace ?? report.traces);
  if (s && typeof s === 'object' && !Array.isArray(s)) return s;
  if (Array.isArray(s) && s.length && typeof s[0] === 'object') {
    // A list of rows -> columns.
    const cols = {};
    for (const row of s) for (const [k, v] of Object.entries(row)) (cols[k] ||= []).push(Number(v));
    return cols;
  }
  return null;
}

// --- rendering ------------------------------------------------------------------------------
function renderIntents(doc) {
  const rows = intentRows(doc);
  const host = $('intent-plots');
  const t = rows.map((r) => r.t);
  host.replaceChildren(
    linePlot('Intent velocity', [
      { name: 'vx m/s', x: t, y: rows.map((r) => r.vx) },
      { name: 'vy m/s', x: t, y: rows.map((r) => r.vy) },
      { name: 'yaw rate rad/s', x: t, y: rows.map((r) => r.yaw) },
    ], { id: 'intent-velocity', xLabel: 't [s]' }),
    linePlot('Intent confidence', [
      { name: 'confidence', x: t, y: rows.map((r) => r.confidence) },
    ], { id: 'intent-confidence', xLabel: 't [s]', yMin: 0, yMax: 1 }),
  );
}

function renderVelocityPlots(cols) {
  const host = $('report-plots');
  const tKey = findKey(cols, TIME);
  if (!tKey) return 0;
  let count = 0;
  for (const axis of AXES) {
    const cmdKey = findKey(cols, axis.cmd);
    const gotKey = findKey(cols, axis.got);
    if (!cmdKey && !gotKey) continue;
    const series = [];
    if (cmdKey) series.push({ name: 'commanded', x: cols[tKey], y: cols[cmdKey], dash: '5 3' });
    if (gotKey) series.push({ name: 'achieved', x: cols[tKey], y: cols[gotKey] });
    host.append(linePlot(`Commanded vs achieved ${axis.name} [${axis.unit}]`, series, {
      id: `velocity-${axis.name.replace(' ', '-')}`, xLabel: 't [s]',
    }));
    count += 1;
  }
  // Torque use over time: max ratio column, or the max over per-joint ratio columns.
  const ratioKeys = Object.keys(cols).filter((k) => /torque_ratio|tau_ratio/.test(k));
  if (ratioKeys.length) {
    const maxKey = ratioKeys.find((k) => /max/.test(k));
    const y = maxKey ? cols[maxKey] : cols[tKey].map((_, i) => Math.max(
      ...ratioKeys.map((k) => Math.abs(cols[k][i])),
    ));
    host.append(linePlot('Torque use (peak |τ| / limit)', [{ name: 'max ratio', x: cols[tKey], y }],
      { id: 'torque-time', xLabel: 't [s]', yMin: 0, hlines: [{ y: 1, label: 'limit' }] }));
    count += 1;
  }
  return count;
}

/** Per-joint torque use from the report: {joint: ratio} or parallel lists. */
function jointTorqueBars(report) {
  const src = pick(report, 'torque_ratio_per_joint', 'max_torque_ratio_per_joint',
    'joint_torque_ratio', 'torque_use');
  if (!src) return [];
  if (Array.isArray(src)) {
    const names = report.joint_names || src.map((_, i) => `j${i}`);
    return src.map((v, i) => ({ label: names[i], value: Number(v) }));
  }
  return Object.entries(src).map(([label, value]) => ({ label, value: Number(value) }));
}

function renderReport(report, trajectoryCols) {
  state.report = report;
  const passed = !!(report && report.passed);
  $('verdict').textContent = report ? (passed ? 'PASSED' : 'NOT PASSED') : '';
  $('verdict').className = `verdict ${passed ? 'pass' : 'fail'}`;

  const checks = (report && report.checks) || {};
  $('checks').replaceChildren(...Object.entries(checks).map(([name, ok]) => el('div', {
    class: `check-item ${ok ? 'pass' : 'fail'}`,
  }, el('span', {}, name), el('span', {}, ok ? 'pass' : 'FAIL'))));
  if (!Object.keys(checks).length) {
    $('checks').replaceChildren(el('span', { class: 'muted' }, 'no checks in the report'));
  }

  // Scalar metrics next to their thresholds.
  const thresholds = (report && report.thresholds) || {};
  const metrics = Object.entries(report || {}).filter(([, v]) => typeof v === 'number');
  $('report-metrics').replaceChildren(...metrics.flatMap(([k, v]) => {
    const limit = thresholds[`max_${k}`] ?? thresholds[k.replace(/^max_/, 'max_')];
    const value = Number.isInteger(v) ? String(v) : fmt(v, 3);
    return [el('dt', {}, k), el('dd', {}, `${value}${limit !== undefined ? ` (≤ ${limit})` : ''}`)];
  }));

  const host = $('report-plots');
  host.replaceChildren();
  let plotted = renderVelocityPlots(reportSeries(report) || {});
  if (!plotted && trajectoryCols) plotted = renderVelocityPlots(trajectoryCols);
  const bars = jointTorqueBars(report || {});
  if (bars.length) {
    host.append(barPlot('Peak torque use per joint (|τ| / limit)', bars, { id: 'torque-joints', limit: 1 }));
    plotted += 1;
  } else if (report && typeof report.max_torque_ratio === 'number') {
    host.append(barPlot('Torque use (peak |τ| / limit)', [
      { label: 'all joints', value: report.max_torque_ratio },
    ], { id: 'torque-joints', limit: 1 }));
    plotted += 1;
  }
  if (!plotted) host.append(el('p', { class: 'muted' }, 'The report carries no time series to plot.'));
}

function renderDownloads(job) {
  const names = new Set(DOWNLOADS.concat(Object.keys(job.files || {})));
  $('downloads').replaceChildren(...[...names].map((name) => el('a', {
    href: jobFileUrl(job, name), download: name,
  }, name)));
}

function inputName(job) {
  return Object.keys(job.files || {}).find((n) => n.startsWith('input.')) || null;
}

async function fetchJson(url) {
  const r = await fetch(url);
  if (!r.ok) throw new ApiError(r.status, `${url}: HTTP ${r.status}`);
  return r.json();
}

async function renderDone(job) {
  const input = inputName(job);
  if (input) $('input-video').src = jobFileUrl(job, input);
  $('preview-video').src = jobFileUrl(job, 'preview.mp4');
  renderDownloads(job);
  const [intents, report, csv] = await Promise.allSettled([
    fetchJson(jobFileUrl(job, 'intents.json')),
    job.report && Object.keys(job.report).length ? Promise.resolve(job.report)
      : fetchJson(jobFileUrl(job, 'report.json')),
    fetch(jobFileUrl(job, 'trajectory.csv')).then((r) => (r.ok ? r.text() : '')),
  ]);
  if (intents.status === 'fulfilled') renderIntents(intents.value);
  else $('intent-plots').replaceChildren(el('p', { class: 'alert' }, `intents.json: ${intents.reason.message}`));
  const cols = csv.status === 'fulfilled' && csv.value ? parseCsv(csv.value) : null;
  renderReport(report.status === 'fulfilled' ? report.value : null, cols);
  if (report.status !== 'fulfilled') showError(`report.json: ${report.reason.message}`);
  state.rendered = true;
  updateSendButton();
}

function updateSendButton() {
  const passed = !!(state.report && state.report.passed);
  const hardware = !!(state.robot && state.robot.hardware_connected);
  $('send-to-robot').disabled = !(passed && hardware);
  $('send-to-robot').title = passed
    ? (hardware ? 'Run this trajectory on the hardware robot' : 'No hardware robot connected')
    : 'The motion did not pass validation in the twin';
}

async function sendToRobot() {
  if (!loadToken()) {
    showError('Paste the operator token on the live page first (it is kept per tab).');
    return;
  }
  try {
    if (!loadLease()) saveLease(await postJson('/operator/lease', {}, { headers: operatorHeaders() }));
    const body = await operatorPost(`/jobs/${encodeURIComponent(jobId)}/send-to-robot`, {});
    $('send-state').textContent = `sent: ${JSON.stringify(body)}`;
  } catch (err) {
    showError(`send to robot: ${err.message}`);
  }
}

async function poll() {
  let job;
  try {
    job = await getJson(`/jobs/${encodeURIComponent(jobId)}`);
  } catch (err) {
    showError(err.status === 404 ? `No job ${jobId}.` : `job ${jobId}: ${err.message}`);
    return;
  }
  state.job = job;
  document.title = `humanoid-teleop · job ${job.id}`;
  $('job-title').textContent = `Job ${job.id}`;
  $('job-status').textContent = job.status;
  $('job-status').dataset.status = job.status;
  $('job-meta').textContent = `view ${job.view ?? '–'} · created ${formatTime(job.created_s)}`;
  const running = job.status === 'queued' || job.status === 'running';
  $('job-progress-block').hidden = !running;
  if (running) {
    $('job-progress').querySelector('i').style.width = `${Math.round((job.progress || 0) * 100)}%`;
    $('job-label').textContent = `${job.stage ?? job.status} · ${Math.round((job.progress || 0) * 100)}%`;
    setTimeout(poll, POLL_MS);
    return;
  }
  if (job.status === 'done') await renderDone(job);
  else showError(`Job ${job.status}${job.error ? `: ${job.error}` : ''}`);
}

async function init() {
  $('send-to-robot').addEventListener('click', sendToRobot);
  try {
    state.robot = await getJson('/robot');
  } catch {
    state.robot = null;
  }
  await poll();
  updateSendButton();
}

init();
