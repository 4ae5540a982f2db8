// HTTP helpers shared by every page: the REST routes of docs/service-api.md, the operator
// token (sessionStorage: survives reloads of this tab, never written to disk by the page)
// and the operator lease.

export const API = '/api/v1';

const TOKEN_KEY = 'humanoid-teleop.operator-token';
const LEASE_KEY = 'humanoid-teleop.operator-lease';

/** An HTTP error with the server's own message (FastAPI puts it in `detail`). */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

/** The human-readable message of an error body: FastAPI `detail` (string or list) or text. */
export function errorMessage(status, body, fallback = '') {
  let detail = body;
  if (body && typeof body === 'object') detail = body.detail ?? body.error ?? body.message;
  if (Array.isArray(detail)) {
    // Validation errors (422) come as a list of {loc, msg}.
    detail = detail.map((d) => (d && d.msg ? `${(d.loc || []).join('.')}: ${d.msg}` : String(d)))
      .join('; ');
  } else if (detail && typeof detail === 'object') {
    detail = JSON.stringify(detail);
  }
  const text = detail ? String(detail) : fallback;
  return `HTTP ${status}${text ? `: ${text}` : ''}`;
}

async function parseBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * fetch() a route under /api/v1 and return the parsed JSON; throws ApiError on non-2xx.
 * `json` is sent as the body; `headers` are added.
 */
export async function request(method, path, { json, headers = {}, signal } = {}) {
  const init = { method, headers: { ...headers }, signal };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  const response = await fetch(`${API}${path}`, init);
  const body = await parseBody(response);
  if (!response.ok) {
    throw new ApiError(response.status, errorMessage(response.status, body, response.statusText),
      body);
  }
  return body;
}

export const getJson = (path, opts) => request('GET', path, opts);
export const postJson = (path, json, opts = {}) => request('POST', path, { ...opts, json });

// --- operator credentials -------------------------------------------------------------------

export function loadToken() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function saveToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token.trim());
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function loadLease() {
  try {
    return JSON.parse(sessionStorage.getItem(LEASE_KEY) || 'null');
  } catch {
    return null;
  }
}

export function saveLease(lease) {
  if (lease) sessionStorage.setItem(LEASE_KEY, JSON.stringify(lease));
  else sessionStorage.removeItem(LEASE_KEY);
}

/** Headers of an operator call: the bearer token and, when held, the lease. */
export function operatorHeaders() {
  const headers = {};
  const token = loadToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const lease = loadLease();
  if (lease && lease.lease_id) headers['X-Operator-Lease'] = lease.lease_id;
  return headers;
}

/** POST an operator route (arm, stop, rearm, override, send-to-robot). */
export function operatorPost(path, json) {
  return postJson(path, json, { headers: operatorHeaders() });
}

/** The jobs list; the contract says "list, newest first": accept a bare list or {jobs:[...]}. */
export async function listJobs() {
  const body = await getJson('/jobs');
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body.jobs)) return body.jobs;
  if (body && Array.isArray(body.items)) return body.items;
  return [];
}

/** URL of a job's result file: the job's own `files` map when it names it, else the route. */
export function jobFileUrl(job, name) {
  const files = (job && job.files) || {};
  if (files[name]) return files[name];
  return `${API}/jobs/${encodeURIComponent(job.id)}/files/${encodeURIComponent(name)}`;
}

/** Small DOM helper: element with attributes and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Number formatting that tolerates missing values. */
export function fmt(value, digits = 2, unit = '') {
  if (value === undefined || value === null || Number.isNaN(Number(value))) return '–';
  return `${Number(value).toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

export function formatTime(seconds) {
  if (!seconds) return '–';
  const date = new Date(seconds * 1000);
  return date.toLocaleString();
}
