// <countscope-replay>: a recording replayed against a count model, plotted frame by frame.
//
//   <script type="module" src="countscope-replay.js"></script>
//   <countscope-replay recording="rec.paired.jsonl.gz" model="count_v1.onnx"></countscope-replay>
//
// Attributes and events are declared in countscope-replay.d.ts. Several elements on one page are
// independent: each has its own workers and its own replay. It is sized by its container.
//
// The element only moves bytes, events and pixels: parsing, inference, metrics, the worker protocol and
// drawing are the wasm engine's. Its jobs live in ./replay/: engine.js (the build and the workers),
// load.js (models and drops), transport.js (cursor, play, zoom), panel.js (report, readout, messages),
// export.js, template.js, link.js (links to a moment).

import { Plots, drawHeatmap } from './pkg/countscope.js';
import { ENGINE, Workers, buffers, engine, here } from './replay/engine.js';
import { exportAs } from './replay/export.js';
import { copyLink, openMoment, pendingMoment } from './replay/link.js';
import { classify, modelFromFiles, modelFromUrl, recordingFromUrl, sameOrigin } from './replay/load.js';
import { fmt, message, renderComparison, renderReadout, renderReport, showBadLines } from './replay/panel.js';
import { TEMPLATE } from './replay/template.js';
import { Transport } from './replay/transport.js';

export { ENGINE };

const DEFAULT_MODEL = here('../artifacts/count_v1.onnx');
const DEFAULT_RECORDING = here('../artifacts/recordings/room0-30min.paired.jsonl.gz');

class CountscopeReplay extends HTMLElement {
  static observedAttributes = ['recording', 'model', 'model-b', 'layout', 'normalise', 'hop', 'start', 'view'];

  constructor() {
    super();
    this.attachShadow({ mode: 'open' }).appendChild(TEMPLATE.content.cloneNode(true));
    this.$ = (sel) => this.shadowRoot.querySelector(sel);
    this.transport = new Transport(this);
    this.plots = null;
    this.columns = null;
    this.report = null;
    this.windows = new Map();
    this.dark = matchMedia('(prefers-color-scheme: dark)');
    this.state = 'idle';
  }

  get cursor() { return this.transport.cursor; }

  connectedCallback() {
    if (this.workers) return;
    // How many workers, and when, is the core's plan (WorkerPlan) from the cores and the count asked for:
    // the `workers` attribute or, for the full page, `?workers=`.
    const asked = (this.hasAttribute('full') && new URLSearchParams(location.search).get('workers')) || this.getAttribute('workers');
    this.workers = new Workers(navigator.hardwareConcurrency || 0, asked, (text) => this.message('error', text));
    this.bindControls();
    this.resize = new ResizeObserver(() => this.redraw());
    this.resize.observe(this.$('.plots'));
    this.dark.addEventListener('change', () => this.redraw());
    this.toggleAttribute('data-full', this.hasAttribute('full'));
    if (this.hasAttribute('full')) {
      this.onHash = () => { this.openedMoment = location.hash; openMoment(this, location.hash); };
      addEventListener('hashchange', this.onHash);
    }
    queueMicrotask(() => this.start());
  }

  disconnectedCallback() {
    this.workers?.terminate();
    this.workers = null;
    this.resize?.disconnect();
    this.transport.pause();
    if (this.onHash) removeEventListener('hashchange', this.onHash);
  }

  attributeChangedCallback(name, old, value) {
    if (old === value) return;
    // `start` and `view` move within the replay; the others make a new one.
    if (name === 'start' || name === 'view') openMoment(this, pendingMoment(this));
    else if (this.workers && this.started) this.start();
  }

  /** The names of the models open (A, then B). */
  modelNames() {
    return [this.modelName, this.modelNameB].filter(Boolean);
  }

  message(kind, text) { message(this, kind, text); }

  option(name) {
    return this.hasAttribute('full') ? this.$(`.${name}`).value : this.getAttribute(name);
  }

  async start() {
    this.started = true;
    const run = (this.startRun = (this.startRun ?? 0) + 1);
    const params = this.hasAttribute('full') ? new URLSearchParams(location.search) : new URLSearchParams();
    try {
      const model = sameOrigin('model', params.get('model') ?? this.getAttribute('model') ?? DEFAULT_MODEL);
      const recording = sameOrigin('recording', params.get('recording') ?? this.getAttribute('recording') ?? DEFAULT_RECORDING);
      const modelB = params.get('model-b') ?? this.getAttribute('model-b');
      this.setBusy(`loading model ${model.split('/').pop()}…`);
      // The recording downloads while the workers load the model; its progress shows once they are done.
      const name = recording.split('/').pop();
      let shown = null;
      const download = recordingFromUrl(recording, (bytes, total) => shown?.(bytes, total));
      download.catch(() => {}); // (its error is thrown where it is awaited, below)
      await this.loadModel(await modelFromUrl(model));
      if (modelB) await this.loadModel(await modelFromUrl(sameOrigin('model', modelB)), 'b');
      this.setBusy(`downloading ${name}…`);
      shown = (bytes, total) => this.showProgress(`downloading ${name}: ${fmt.mbOf(bytes, total)}`, bytes, total);
      await this.replay(await download, { url: recording });
    } catch (e) {
      if (!e.stopped) this.message('error', e.message);
      // A model or recording that failed before its replay began: what was loaded before stays.
      if (run === this.startRun && this.state === 'loading') this.settle();
    } finally {
      // Helpers not started for the first replay start now, for the next.
      this.workers?.grow();
    }
  }

  /** Load a model request in every worker (each keeps it for its replays): slot `a` (which unloads `b`:
   *  one model again) or `b` (the model compared with `a`). */
  async loadModel(request, slot = 'a') {
    const info = await this.workers.load({ model: { ...request.model, slot } });
    this.modelLoadedAt = performance.now();
    if (slot === 'a') {
      this.modelInfo = info;
      this.modelName = request.model.options.name;
      this.modelNameB = null;
    } else {
      this.modelNameB = request.model.options.name;
    }
  }

  setBusy(text) {
    this.setState('loading');
    const p = this.$('.progress');
    p.hidden = false;
    p.querySelector('span').textContent = text;
    p.querySelector('progress').removeAttribute('value');
  }

  /** The progress bar at `bytes` of `total` (indeterminate without a total), with its label. */
  showProgress(text, bytes, total) {
    const bar = this.$('.progress progress');
    if (total) bar.value = bytes / total; else bar.removeAttribute('value');
    this.$('.progress span').textContent = text;
  }

  setState(state) {
    this.state = state;
    this.setAttribute('state', state);
  }

  /** Replay `source` (a File or Blob; `url` when it was downloaded from there, for links). */
  async replay(source, { url = null } = {}) {
    const name = source.name ?? 'recording';
    const token = (this.loadToken = (this.loadToken ?? 0) + 1);
    this.setBusy(`reading ${name}…`);
    const began = performance.now();
    const hop = Number(this.option('hop')) || null;
    const how = { source, layout: this.option('layout') || null, normalise: this.option('normalise') || null, hop, shards: await this.workers.started() };
    this.replayWorkers = how.shards;
    const helperWasm = [];
    let result, resultB = null, comparison = null, columns = null, columnsB = null, drawn = null;
    try {
      result = await this.runReplay(how, 'a', name, helperWasm, (c) => {
        columns = c;
        // One model: drawn now, while the primary makes the report (a failure is thrown where it is
        // awaited, below).
        if (!this.modelNameB && token === this.loadToken) {
          drawn = this.showColumns(columns, null);
          drawn.catch(() => {});
        }
      });
      // Two models: the same recording through model B, then the two compared in the primary.
      if (this.modelNameB) {
        resultB = await this.runReplay(how, 'b', `${name} (model B)`, [], (c) => { columnsB = c; });
        comparison = await this.workers.ask('compare');
      }
    } catch (e) {
      // Failed or cancelled, and no newer load took over: back to what was loaded before, or, where the
      // columns were drawn already, on to them without a report.
      if (token === this.loadToken) {
        if (drawn) this.dropReport();
        this.settle();
      }
      throw e;
    }
    const replayedAt = performance.now();
    this.lastSource = source;
    this.lastUrl = url;
    const at = await (drawn ?? this.showColumns(columns, columnsB));
    this.comparison = comparison?.comparison ?? null;
    this.comparisonText = comparison?.text ?? null;
    this.report = result.report;
    this.reportText = result.reportText;
    showBadLines(this, this.report);
    renderReport(this.$('.report'), this.report, this.reportText, this.modelName);
    renderComparison(this.$('.comparison'), this.comparison, this.comparisonText);
    const mainWasm = (await engine).memory.buffer.byteLength;
    this.timing = {
      engine: ENGINE, workers: how.shards, split: result.split, replaySeconds: result.seconds, replayPhases: result.phases, plottedSeconds: (performance.now() - began) / 1000,
      atMs: { modelLoaded: this.modelLoadedAt, began, columns: at.columns, drawn: at.drawn, replayed: replayedAt, ready: null },
      memory: { ...result.memory, mainWasm, helpersWasm: helperWasm.reduce((a, b) => a + (b ?? 0), 0) },
    };
    // A link's moment (the full page's fragment, once per fragment; an embed's `start` / `view`).
    const moment = pendingMoment(this);
    if (moment && (!this.hasAttribute('full') || moment !== this.openedMoment)) {
      this.openedMoment = moment;
      openMoment(this, moment);
    }
    // `ready` means what is shown is the moment: the cursor's draw, scheduled for the next frame by the
    // moment, is made now (readout and plots), and its heatmap is waited for.
    await this.flushDraw();
    this.timing.atMs.ready = performance.now();
    this.setState('ready');
    this.dispatchEvent(new CustomEvent('replayed', { detail: { report: this.report, comparison: this.comparison, timing: this.timing } }));
  }

  /** A replay's columns (`c`, the primary's `columns` message; `cB`, model B's) made into the plots and
   *  drawn: every plot, the first window's heatmap and what the columns say without the report (the
   *  sources line, the synthetic, real and unlabelled marks, the per-node lanes). Resolves with when the
   *  columns arrived and when they were drawn (ms since navigation began). */
  async showColumns(c, cB) {
    const columnsAt = performance.now();
    // The first window's heatmap: the columns carry it (asked for, it would wait behind the report the
    // primary makes next); else it is asked for now, while the plots are made and drawn.
    this.windows.clear();
    if (c.firstWindow) this.windows.set(0, Promise.resolve(c.firstWindow));
    this.window(0);
    await engine;
    const plots = new Plots(c.columns);
    if (cB) plots.compareWith(cB.columns);
    this.plots?.free();
    this.plots = plots;
    this.columns = c.columns;
    this.columnsB = cB?.columns ?? null;
    this.recordingName = c.name;
    this.transport.reset();
    this.$('.scrub').max = String(plots.len() - 1);
    this.$('.progress').hidden = true;
    this.$('.messages').replaceChildren();
    this.showComparing(Boolean(cB));
    const models = cB ? `models A ${this.modelName} and B ${this.modelNameB}` : `model ${this.modelName}`;
    this.$('.sources').textContent = `${c.name} · ${models} · engine: wasm ${ENGINE} × ${this.replayWorkers} worker(s)`;
    const synthetic = c.syntheticWindows > 0;
    this.$('.synthetic').hidden = !synthetic;
    // Measured (no simulator tag) and without labels: said, and the truth-based plots stay away.
    const unlabelled = c.labelledWindows === 0;
    this.$('.real').hidden = !(unlabelled && !synthetic);
    this.$('.root').classList.toggle('unlabelled', unlabelled);
    // Windows of two nodes or more (a raw ESP32 file): the per-node lanes.
    this.$('.root').classList.toggle('has-nodes', plots.nodeLanes() > 0);
    this.redraw();
    // "Drawn" means drawn: wait for the frame that draws the cursor plots, and for the heatmap's window.
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
    await this.drawWindow(this.cursor);
    return { columns: columnsAt, drawn: performance.now() };
  }

  /** The columns were drawn but their report did not come: the old report is not left beside them. */
  dropReport() {
    this.report = null;
    this.reportText = null;
    this.comparison = null;
    this.comparisonText = null;
    this.$('.report').replaceChildren();
    this.$('.comparison').replaceChildren();
  }

  /** The last recording again (a new model, layout, normalisation or hop). */
  replayLast() {
    return this.replay(this.lastSource, { url: this.lastUrl });
  }

  /** One model's replay of `how.source`: the primary streams and merges, the helpers infer their shards.
   *  The primary's columns go to `onColumns` before its report comes. */
  async runReplay(how, slot, name, helperWasm, onColumns) {
    const primary = this.workers.ask({ replay: { ...how, slot, targets: this.$('.targets').value, crossRoom: this.$('.cross-room').checked } }, {
      onProgress: (p) => this.showProgress(
        `${name}: ${p.windows.toLocaleString()} windows · ${fmt.mbOf(p.bytes, p.total)} · ${p.skipped} skipped line(s)`, p.bytes, p.total),
      onColumns,
    });
    // The helpers infer the other shards (byte ranges of a plain file, or batches); what they answer
    // goes to the primary as it came.
    this.workers.all.slice(1, how.shards).forEach((worker, k) => {
      this.workers.ask({ shard: { ...how, slot, shard: k + 1 } }, { worker }).then(
        ({ columns, wasm, tail }) => {
          helperWasm[k] = wasm;
          const merge = { replay: primary.id, columns, tail };
          this.workers?.tell({ merge }, buffers(merge));
        },
        (e) => this.workers?.tell({ merge: { replay: primary.id, error: e.message } }),
      );
    });
    return primary;
  }

  /** Two models or one: the difference panel, the comparison, the jump buttons and the captions. */
  showComparing(on) {
    this.toggleAttribute('comparing', on);
    this.$('.root').classList.toggle('comparing', on);
    for (const [act, one, two] of [['prev-wrong', '◀ wrong', '◀ differ'], ['next-wrong', 'wrong ▶', 'differ ▶']]) {
      const b = this.$(`button[data-act=${act}]`);
      b.textContent = on ? two : one;
      b.title = on ? `${act.startsWith('prev') ? 'Previous' : 'Next'} window where the models disagree (${act.startsWith('prev') ? 'P' : 'N'})` : `${act.startsWith('prev') ? 'Previous' : 'Next'} wrong window (${act.startsWith('prev') ? 'P' : 'N'})`;
    }
  }

  /** After a failure or a cancel: whatever was loaded before stays. */
  settle() {
    this.$('.progress').hidden = true;
    this.setState(this.plots ? 'ready' : 'error');
  }

  /** Files dropped or picked: sorted by content; a bad one is reported and nothing already loaded is lost. */
  async openFiles(list) {
    const files = [...list];
    if (!files.length) return;
    const found = await classify(files);
    for (const name of found.surplus) {
      this.message('error', `${name}: a third model — two can be compared side by side (A and B); ignored`);
    }
    for (const name of found.rejected) {
      this.message('error', `${name}: not a recording (JSON lines or gzip), an ONNX model, model data (.onnx.data), safetensors weights (one per drop) or a .temperature file — ignored`);
    }
    try {
      if (found.model) {
        this.setBusy(`loading model ${found.model.name}…`);
        await this.loadModel(await modelFromFiles(found));
        if (found.modelB) {
          this.setBusy(`loading model B ${found.modelB.name}…`);
          await this.loadModel(await modelFromFiles({ model: found.modelB, data: found.data }), 'b');
        }
      } else if (found.temperature || Object.keys(found.data).length) {
        this.message('error', 'a .temperature or .onnx.data file needs its model dropped with it');
      }
      if (found.recording) await this.replay(found.recording);
      else if (found.model && this.lastSource) await this.replayLast();
      else if (found.model) this.settle();
    } catch (e) {
      if (!e.stopped) this.message('error', e.message);
      this.settle();
    }
  }

  bindControls() {
    const root = this.$('.root');
    const overlay = this.$('.drop-overlay');
    const target = this.hasAttribute('full') ? document : root;
    let depth = 0;
    target.addEventListener('dragenter', (e) => { e.preventDefault(); depth++; overlay.hidden = false; });
    target.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; overlay.hidden = true; } });
    target.addEventListener('dragover', (e) => e.preventDefault());
    target.addEventListener('drop', (e) => {
      e.preventDefault();
      depth = 0;
      overlay.hidden = true;
      this.openFiles(e.dataTransfer.files);
    });
    target.addEventListener('keydown', (e) => this.transport.key(e));
    const file = this.$('input[type=file]');
    file.addEventListener('change', (e) => this.openFiles(e.target.files));
    root.addEventListener('click', (e) => {
      const act = e.target.closest('button')?.dataset.act;
      if (act === 'cancel') this.workers?.all.forEach((w) => this.workers.tell('cancel', [], w));
      else if (act === 'open') file.click();
      else if (act === 'link') copyLink(this);
      else if (!exportAs(this, act)) this.transport.act(act);
    });
    this.$('.speed').addEventListener('change', (e) => this.transport.setSpeed(Number(e.target.value)));
    this.$('.scrub').addEventListener('input', (e) => this.transport.seek(Number(e.target.value)));
    for (const sel of ['.targets', '.cross-room']) this.$(sel).addEventListener('change', () => this.rescore());
    this.$('.layout').value = this.getAttribute('layout') || 'labelled';
    this.$('.normalise').value = this.getAttribute('normalise') === 'recording' ? 'recording' : 'model';
    this.$('.hop').value = ['1', '5', '10', '20'].includes(this.getAttribute('hop')) ? this.getAttribute('hop') : '20';
    for (const sel of ['.layout', '.normalise', '.hop']) {
      this.$(sel).addEventListener('change', () => {
        if (this.lastSource) this.replayLast().catch((e) => e.stopped || this.message('error', e.message));
      });
    }
    for (const name of ['timeline', 'confidence', 'difference', 'nodes']) this.transport.bindPlot(this.canvas(name));
  }

  async rescore() {
    if (!this.report) return;
    try {
      const r = await this.workers.ask({ report: { targets: this.$('.targets').value, crossRoom: this.$('.cross-room').checked } });
      this.report = r.report;
      this.reportText = r.reportText;
      renderReport(this.$('.report'), this.report, this.reportText, this.modelName);
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

  /** Catch a drawing error as a message, never a blank panel without words. */
  draw(f) {
    try { f(); } catch (e) { this.message('error', e.message ?? String(e)); }
  }

  redraw() {
    if (!this.plots) return;
    const [dark, scale] = this.style();
    this.draw(() => {
      this.plots.drawConfusion(this.canvas('confusion'), dark, scale);
      this.plots.drawReliability(this.canvas('reliability'), dark, scale);
    });
    this.redrawCursor();
  }

  /** Everything that follows the cursor, coalesced to one draw per animation frame. */
  redrawCursor() {
    if (this.pendingDraw) return;
    this.pendingDraw = requestAnimationFrame(() => {
      this.pendingDraw = 0;
      this.drawCursor();
    });
  }

  /** The cursor's draw, when one waits for the next frame, made now; resolves once its heatmap is drawn. */
  flushDraw() {
    if (!this.pendingDraw) return Promise.resolve();
    cancelAnimationFrame(this.pendingDraw);
    this.pendingDraw = 0;
    return this.drawCursor();
  }

  /** Draw what follows the cursor now (the bench times this: one redraw after a cursor move). Resolves
   *  once the cursor's heatmap is drawn (its window may be asked of a worker). */
  drawCursor() {
    const p = this.plots;
    if (!p) return Promise.resolve();
    const [dark, scale] = this.style();
    const i = this.cursor;
    const [a, b] = this.transport.viewRange();
    this.draw(() => {
      p.drawTimeline(this.canvas('timeline'), a, b, i, dark, scale);
      p.drawConfidence(this.canvas('confidence'), a, b, i, dark, scale);
      if (p.isComparing()) p.drawDifference(this.canvas('difference'), a, b, i, dark, scale);
      if (p.nodeLanes() > 0) p.drawNodes(this.canvas('nodes'), a, b, i, dark, scale);
      this.$('.zoom-note').textContent = this.transport.zoom
        ? `showing windows ${a + 1}–${b} of ${p.len()} (${fmt.clock(p.elapsed(a))}–${fmt.clock(p.elapsed(b - 1))}); double-click or 0 shows all`
        : 'wheel to zoom, drag to pan';
      p.drawProbabilities(this.canvas('probs'), i, dark, scale);
    });
    renderReadout(this.$('.readout'), i, p.len(), p.frame(i), p.elapsed(i), p.frameB(i));
    return this.drawWindow(i);
  }

  /** Kept window `i` (a Float32Array, or null), asked of the workers once: the answer, or the request
   *  in flight, is kept (at most 256), so draws that ask for the same window share one request. */
  window(i) {
    let w = this.windows.get(i);
    if (w === undefined) {
      if (this.windows.size > 256) this.windows.clear();
      w = this.workers.window(i).catch(() => null);
      this.windows.set(i, w);
    }
    return w;
  }

  async drawWindow(i) {
    const w = await this.window(i);
    if (i !== this.cursor) return;
    const [dark, scale] = this.style();
    this.draw(() => drawHeatmap(this.canvas('heatmap'), w ?? undefined, dark, scale));
  }
}

customElements.define('countscope-replay', CountscopeReplay);
