// Evo2 Serve web page: no framework, no build step. Talks to the HTTP/JSON API of the server
// that served it (/v1/openapi.json): proto3 JSON bodies, Server-Sent Events for progress.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  jobId: null,
  lastEventId: '',
  kind: 'fasta',          // the kind of the job followed: 'fasta' or 'variants'
  variantProgress: null,  // the last VARIANTS_PROGRESS event's `variants`
  results: null,
  series: null,
  start: 0,
  width: 0,
  catalog: null,    // GET /v1/models
  vcfUpload: null,  // Uint8Array of an uploaded compressed VCF / BCF (not shown as text)
  variantRows: [],  // variants.tsv as rows of strings, header first
  sort: {column: -1, descending: false},
  downloadUrls: []
};

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(text) {
  $('status').textContent = text;
}

function authHeaders() {
  return {Authorization: 'Bearer ' + $('api-key').value.trim()};
}

// A call to the API; a non-2xx answer throws an Error carrying the API's message (the body is
// a google.rpc.Status).
async function api(path, options = {}) {
  const resp =
      await fetch(path, {...options, headers: {...authHeaders(), ...(options.headers || {})}});
  if (!resp.ok) {
    let message = 'HTTP ' + resp.status;
    try {
      const body = await resp.json();
      if (body.message) message = body.message;
    } catch (e) { /* not JSON */
    }
    const err = new Error(message);
    err.httpStatus = resp.status;
    throw err;
  }
  return resp;
}

// FASTA text → base64 (the JSON mapping of the request's `bytes fasta`); the server parses it.
function base64OfText(text) {
  return base64OfBytes(new TextEncoder().encode(text));
}

function base64OfBytes(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function bytesOfBase64(b64) {
  const raw = atob(b64 || '');
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function float32sOfTensor(t) {
  const bytes = bytesOfBase64(t.data);
  const view = new DataView(bytes.buffer);
  if (t.dtype === 'DTYPE_BFLOAT16') {
    const out = new Float32Array(bytes.length / 2);
    const u32 = new Uint32Array(1), f32 = new Float32Array(u32.buffer);  // bf16 = top half of f32
    for (let i = 0; i < out.length; i++) {
      u32[0] = view.getUint16(2 * i, true) << 16;
      out[i] = f32[0];
    }
    return out;
  }
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function fastaRequest() {
  const logProbs = [];
  if ($('out-sum').checked) logProbs.push('LOG_PROB_REDUCTION_SUM');
  if ($('out-mean').checked) logProbs.push('LOG_PROB_REDUCTION_MEAN');
  if ($('out-per-token').checked) logProbs.push('LOG_PROB_REDUCTION_PER_TOKEN');
  return {
    model: $('model').value.trim(),
    fasta: base64OfText($('fasta').value),
    outputs: {logProbs}
  };
}

async function submit(event) {
  event.preventDefault();
  showError('');
  $('submit').disabled = true;
  clearResults();
  state.jobId = null;
  state.kind = mode();
  state.variantProgress = null;
  try {
    const body = state.kind === 'variants' ? await variantsRequest() : fastaRequest();
    const resp = await api('/v1/jobs', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(body)
    });
    const {job} = await resp.json();
    state.jobId = job.jobId;
    state.lastEventId = '';
    showJob(job);
    $('cancel').disabled = false;
    await follow();
  } catch (err) {
    showError(err.message);
    setStatus(state.jobId ? 'Job ' + state.jobId + ': ' + err.message : 'Not submitted.');
  } finally {
    $('submit').disabled = false;
  }
}

// A variant job's progress counts VCF records (VARIANTS_PROGRESS events), not its one result.
function showJob(job) {
  const v = state.kind === 'variants' ? state.variantProgress || {} : null;
  const p = v || job.progress || {};
  const done = Number(p.recordsDone || 0), total = Number(p.recordsTotal || 0);
  const name = (job.state || '').replace('JOB_STATE_', '').toLowerCase();
  setStatus(
      'Job ' + job.jobId + ': ' + name + ' (' + done + ' of ' + total +
      (v ? ' VCF records scored)' : ' records)'));
  $('progress').max = Math.max(total, 1);
  $('progress').value = done;
}

const TERMINAL = ['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'];

// Follows the job's Server-Sent Events until it is terminal; a dropped stream is resumed after
// the last event id. fetch (not EventSource) so that the API key travels in a header.
async function follow() {
  const jobId = state.jobId;
  let progress = {recordsDone: 0, recordsTotal: 0};
  for (let attempt = 0; attempt < 50 && jobId === state.jobId; attempt++) {
    let ended = null;
    try {
      const headers = state.lastEventId ? {'Last-Event-ID': state.lastEventId} : {};
      const resp = await api('/v1/jobs/' + jobId + '/events', {headers});
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, {stream: true});
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const msg = {event: 'message', data: '', id: null};
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) continue;  // keep-alive comment
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event')
              msg.event = val;
            else if (field === 'data')
              msg.data += val;
            else if (field === 'id')
              msg.id = val;
          }
          if (!msg.data) continue;
          if (msg.id !== null) state.lastEventId = msg.id;
          const data = JSON.parse(msg.data);
          if (msg.event === 'end') {
            ended = data;
            continue;
          }
          progress = data.progress || progress;
          if (data.type === 'JOB_EVENT_TYPE_VARIANTS_PROGRESS')
            state.variantProgress = data.variants;
          showJob({jobId, state: data.state, progress});
          if (data.type === 'JOB_EVENT_TYPE_STATE_CHANGED' && TERMINAL.includes(data.state)) {
            await finish(jobId, data);
            return;
          }
        }
      }
    } catch (err) {
      if (err.httpStatus) throw err;  // the API said no: do not retry
    }
    if (ended && ended.code === 0) break;  // terminal before our last id: read the job below
    await new Promise((r) => setTimeout(r, 500));
  }
  const job = await (await api('/v1/jobs/' + jobId)).json();
  showJob(job);
  if (TERMINAL.includes(job.state)) await finish(jobId, {state: job.state, error: job.error});
}

async function finish(jobId, ev) {
  $('cancel').disabled = true;
  if (ev.state === 'JOB_STATE_FAILED')
    showError((ev.error && ev.error.message) || 'the job failed');
  if (ev.state !== 'JOB_STATE_SUCCEEDED') return;
  const results = await (await api('/v1/jobs/' + jobId + '/results')).json();
  state.results = results;
  if (state.kind === 'variants')
    fillVariantResults(jobId, results.records[0]);
  else
    fillResults(jobId, results.records);
}

function clearResults() {
  state.results = null;
  clearVariantResults();
  $('results').tBodies[0].replaceChildren();
  $('plot-record').replaceChildren();
  $('plot-record').disabled = true;
  $('download-json').disabled = true;
  $('plot').replaceChildren();
  $('plot').setAttribute('aria-label', 'No plot yet');
}

function cell(text, cls, value) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  if (value !== undefined) td.dataset.value = String(value);
  return td;
}

function fillResults(jobId, records) {
  const body = $('results').tBodies[0];
  const select = $('plot-record');
  for (const r of records) {
    const tr = document.createElement('tr');
    const index = Number(r.recordIndex);
    tr.append(
        cell(String(index), 'num'), cell(r.recordName),
        cell(String(r.numTokens), 'num', r.numTokens),
        cell(Number(r.logProbSum).toFixed(4), 'num', r.logProbSum),
        cell(Number(r.logProbMean).toFixed(5), 'num', r.logProbMean));
    const downloads = document.createElement('td');
    for (const t of r.tensors || []) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = t.name + '.npy';
      b.addEventListener(
          'click',
          () => download(
              '/v1/jobs/' + jobId + '/results/' + index + '/' + t.name + '.npy',
              jobId + '_' + index + '_' + t.name.replace(/\//g, '_') + '.npy'));
      downloads.append(b);
    }
    tr.append(downloads);
    body.append(tr);
    if ((r.tensors || []).some((t) => t.name === 'log_probs')) {
      const opt = document.createElement('option');
      opt.value = String(index);
      opt.textContent = index + ': ' + r.recordName;
      select.append(opt);
    }
  }
  $('download-json').disabled = false;
  select.disabled = select.options.length === 0;
  if (!select.disabled) selectPlotRecord();
}

async function download(path, filename) {
  try {
    const blob = await (await api(path)).blob();
    saveBlob(blob, filename);
  } catch (err) {
    showError(err.message);
  }
}

function saveBlob(blob, filename) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function selectPlotRecord() {
  const index = Number($('plot-record').value);
  const r = state.results.records.find((x) => Number(x.recordIndex) === index);
  const t = r.tensors.find((x) => x.name === 'log_probs');
  state.series = float32sOfTensor(t);
  state.record = r.recordName;
  state.start = 0;
  state.width = state.series.length;
  drawPlot();
}

// The frame both plots share (no plotting library): an SVG with two axes, the y range and the
// x range's first and last labels; x(v) and y(v) map data to SVG coordinates, add() appends an
// element (to the SVG, or to `parent`). Returned so that each plot draws its own marks on it.
function plotFrame({xFrom, xTo, xFirst, xLast, xTitle, lo, hi}) {
  const W = 900, H = 260, L = 50, R = 10, T = 10, B = 30;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const add = (tag, attrs, text, parent = svg) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    parent.append(e);
    return e;
  };
  const x = (v) => L + ((v - xFrom) / Math.max(1, xTo - xFrom)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  add('line', {class: 'axis', x1: L, y1: T, x2: L, y2: H - B});
  add('line', {class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B});
  add('text', {x: L - 4, y: T + 10, 'text-anchor': 'end'}, hi.toFixed(2));
  add('text', {x: L - 4, y: H - B, 'text-anchor': 'end'}, lo.toFixed(2));
  add('text', {x: L, y: H - 8}, xFirst);
  add('text', {x: W - R, y: H - 8, 'text-anchor': 'end'}, xLast);
  add('text', {x: (L + W) / 2, y: H - 8, 'text-anchor': 'middle'}, xTitle);
  return {svg, add, x, y, left: L, plotWidth: W - L - R};
}

// Smallest and largest of values; a flat range is widened so that the y scale stays finite.
function valueRange(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return hi - lo < 1e-6 ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

// Per-position log-probabilities as one polyline. Long records are reduced to the min and max
// of each horizontal pixel, so a million positions draw as fast as a thousand and no spike
// disappears; zoom and pan choose the window.
function drawPlot() {
  const s = state.series;
  if (!s || s.length === 0) return;
  const n = s.length;
  state.width = Math.max(Math.min(state.width || n, n), Math.min(10, n));
  state.start = Math.max(0, Math.min(state.start, n - state.width));
  $('plot-start').value = state.start;
  $('plot-width').value = state.width;
  const from = state.start, to = state.start + state.width;
  const [lo, hi] = valueRange(s.subarray(from, to));
  const f = plotFrame({
    xFrom: from,
    xTo: to - 1,
    xFirst: String(from + 1),
    xLast: String(to),
    xTitle: 'position (predicted base)',
    lo,
    hi
  });
  const {x, y} = f;
  const pts = [];
  const perPixel = (to - from) / f.plotWidth;
  if (perPixel <= 2) {
    for (let i = from; i < to; i++) pts.push(x(i).toFixed(1) + ',' + y(s[i]).toFixed(1));
  } else {
    const L = f.left;
    for (let px = 0; px < f.plotWidth; px++) {
      const a = from + Math.floor(px * perPixel),
            b = Math.min(to, from + Math.floor((px + 1) * perPixel));
      let mn = Infinity, mx = -Infinity;
      for (let i = a; i < b; i++) {
        if (s[i] < mn) mn = s[i];
        if (s[i] > mx) mx = s[i];
      }
      if (b > a) pts.push((L + px) + ',' + y(mx).toFixed(1), (L + px) + ',' + y(mn).toFixed(1));
    }
  }
  f.add('polyline', {class: 'line', points: pts.join(' ')});
  f.svg.addEventListener('wheel', onWheel, {passive: false});
  f.svg.addEventListener('pointerdown', onDrag);
  $('plot').replaceChildren(f.svg);
  $('plot').setAttribute(
      'aria-label',
      `Log-probabilities of ${state.record}, positions ${from + 1} to ${to} of ${n}, from ${
          lo.toFixed(2)} to ${hi.toFixed(2)}`);
}

function zoom(factor, centre) {
  const c = centre === undefined ? state.start + state.width / 2 : centre;
  const w = Math.round(state.width * factor);
  state.width = w;
  state.start = Math.round(c - w / 2);
  drawPlot();
}

function onWheel(e) {
  e.preventDefault();
  const box = e.currentTarget.getBoundingClientRect();
  const frac = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
  zoom(e.deltaY < 0 ? 0.8 : 1.25, state.start + frac * state.width);
}

function onDrag(e) {
  const box = e.currentTarget.getBoundingClientRect();
  const x0 = e.clientX, start0 = state.start;
  const move = (m) => {
    state.start = Math.round(start0 - ((m.clientX - x0) / box.width) * state.width);
    drawPlot();
  };
  const up = () => {
    window.removeEventListener('pointermove', move);
    window.removeEventListener('pointerup', up);
  };
  window.addEventListener('pointermove', move);
  window.addEventListener('pointerup', up);
}

$('submit-form').addEventListener('submit', submit);
$('fasta-file').addEventListener('change', async (e) => {
  const f = e.target.files[0];
  if (f) $('fasta').value = await f.text();
});
$('cancel').addEventListener('click', async () => {
  try {
    showJob(await (await api('/v1/jobs/' + state.jobId + ':cancel', {method: 'POST'})).json());
  } catch (err) {
    showError(err.message);
  }
});
$('download-json')
    .addEventListener(
        'click',
        () => saveBlob(
            new Blob([JSON.stringify(state.results)], {type: 'application/json'}),
            state.jobId + '_results.json'));
$('plot-record').addEventListener('change', selectPlotRecord);
