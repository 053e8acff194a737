// <countscope-replay>: a recording replayed against a count model, plotted frame by frame.
//
//   <script type="module" src="countscope-replay.js"></script>
//   <countscope-replay recording="rec.paired.jsonl.gz" model="count_v1.onnx"></countscope-replay>
//
// Attributes: recording, model (URLs; default: the sample model and the 30-minute sample recording),
// layout (labelled | frame-major | as-stored), normalise (model | recording: z-score each subcarrier with the
// recording's own statistics, the CLI's --normalise recording), targets (v0.1.0 | v0.2.0), cross-room, full (the whole
// app: drop zone, report panel, exports), workers (how many replay workers: default one per core, at most
// 4; `?workers=` on the full page). Several elements on one page are independent: each has its own workers
// and its own replay. It is sized by its container.
//
// The element only moves bytes and pixels: parsing, inference, metrics and drawing are the wasm engine's.

import init, { Model, Plots, drawHeatmap } from './pkg/countscope.js';

const here = (path) => new URL(path, import.meta.url).href;
const DEFAULT_MODEL = here('./artifacts/count_v1.onnx');
const DEFAULT_RECORDING = here('./artifacts/recordings/room0-30min.paired.jsonl.gz');
const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];
// Two builds of the same engine: with relaxed SIMD (tract's matrix kernels use fused multiply-add) where the
// browser validates it, else plain SIMD128. Same exports, same JS glue; `?engine=simd128` forces the plain one.
// A one-function module whose body is f32x4.relaxed_madd over three v128 constants.
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 61, 1, 59, 0,
  ...[0, 1, 2].flatMap(() => [253, 12, ...new Array(16).fill(0)]), 253, 133, 2, 11]);
export const ENGINE = new URLSearchParams(location.search).get('engine') !== 'simd128' && WebAssembly.validate(RELAXED_PROBE)
  ? 'relaxed-simd' : 'simd128';
// Compiled once per page: the main thread instantiates it for drawing, and every element's worker gets
// the same compiled module (no second download, no second compile).
const compiled = WebAssembly.compileStreaming(fetch(here(ENGINE === 'relaxed-simd' ? './pkg/countscope_relaxed_bg.wasm' : './pkg/countscope_bg.wasm')));
const engine = compiled.then((module) => init({ module_or_path: module }));

const fmt = {
  pct: (v) => (v == null ? '—' : `${(100 * v).toFixed(1)} %`),
  num: (v, d = 3) => (v == null ? '—' : Number(v).toFixed(d)),
  mb: (b) => `${(b / 1e6).toFixed(1)} MB`,
  clock(s) {
    if (!Number.isFinite(s)) return '—';
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s / 60) % 60), ss = String(s % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  },
};
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const TEMPLATE = document.createElement('template');
TEMPLATE.innerHTML = `
<link rel="stylesheet" href="${here('./countscope-replay.css')}">
<div class="root" tabindex="0">
  <div class="drop-overlay" hidden>Drop a recording, a model (.onnx with its .onnx.data or .safetensors, or a CountNet .safetensors alone), a .temperature</div>
  <div class="bar load-bar">
    <span class="sources"></span>
    <span class="synthetic" hidden title="These windows were made by a simulator, not measured">SYNTHETIC</span>
    <span class="grow"></span>
    <button class="full-only" data-act="open" title="Open a recording, a model (+ .onnx.data or .safetensors, or a .safetensors alone), a .temperature">Open files…</button>
    <input type="file" multiple hidden>
  </div>
  <div class="progress" hidden><progress max="1" value="0"></progress><span></span><button data-act="cancel" title="Stop reading; keep what was loaded before">Cancel</button></div>
  <div class="messages" role="status" aria-live="polite"></div>
  <div class="bar transport" role="toolbar" aria-label="Replay">
    <button data-act="home" title="First window (Home)">|◀</button>
    <button data-act="prev-wrong" title="Previous wrong window (P)">◀ wrong</button>
    <button data-act="back" title="Step back (←)">◀</button>
    <button data-act="play" class="play" title="Play / pause (Space)">Play</button>
    <button data-act="fwd" title="Step forward (→)">▶</button>
    <button data-act="next-wrong" title="Next wrong window (N)">wrong ▶</button>
    <button data-act="end" title="Last window (End)">▶|</button>
    <select class="speed" title="Replay speed (real time from the timestamps)" aria-label="Speed">
      ${SPEEDS.map((s) => `<option value="${s}" ${s === 1 ? 'selected' : ''}>${s}×</option>`).join('')}
    </select>
    <input class="scrub" type="range" min="0" max="0" value="0" aria-label="Window">
  </div>
  <div class="readout" aria-live="off"></div>
  <div class="plots">
    <figure class="wide"><figcaption>Predicted count (blue, 95 % band) vs ground truth (grey); wrong windows shaded red · <span class="zoom-note"></span></figcaption><canvas data-plot="timeline"></canvas></figure>
    <figure class="wide"><figcaption>Confidence: right (teal), wrong (red), unlabelled (grey)</figcaption><canvas data-plot="confidence"></canvas></figure>
    <figure><figcaption>Current window (56 subcarriers × 20 frames)</figcaption><canvas data-plot="heatmap"></canvas></figure>
    <figure><figcaption>Class probabilities (truth outlined)</figcaption><canvas data-plot="probs"></canvas></figure>
    <figure><figcaption>Confusion (rows: truth)</figcaption><canvas data-plot="confusion"></canvas></figure>
    <figure><figcaption>Reliability of the confidence</figcaption><canvas data-plot="reliability"></canvas></figure>
  </div>
  <section class="report"></section>
  <div class="bar exports full-only">
    <label>Targets <select class="targets"><option value="v0.1.0">ADR-103 v0.1.0</option><option value="v0.2.0">ADR-103 v0.2.0</option></select></label>
    <label><input type="checkbox" class="cross-room"> cross-room</label>
    <label title="How a flat csi array maps onto the model's [56][20] (the CLI's --layout)">Layout <select class="layout"><option value="labelled">as labelled (csi_shape)</option><option value="frame-major">frame-major [20][56]</option><option value="as-stored">as stored</option></select></label>
    <label title="Z-score each subcarrier before the model (the CLI's --normalise): with the model's own statistics when it carries them, or with the recording's own (read in a first pass) for a model that carries none, as RuView's own">Normalise <select class="normalise"><option value="model">model's own</option><option value="recording">recording's statistics</option></select></label>
    <span class="grow"></span>
    <button data-act="csv">Per-frame CSV</button>
    <button data-act="json">Report JSON</button>
    <button data-act="png">Plots PNG</button>
  </div>
</div>`;

/** Sort dropped files by what they contain. The one exception is external weight data: raw floats have no
 *  signature, so a file is that when its name says so (`*.data`, `*.bin`), which is also how the model
 *  refers to it. */
async function classify(files) {
  const out = { recording: null, model: null, weights: null, data: {}, temperature: null, rejected: [] };
  const safetensors = [];
  for (const f of files) {
    const head = new Uint8Array(await f.slice(0, 64).arrayBuffer());
    const text = new TextDecoder().decode(head).replace(/^\uFEFF/, '').trimStart();
    if (/\.data$|\.bin$/i.test(f.name)) out.data[f.name] = f;
    // safetensors: an 8-byte little-endian header length (high bytes zero), then the JSON header.
    else if (head.length > 8 && head[8] === 0x7b && head[4] === 0 && head[5] === 0 && head[6] === 0 && head[7] === 0) safetensors.push(f);
    else if (head[0] === 0x1f && head[1] === 0x8b) out.recording = f; // gzip: a compressed recording
    else if (text.startsWith('{')) out.recording = f; // JSON lines
    else if (head[0] === 0x08 && head.length > 2 && head[1] < 0x20) out.model = f; // ONNX: field 1 (ir_version)
    else if (f.size < 64 && /^\s*[0-9.eE+-]+\s*$/.test(text)) out.temperature = f;
    else out.rejected.push(f.name);
  }
  // With an ONNX model, a safetensors file is its weights; alone, it is the model (CountNet).
  if (out.model) out.weights = safetensors.shift() ?? null;
  else out.model = safetensors.shift() ?? null;
  out.rejected.push(...safetensors.map((f) => f.name));
  return out;
}

function download(name, blob) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

class CountscopeReplay extends HTMLElement {
  static observedAttributes = ['recording', 'model', 'layout', 'normalise'];

  constructor() {
    super();
    this.attachShadow({ mode: 'open' }).appendChild(TEMPLATE.content.cloneNode(true));
    this.$ = (sel) => this.shadowRoot.querySelector(sel);
    this.cursor = 0;
    this.playing = false;
    this.speed = 1;
    this.plots = null;
    this.columns = null;
    this.report = null;
    this.windows = new Map();
    this.requests = new Map();
    this.nextId = 1;
    this.dark = matchMedia('(prefers-color-scheme: dark)');
    this.state = 'idle';
  }

  connectedCallback() {
    if (this.worker) return;
    // One worker per core (at most 4; the `workers` attribute or, for the full page, `?workers=` sets it):
    // the first streams, merges and keeps the replay, the others infer their share of the batches.
    const asked = Number((this.hasAttribute('full') && new URLSearchParams(location.search).get('workers')) || this.getAttribute('workers'));
    const count = Math.max(1, Math.min(4, Math.floor(asked) || navigator.hardwareConcurrency || 1));
    this.workers = Array.from({ length: count }, () => {
      const w = new Worker(here('./replay-worker.js'), { type: 'module' });
      w.onmessage = ({ data }) => this.onWorker(data);
      w.onerror = (e) => this.message('error', `a replay worker failed: ${e.message ?? e}`);
      return w;
    });
    [this.worker, ...this.helpers] = this.workers;
    compiled.then(
      (module) => this.workers?.forEach((w) => w.postMessage({ type: 'init', module })),
      (e) => this.message('error', `cannot load the engine (${ENGINE} build): ${e.message}`),
    );
    this.bindControls();
    this.resize = new ResizeObserver(() => this.redraw());
    this.resize.observe(this.$('.plots'));
    this.dark.addEventListener('change', () => this.redraw());
    this.toggleAttribute('data-full', this.hasAttribute('full'));
    queueMicrotask(() => this.start());
  }

  disconnectedCallback() {
    this.workers?.forEach((w) => w.terminate());
    this.workers = null;
    this.worker = null;
    this.helpers = [];
    this.resize?.disconnect();
    this.pause();
  }

  attributeChangedCallback(name, old, value) {
    if (this.worker && this.started && old !== value) this.start();
  }

  /** Ask a worker (the primary by default); resolves with its answer, rejects with its error message. */
  ask(type, payload = {}, onProgress, transfer = [], worker = this.worker) {
    const id = this.nextId++;
    const answer = new Promise((resolve, reject) => {
      this.requests.set(id, { resolve, reject, onProgress });
      worker.postMessage({ id, type, ...payload }, transfer);
    });
    answer.id = id;
    return answer;
  }

  /** Load a model in every worker; the primary's answer (they all load the same bytes). */
  async askModel(payload) {
    const [answer] = await Promise.all(this.workers.map((w) => this.ask('model', payload, undefined, [], w)));
    return answer;
  }

  onWorker(data) {
    const r = this.requests.get(data.id);
    if (!r) return;
    if (data.type === 'progress') return r.onProgress?.(data);
    this.requests.delete(data.id);
    if (data.type === 'error') r.reject(Object.assign(new Error(data.message), { stopped: data.stopped }));
    else r.resolve(data);
  }

  async start() {
    this.started = true;
    const params = this.hasAttribute('full') ? new URLSearchParams(location.search) : new URLSearchParams();
    const model = params.get('model') ?? this.getAttribute('model') ?? DEFAULT_MODEL;
    const recording = params.get('recording') ?? this.getAttribute('recording') ?? DEFAULT_RECORDING;
    try {
      const sameOrigin = (what, url) => {
        const u = new URL(url, location.href);
        if (u.origin !== location.origin) {
          throw new Error(`refusing the ${what} ${u.href}: this page fetches only from its own origin (${location.origin}); download the file and drop it instead`);
        }
        return u.href;
      };
      const modelUrl = sameOrigin('model', model);
      const recordingUrl = sameOrigin('recording', recording);
      await this.loadModelUrl(modelUrl);
      await this.replay(recordingUrl);
    } catch (e) {
      if (!e.stopped) this.message('error', e.message);
    }
  }

  async fetchBytes(url, what) {
    let response;
    try {
      response = await fetch(url);
    } catch (e) {
      const other = new URL(url, location.href).origin !== location.origin;
      throw new Error(`cannot fetch the ${what} ${url}: ${e.message}${other ? ' (this page fetches only from its own origin: download the file and drop it instead)' : ''}`);
    }
    if (!response.ok) throw new Error(`cannot fetch the ${what} ${url}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }

  /** A model by URL, with the companions it names fetched from beside it (or, when one is not there,
   *  `<stem>.safetensors` filling its weights: RuView publishes no `.onnx.data`), and the first `.temperature`
   *  sidecar the core names, looked for only when the model carries no temperature of its own. */
  async loadModelUrl(url) {
    this.setBusy(`loading model ${url.split('/').pop()}…`);
    const bytes = await this.fetchBytes(url, 'model');
    const name = url.split('/').pop();
    const external = {};
    await engine;
    const weightsName = Model.weightsName(name);
    let weights = null;
    for (const file of Model.externalFiles(bytes)) {
      try {
        external[file] = await this.fetchBytes(new URL(file, url).href, `model's external data`);
      } catch (e) {
        weights ??= await this.fetchBytes(new URL(weightsName, url).href, 'model\'s weights').catch(() => { throw e; });
      }
    }
    let sidecar = null;
    for (const side of Model.sidecarNames(bytes, name)) {
      const answer = await fetch(new URL(side, url).href).catch(() => null);
      if (answer?.ok) { sidecar = { name: side, text: await answer.text() }; break; }
    }
    this.modelInfo = await this.askModel({ bytes, options: { name, external, weights, weightsName: weights ? weightsName : null, sidecar } });
    this.modelName = name;
  }

  async loadModelFiles(model, data, temperatureFile, weightsFile) {
    const bytes = new Uint8Array(await model.arrayBuffer());
    await engine;
    const external = {};
    for (const name of Model.externalFiles(bytes)) {
      const file = data[name] ?? Object.values(data).find((f) => f.name.endsWith(name.split('/').pop()));
      if (file) external[name] = new Uint8Array(await file.arrayBuffer());
    }
    const sidecar = temperatureFile ? { name: temperatureFile.name, text: await temperatureFile.text() } : null;
    const weights = weightsFile ? new Uint8Array(await weightsFile.arrayBuffer()) : null;
    this.modelInfo = await this.askModel({ bytes, options: { name: model.name, external, weights, weightsName: weightsFile?.name, sidecar } });
    this.modelName = model.name;
  }

  setBusy(text) {
    this.state = 'loading';
    this.setAttribute('state', 'loading');
    const p = this.$('.progress');
    p.hidden = false;
    p.querySelector('span').textContent = text;
    p.querySelector('progress').removeAttribute('value');
  }

  async replay(source) {
    const name = typeof source === 'string' ? source.split('/').pop() : source.name;
    const token = (this.loadToken = (this.loadToken ?? 0) + 1);
    this.setBusy(`reading ${name}…`);
    const began = performance.now();
    const bar = this.$('.progress progress'), label = this.$('.progress span');
    const layout = this.hasAttribute('full') ? this.$('.layout').value : this.getAttribute('layout');
    const normalise = this.hasAttribute('full') ? this.$('.normalise').value : this.getAttribute('normalise');
    const shards = this.workers.length;
    const primary = this.ask('replay', {
      source, layout, normalise, shards,
      targets: this.$('.targets').value,
      crossRoom: this.$('.cross-room').checked,
    }, (p) => {
      if (p.total) bar.value = p.bytes / p.total; else bar.removeAttribute('value');
      label.textContent = `${name}: ${p.windows.toLocaleString()} windows · ${fmt.mb(p.bytes)}${p.total ? ' of ' + fmt.mb(p.total) : ''} · ${p.skipped} skipped line(s)`;
    });
    // The helpers read the same bytes and infer the other shards; their columns go to the primary.
    const helperWasm = [];
    this.helpers.forEach((w, k) => {
      this.ask('shard', { source, layout, normalise, shard: k + 1, shards }, undefined, [], w).then(
        ({ columns, wasm }) => {
          helperWasm[k] = wasm;
          this.worker?.postMessage({ type: 'merge', replay: primary.id, columns }, Object.values(columns).map((a) => a.buffer));
        },
        (e) => this.worker?.postMessage({ type: 'merge', replay: primary.id, error: e.message }),
      );
    });
    const result = await primary.catch((e) => {
      if (token === this.loadToken) {
        // Failed or cancelled, and no newer load took over: back to what was loaded before.
        this.$('.progress').hidden = true;
        this.state = this.plots ? 'ready' : 'error';
        this.setAttribute('state', this.state);
      }
      throw e;
    });
    this.lastSource = source;
    await engine;
    const c = result.columns;
    const plots = new Plots(c.line, c.tsStart, c.tsEnd, c.truth, c.count, c.confidence, c.p95Low, c.p95High, c.probs, c.countLogits, c.confLogit);
    this.plots?.free();
    this.plots = plots;
    this.columns = c;
    this.report = result.report;
    this.reportText = result.reportText;
    this.recordingName = result.name;
    this.windows.clear();
    this.cursor = 0;
    this.zoom = null;
    this.$('.scrub').max = String(plots.len() - 1);
    this.$('.progress').hidden = true;
    this.clearMessages();
    this.showBadLines();
    this.renderReport();
    this.$('.sources').textContent = `${result.name} · model ${this.modelName} · engine: wasm ${ENGINE} × ${this.workers.length} worker(s)`;
    this.$('.synthetic').hidden = !(this.report.recording.synthetic_windows > 0);
    this.redraw();
    // "Plotted" means drawn: wait for the frame that draws the cursor plots, and for the heatmap's window.
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
    await this.drawWindow(this.cursor);
    const mainWasm = (await engine).memory.buffer.byteLength;
    this.timing = {
      engine: ENGINE, workers: shards, replaySeconds: result.seconds, plottedSeconds: (performance.now() - began) / 1000,
      memory: { ...result.memory, mainWasm, helpersWasm: helperWasm.reduce((a, b) => a + (b ?? 0), 0) },
    };
    this.state = 'ready';
    this.setAttribute('state', 'ready');
    this.dispatchEvent(new CustomEvent('replayed', { detail: { report: this.report, timing: this.timing } }));
  }

  showBadLines() {
    const r = this.report;
    if (r.skipped_lines > 0) {
      const listed = r.bad_lines.slice(0, 8).map((b) => `line ${b.line}: ${b.reason}`);
      const more = r.skipped_lines > listed.length ? ` … and ${r.skipped_lines - listed.length} more (all in the report)` : '';
      this.message('warning', `${r.skipped_lines} bad line(s) skipped, the rest replayed — ${listed.join('; ')}${more}`);
    }
    if (r.recording.stream_error) this.message('warning', `the input stops early: ${r.recording.stream_error}; everything before it was replayed`);
  }

  message(kind, text) {
    const div = document.createElement('div');
    div.className = `msg ${kind}`;
    div.innerHTML = `<span>${esc(text)}</span><button aria-label="Dismiss">×</button>`;
    div.querySelector('button').onclick = () => div.remove();
    this.$('.messages').appendChild(div);
    this.dispatchEvent(new CustomEvent('message', { detail: { kind, text } }));
  }

  clearMessages() {
    this.$('.messages').replaceChildren();
  }

  /** Files dropped or picked: sorted by content; a bad one is reported and nothing already loaded is lost. */
  async openFiles(list) {
    const files = [...list];
    if (!files.length) return;
    const found = await classify(files);
    for (const name of found.rejected) {
      this.message('error', `${name}: not a recording (JSON lines or gzip), an ONNX model, model data (.onnx.data), safetensors weights (one per drop) or a .temperature file — ignored`);
    }
    try {
      if (found.model) await this.loadModelFiles(found.model, found.data, found.temperature, found.weights);
      else if (found.temperature || Object.keys(found.data).length) {
        this.message('error', 'a .temperature or .onnx.data file needs its model dropped with it');
      }
      if (found.recording) await this.replay(found.recording);
      else if (found.model && this.lastSource) await this.replay(this.lastSource);
    } catch (e) {
      if (!e.stopped) this.message('error', e.message);
      this.$('.progress').hidden = true;
      this.state = this.plots ? 'ready' : 'error';
      this.setAttribute('state', this.state);
    }
  }

  bindControls() {
    const root = this.$('.root');
    const overlay = this.$('.drop-overlay');
    const full = () => this.hasAttribute('full');
    const target = () => (full() ? document : root);
    let depth = 0;
    target().addEventListener('dragenter', (e) => { e.preventDefault(); depth++; overlay.hidden = false; });
    target().addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; overlay.hidden = true; } });
    target().addEventListener('dragover', (e) => e.preventDefault());
    target().addEventListener('drop', (e) => {
      e.preventDefault();
      depth = 0;
      overlay.hidden = true;
      this.openFiles(e.dataTransfer.files);
    });
    this.$('input[type=file]').addEventListener('change', (e) => this.openFiles(e.target.files));
    this.$('.progress').addEventListener('click', (e) => {
      if (e.target.closest('button')?.dataset.act === 'cancel') this.workers.forEach((w) => w.postMessage({ type: 'cancel' }));
    });
    this.$('.load-bar').addEventListener('click', (e) => { if (e.target.closest('button')?.dataset.act === 'open') this.$('input[type=file]').click(); });
    this.$('.transport').addEventListener('click', (e) => this.act(e.target.closest('button')?.dataset.act));
    this.$('.exports').addEventListener('click', (e) => this.act(e.target.closest('button')?.dataset.act));
    this.$('.speed').addEventListener('change', (e) => { this.speed = Number(e.target.value); if (this.playing) { this.pause(); this.play(); } });
    this.$('.scrub').addEventListener('input', (e) => this.seek(Number(e.target.value)));
    for (const sel of ['.targets', '.cross-room']) this.$(sel).addEventListener('change', () => this.rescore());
    this.$('.layout').value = this.getAttribute('layout') || 'labelled';
    this.$('.normalise').value = this.getAttribute('normalise') === 'recording' ? 'recording' : 'model';
    for (const sel of ['.layout', '.normalise']) {
      this.$(sel).addEventListener('change', () => {
        if (this.lastSource) this.replay(this.lastSource).catch((e) => e.stopped || this.message('error', e.message));
      });
    }
    (full() ? document : root).addEventListener('keydown', (e) => this.key(e));
    for (const name of ['timeline', 'confidence']) this.bindTimePlot(this.canvas(name));
  }

  key(e) {
    if (e.target?.tagName === 'INPUT' && e.target.type !== 'range') return;
    if (e.target?.tagName === 'SELECT') return;
    const map = { ' ': 'play', ArrowLeft: 'back', ArrowRight: 'fwd', Home: 'home', End: 'end', n: 'next-wrong', N: 'prev-wrong', p: 'prev-wrong', '+': 'zoom-in', '=': 'zoom-in', '-': 'zoom-out', 0: 'zoom-all' };
    const act = map[e.key];
    if (!act) return;
    e.preventDefault();
    this.act(act);
  }

  act(what) {
    if (!what) return;
    const p = this.plots;
    if (what === 'csv' && p) return download(`${this.recordingName}.frames.csv`, new Blob([p.csv()], { type: 'text/csv' }));
    if (what === 'json' && this.report) return download(`${this.recordingName}.report.json`, new Blob([JSON.stringify(this.report, null, 2)], { type: 'application/json' }));
    if (what === 'png') return this.exportPng();
    if (!p || p.isEmpty()) return;
    const last = p.len() - 1;
    switch (what) {
      case 'play': return this.playing ? this.pause() : this.play();
      case 'back': return this.seek(this.cursor - 1);
      case 'fwd': return this.seek(this.cursor + 1);
      case 'home': return this.seek(0);
      case 'end': return this.seek(last);
      case 'zoom-in': return this.zoomAt(this.cursor, 1 / 2);
      case 'zoom-out': return this.zoomAt(this.cursor, 2);
      case 'zoom-all': this.zoom = null; return this.redrawCursor();
      case 'next-wrong': { const i = p.nextWrong(this.cursor); if (i !== undefined) this.seek(i); return; }
      case 'prev-wrong': { const i = p.prevWrong(this.cursor); if (i !== undefined) this.seek(i); return; }
    }
  }

  /** Click to jump, wheel to zoom around the pointer, drag to pan, double-click to see everything. */
  bindTimePlot(canvas) {
    let drag = null;
    canvas.addEventListener('wheel', (e) => {
      if (!this.plots) return;
      e.preventDefault();
      this.zoomAt(this.indexAt(e), e.deltaY < 0 ? 1 / 1.25 : 1.25);
    }, { passive: false });
    canvas.addEventListener('pointerdown', (e) => {
      if (!this.plots) return;
      drag = { x: e.clientX, view: this.viewRange(), moved: false };
      canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (!drag.moved || !this.zoom) return;
      const [a, b] = drag.view;
      const shift = Math.round(this.plots.windowsAcross(-dx, canvas.getBoundingClientRect().width, a, b));
      this.setView(a + shift, b - a);
    });
    canvas.addEventListener('pointerup', (e) => {
      if (drag && !drag.moved) this.seek(this.indexAt(e));
      drag = null;
    });
    canvas.addEventListener('dblclick', () => { this.zoom = null; this.redrawCursor(); });
  }

  /** The window under the pointer, by the plots' own frame. */
  indexAt(e) {
    const rect = e.target.getBoundingClientRect();
    const [a, b] = this.viewRange();
    return this.plots.indexAt(e.clientX - rect.left, rect.width, a, b);
  }

  viewRange() {
    return this.zoom ?? [0, this.plots.len()];
  }

  setView(start, span) {
    const n = this.plots.len();
    span = Math.max(Math.min(20, n), Math.min(n, Math.round(span)));
    start = Math.max(0, Math.min(n - span, Math.round(start)));
    this.zoom = span >= n ? null : [start, start + span];
    this.redrawCursor();
  }

  /** Zoom by `factor` (< 1 in) keeping window `i` under the same pixel. */
  zoomAt(i, factor) {
    const [a, b] = this.viewRange();
    const span = (b - a) * factor;
    this.setView(i - (i - a) * (span / (b - a)), span);
  }

  seek(i) {
    if (!this.plots) return;
    this.cursor = Math.max(0, Math.min(this.plots.len() - 1, i));
    this.$('.scrub').value = String(this.cursor);
    // A zoomed view follows the cursor.
    if (this.zoom && (this.cursor < this.zoom[0] || this.cursor >= this.zoom[1])) {
      const span = this.zoom[1] - this.zoom[0];
      this.setView(this.cursor - span / 2, span);
    }
    this.redrawCursor();
  }

  /** Real time from the timestamps: the cursor is the last window that started by t0 + elapsed × speed. */
  play() {
    if (!this.plots || this.playing) return;
    if (this.cursor >= this.plots.len() - 1) this.seek(0);
    this.playing = true;
    this.$('.play').textContent = 'Pause';
    const ts = this.columns.tsStart;
    const timed = Number.isFinite(ts[0]) && Number.isFinite(ts[ts.length - 1]);
    const t0 = timed ? ts[this.cursor] : this.cursor * 0.8;
    const wall0 = performance.now();
    const step = () => {
      if (!this.playing) return;
      const t = t0 + ((performance.now() - wall0) / 1000) * this.speed;
      let i = this.cursor;
      const n = this.plots.len();
      if (timed) { while (i + 1 < n && ts[i + 1] <= t) i++; } else i = Math.min(n - 1, Math.floor(t / 0.8));
      if (i !== this.cursor) this.seek(i);
      if (i >= n - 1) return this.pause();
      this.raf = requestAnimationFrame(step);
    };
    this.raf = requestAnimationFrame(step);
  }

  pause() {
    this.playing = false;
    cancelAnimationFrame(this.raf);
    const b = this.$('.play');
    if (b) b.textContent = 'Play';
  }

  async rescore() {
    if (!this.report) return;
    try {
      const r = await this.ask('report', { targets: this.$('.targets').value, crossRoom: this.$('.cross-room').checked });
      this.report = r.report;
      this.reportText = r.reportText;
      this.renderReport();
    } catch (e) {
      this.message('error', e.message);
    }
  }

  style() {
    return [this.dark.matches, window.devicePixelRatio || 1];
  }

  canvas(name) {
    return this.$(`canvas[data-plot=${name}]`);
  }

  redraw() {
    if (!this.plots) return;
    const [dark, scale] = this.style();
    try {
      this.plots.drawConfusion(this.canvas('confusion'), dark, scale);
      this.plots.drawReliability(this.canvas('reliability'), dark, scale);
    } catch (e) {
      this.message('error', e.message ?? String(e));
    }
    this.redrawCursor();
  }

  /** Everything that follows the cursor, coalesced to one draw per animation frame. */
  redrawCursor() {
    if (this.pendingDraw) return;
    this.pendingDraw = requestAnimationFrame(() => {
      this.pendingDraw = 0;
      const p = this.plots;
      if (!p) return;
      const [dark, scale] = this.style();
      const i = this.cursor;
      try {
        const [a, b] = this.viewRange();
        p.drawTimeline(this.canvas('timeline'), a, b, i, dark, scale);
        p.drawConfidence(this.canvas('confidence'), a, b, i, dark, scale);
        this.$('.zoom-note').textContent = this.zoom
          ? `showing windows ${a + 1}–${b} of ${p.len()} (${fmt.clock(p.elapsed(a))}–${fmt.clock(p.elapsed(b - 1))}); double-click or 0 shows all`
          : 'wheel to zoom, drag to pan';
        p.drawProbabilities(this.canvas('probs'), i, dark, scale);
      } catch (e) {
        this.message('error', e.message ?? String(e));
      }
      this.renderReadout(i);
      this.drawWindow(i);
    });
  }

  async drawWindow(i) {
    let w = this.windows.get(i);
    if (w === undefined) {
      const r = await this.ask('window', { index: i }).catch(() => ({ window: null }));
      w = r.window;
      if (this.windows.size > 256) this.windows.clear();
      this.windows.set(i, w);
    }
    if (i !== this.cursor) return;
    const [dark, scale] = this.style();
    try {
      drawHeatmap(this.canvas('heatmap'), w ?? undefined, dark, scale);
    } catch (e) {
      this.message('error', e.message ?? String(e));
    }
  }

  renderReadout(i) {
    const f = this.plots.frame(i);
    const el = this.$('.readout');
    if (!f) { el.textContent = ''; return; }
    const truth = f.truth ?? '—';
    const verdict = f.correct == null ? 'unlabelled' : f.correct ? 'right' : 'wrong';
    el.innerHTML = `<b>window ${i + 1} / ${this.plots.len()}</b>
      <span>${esc(f.ts_start ?? 'no time')} (+${fmt.clock(this.plots.elapsed(i))})</span>
      <span>line ${f.line}</span>
      <span>truth <b>${truth}</b></span>
      <span>predicted <b>${f.count}</b> <span class="verdict ${verdict}">${verdict}</span></span>
      <span>95 % ${f.count_p95_low}–${f.count_p95_high}</span>
      <span>confidence <b>${fmt.num(f.confidence, 3)}</b></span>`;
  }

  renderReport() {
    const r = this.report;
    const row = (k, v, note = '') => `<tr><th>${k}</th><td>${v}</td><td class="note">${note}</td></tr>`;
    const gates = r.gates.map((g) => `<tr class="${g.status}"><th>${esc(g.name)}</th><td>${g.direction === 'at_least' ? '≥' : '≤'} ${g.target}</td><td>${g.measured == null ? '—' : fmt.num(g.measured, 3)}</td><td>${esc(g.status.replace(/_/g, ' '))}${g.note ? ' — ' + esc(g.note) : ''}</td></tr>`).join('');
    const findings = r.findings.map((f) => `<li class="${f.severity}"><code>${esc(f.code)}</code> ${esc(f.message)}</li>`).join('');
    const bad = r.bad_lines.map((b) => `<li>line ${b.line}: ${esc(b.reason)}</li>`).join('');
    this.$('.report').innerHTML = `
      <h3>Report <span class="verdict ${r.gates_passed ? 'right' : 'wrong'}">${r.gates_passed ? 'gates passed' : 'gates not met'}</span></h3>
      ${r.recording.synthetic_windows ? `<p class="synthetic-note"><b>SYNTHETIC:</b> ${r.recording.synthetic_windows.toLocaleString()} of ${r.windows.toLocaleString()} windows were made by a simulator, not measured${r.recording.synthetic_source ? ` (<code>${esc(r.recording.synthetic_source)}</code>)` : ''}.</p>` : ''}
      <div class="cols">
      <table class="metrics" data-report="metrics">
        ${row('windows', `<span data-metric="windows">${r.windows}</span>`, `${r.labelled_windows} labelled`)}
        ${row('accuracy', `<span data-metric="accuracy">${fmt.pct(r.accuracy)}</span>`, r.majority_baseline == null ? '' : `always answering ${r.majority_class}: ${fmt.pct(r.majority_baseline)}`)}
        ${row('within ±1', `<span data-metric="within_pm1">${fmt.pct(r.within_pm1)}</span>`, r.label_range ? `labels span ${r.label_range[0]}–${r.label_range[1]}` : '')}
        ${row('MAE', `<span data-metric="mae">${fmt.num(r.mae)}</span>`)}
        ${row('Spearman (confidence, correct)', `<span data-metric="spearman">${fmt.num(r.spearman)}</span>`, r.spearman_undefined ? esc(r.spearman_undefined.replace(/_/g, ' ')) : '')}
        ${row('Brier', `<span data-metric="brier">${fmt.num(r.brier)}</span>`)}
        ${row('ECE', `<span data-metric="ece">${fmt.num(r.ece)}</span>`)}
        ${row('skipped lines', `<span data-metric="skipped_lines">${r.skipped_lines}</span>`)}
      </table>
      <table class="gates"><tr><th>gate</th><th>target</th><th>measured</th><th>verdict</th></tr>${gates}</table>
      </div>
      <h4>What it means</h4><ul class="findings">${findings || '<li>nothing to flag</li>'}</ul>
      <p><b>Layout:</b> ${esc(r.layout.description)}</p>
      <p><b>Calibration:</b> ${esc(r.calibration.description)}</p>
      ${r.input ? `<p class="input-summary"><b>Fed:</b> ${esc(r.input.description)}</p>` : ''}
      ${r.model.weights.length > 1 ? `<p class="weights"><b>Weights:</b> ${r.model.weights.map((w) => `${w.tensors.length} tensor(s) from ${esc(w.file)}`).join(', ')}</p>` : ''}
      <p><b>Input:</b> ${fmt.mb(r.recording.bytes)}${r.recording.gzip ? ' (gzip)' : ''} · model ${esc(this.modelName ?? '')}: ${r.model.parameters.toLocaleString()} parameters, ${esc(r.model.producer)}, batch ${r.model.batch_size}</p>
      ${bad ? `<details open class="bad-lines"><summary>${r.skipped_lines} bad line(s)${r.skipped_lines > r.bad_lines.length ? ` (first ${r.bad_lines.length} listed)` : ''}</summary><ul>${bad}</ul></details>` : ''}
      <details><summary>As <code>countscope report</code> prints it</summary><pre>${esc(this.reportText ?? '')}</pre></details>`;
  }

  /** All plots in one PNG, at the screen's resolution. */
  exportPng() {
    if (!this.plots) return;
    const canvases = [...this.shadowRoot.querySelectorAll('canvas')];
    const width = Math.max(...canvases.map((c) => c.width));
    const height = canvases.reduce((h, c) => h + c.height, 0);
    const out = document.createElement('canvas');
    out.width = width;
    out.height = height;
    const ctx = out.getContext('2d');
    let y = 0;
    for (const c of canvases) { ctx.drawImage(c, 0, y); y += c.height; }
    out.toBlob((b) => download(`${this.recordingName}.plots.png`, b), 'image/png');
  }
}

customElements.define('countscope-replay', CountscopeReplay);
