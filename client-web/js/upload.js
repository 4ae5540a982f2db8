// The upload page: pick or drop a clip, upload it with a progress bar, follow the job, link
// to its result; below, the jobs list with cancel buttons.

import {
  API, errorMessage, fmt, formatTime, getJson, listJobs, request, el,
} from './api.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 500;
const LIST_REFRESH_MS = 3000;
const FINAL = new Set(['done', 'failed', 'cancelled']);

let file = null;

function showError(text) {
  const box = $('error');
  box.textContent = text;
  box.hidden = !text;
}

function setProgress(id, fraction, state) {
  const bar = $(id);
  bar.querySelector('i').style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
  bar.classList.toggle('done', state === 'done');
  bar.classList.toggle('failed', state === 'failed');
}

function pickFile(f) {
  file = f || null;
  $('file-name').textContent = file ? `${file.name} (${(file.size / 1e6).toFixed(2)} MB)` : '';
  $('upload-button').disabled = !file;
  showError('');
  $('done').hidden = true;
}

/**
 * POST /api/v1/jobs as multipart with XMLHttpRequest: fetch() has no upload progress.
 * Resolves with the job body (202) or rejects with the server's message (413/415/422...).
 */
function uploadWithProgress(f, view, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append('file', f, f.name);
    form.append('view', view);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${API}/jobs`);
    xhr.responseType = 'text';
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total, e.loaded, e.total);
    });
    xhr.addEventListener('load', () => {
      let body = xhr.responseText;
      try {
        body = JSON.parse(body);
      } catch {
        // keep text
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        const err = new Error(errorMessage(xhr.status, body, xhr.statusText));
        err.status = xhr.status;
        reject(err);
      }
    });
    xhr.addEventListener('error', () => reject(new Error('network error during upload')));
    xhr.addEventListener('abort', () => reject(new Error('upload aborted')));
    xhr.send(form);
  });
}

const STATUS_HELP = {
  413: 'the file is larger than the server accepts',
  415: 'the server does not accept this file type (upload a video, e.g. mp4/webm/mov)',
  422: 'the file is empty or not a readable video',
};

async function upload(event) {
  event.preventDefault();
  if (!file) return;
  showError('');
  $('done').hidden = true;
  $('upload-button').disabled = true;
  $('progress-block').hidden = false;
  setProgress('upload-progress', 0);
  setProgress('job-progress', 0);
  $('job-label').textContent = 'waiting for the upload…';
  let job;
  try {
    job = await uploadWithProgress(file, $('view').value, (fraction, loaded, total) => {
      setProgress('upload-progress', fraction);
      $('upload-label').textContent = `uploading ${(loaded / 1e6).toFixed(2)} / `
        + `${(total / 1e6).toFixed(2)} MB (${Math.round(fraction * 100)}%)`;
    });
  } catch (err) {
    setProgress('upload-progress', 1, 'failed');
    $('upload-label').textContent = 'upload rejected';
    const help = STATUS_HELP[err.status];
    showError(`Upload failed: ${err.message}${help ? ` — ${help}` : ''}`);
    $('upload-button').disabled = false;
    return;
  }
  setProgress('upload-progress', 1, 'done');
  $('upload-label').textContent = `uploaded: job ${job.id}`;
  refreshJobs();
  await follow(job.id);
  $('upload-button').disabled = !file;
}

/** Poll GET /jobs/{id} until it is final; on done go to the result page. */
async function follow(id) {
  for (;;) {
    let job;
    try {
      job = await getJson(`/jobs/${encodeURIComponent(id)}`);
    } catch (err) {
      showError(`job ${id}: ${err.message}`);
      return;
    }
    const progress = Number(job.progress) || 0;
    setProgress('job-progress', job.status === 'done' ? 1 : progress,
      job.status === 'failed' ? 'failed' : job.status === 'done' ? 'done' : undefined);
    $('job-label').textContent = `${job.status}${job.stage ? ` · ${job.stage}` : ''} · `
      + `${Math.round(progress * 100)}%`;
    if (FINAL.has(job.status)) {
      refreshJobs();
      const url = `/jobs/${encodeURIComponent(id)}`;
      if (job.status === 'done') {
        const done = $('done');
        done.replaceChildren('Done: ', el('a', { href: url, id: 'result-link' }, `open result ${id}`));
        done.hidden = false;
        // Give the operator a moment to see it finished, then open the result.
        setTimeout(() => { location.href = url; }, 800);
      } else {
        showError(`Job ${job.status}${job.error ? `: ${job.error}` : ''}`);
      }
      return;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function cancelJob(id) {
  try {
    await request('DELETE', `/jobs/${encodeURIComponent(id)}`);
  } catch (err) {
    showError(`cancel ${id}: ${err.message}`);
  }
  refreshJobs();
}

async function refreshJobs() {
  const body = $('jobs-body');
  let jobs;
  try {
    jobs = await listJobs();
  } catch (err) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 6, class: 'muted' },
      `could not list jobs: ${err.message}`)));
    return;
  }
  if (!jobs.length) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'no jobs yet')));
    return;
  }
  body.replaceChildren(...jobs.map((job) => {
    const running = job.status === 'queued' || job.status === 'running';
    return el('tr', { dataset: { jobId: job.id } },
      el('td', { class: 'mono' }, el('a', { href: `/jobs/${encodeURIComponent(job.id)}` }, job.id)),
      el('td', {}, formatTime(job.created_s)),
      el('td', {}, job.view ?? '–'),
      el('td', {}, el('span', { class: 'status', dataset: { status: job.status } }, job.status)),
      el('td', { class: 'mono' }, job.status === 'done' ? '100%'
        : `${fmt((Number(job.progress) || 0) * 100, 0)}%${job.stage ? ` ${job.stage}` : ''}`),
      el('td', {}, running
        ? el('button', { class: 'danger', type: 'button', onclick: () => cancelJob(job.id) }, 'Cancel')
        : ''));
  }));
}

function wire() {
  const zone = $('dropzone');
  $('file-input').addEventListener('change', (e) => pickFile(e.target.files[0]));
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') $('file-input').click();
  });
  for (const type of ['dragenter', 'dragover']) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add('over');
    });
  }
  for (const type of ['dragleave', 'drop']) {
    zone.addEventListener(type, () => zone.classList.remove('over'));
  }
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) pickFile(e.dataTransfer.files[0]);
  });
  $('upload-form').addEventListener('submit', upload);
  $('refresh').addEventListener('click', refreshJobs);
  refreshJobs();
  setInterval(refreshJobs, LIST_REFRESH_MS);
}

wire();
