// The browser half of `cargo xtask bench`: drives Debian's headless Chromium (playwright-core) and Firefox
// ESR (selenium-webdriver through geckodriver) against the page served by xtask, through the end-to-end
// suite's driver (tests/e2e/driver.mjs; neither downloads a browser), and writes target/bench/browser.json:
// Chromium's figures at the top level, each other browser's under its name.
//
//   BASE_URL    where xtask serves www/, pkg/, artifacts/, /bench/ (this folder) and /bench-data/
//   OUT         the JSON file to write
//   BROWSERS    comma-separated: chromium, firefox (default both)
//   GECKODRIVER geckodriver's path (Firefox)
//   REPEAT      repetitions of every measurement (median, min and max are reported)
//   BATCHES     comma-separated batch sizes
//   RECORDING   the plain JSONL the readers are timed on (a URL path under /bench-data/)
//   LONG        optional: a long recording on disk, opened through the page's file picker (end to end;
//               Chromium only: it reads the JS heap through performance.memory)
//   LONG_REPEAT repetitions of the long recording (default 1: each takes tens of seconds)
//   BENCH_BROWSER_MINUTES  the bound on each browser other than Chromium (default 20): past it, or on an
//               error, that browser's figures are replaced by the reason and the run goes on (Chromium's
//               figures are the table's peer, so a Chromium failure still ends the run)
import { launch } from '../../tests/e2e/driver.mjs';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const BASE = process.env.BASE_URL;
const REPEAT = Number(process.env.REPEAT ?? 5);
const BATCHES = (process.env.BATCHES ?? '1,16').split(',').map(Number);
const LONG_REPEAT = Number(process.env.LONG_REPEAT ?? 1);
const BROWSERS = (process.env.BROWSERS ?? 'chromium,firefox').split(',');
const BROWSER_MINUTES = Number(process.env.BENCH_BROWSER_MINUTES ?? 20);
const log = (m) => process.stderr.write(`bench: ${m}\n`);

function stats(v) {
  const s = [...v].sort((a, b) => a - b);
  return { median: s[s.length >> 1], min: s[0], max: s[s.length - 1], n: s.length };
}

/** One full redraw of the plots that follow the cursor (timeline, confidence, probabilities, readout),
 *  after a cursor move, at 21 cursor positions across the replay on `page`: milliseconds. */
async function cursorRedraw(page) {
  const times = await page.evaluate(() => {
    const el = document.querySelector('countscope-replay');
    const n = el.plots.len();
    const out = [];
    for (let k = 0; k < 21; k++) {
      el.transport.cursor = Math.floor(((k + 0.5) * n) / 21);
      const t = performance.now();
      el.drawCursor();
      out.push(performance.now() - t);
    }
    return out;
  });
  return stats(times);
}

/** The 30-minute sample dropped on a page `REPEAT` times: drop → every plot drawn. */
async function thirtyMinutes(page) {
  const runs = [];
  for (let r = 0; r < REPEAT; r++) {
    runs.push(await page.evaluate(async () => {
      const el = document.querySelector('countscope-replay');
      const bytes = await (await fetch('/artifacts/recordings/room0-30min.paired.jsonl.gz')).arrayBuffer();
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'room0-30min.paired.jsonl.gz'));
      const done = new Promise((resolve, reject) => {
        el.addEventListener('replayed', (e) => resolve(e.detail), { once: true });
        el.addEventListener('message', (e) => { if (e.detail.kind === 'error') reject(new Error(e.detail.text ?? 'error')); }, { once: true });
      });
      const t = performance.now();
      document.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      const detail = await done;
      return { drop_to_plotted_ms: performance.now() - t, windows: detail.report.windows, timing: detail.timing };
    }));
  }
  return {
    engine: runs[0].timing.engine,
    workers: runs[0].timing.workers,
    split: runs[0].timing.split,
    windows: runs[0].windows,
    drop_to_plotted_ms: stats(runs.map((r) => r.drop_to_plotted_ms)),
    worker_replay_ms: stats(runs.map((r) => r.timing.replaySeconds * 1000)),
    worker_phases_ms: phases(runs),
    memory_mb: {
      worker_wasm: runs.at(-1).timing.memory.wasm / 1e6,
      helpers_wasm: runs.at(-1).timing.memory.helpersWasm / 1e6,
      main_wasm: runs.at(-1).timing.memory.mainWasm / 1e6,
    },
  };
}

/** The primary worker's replay phases (`timing.replayPhases`, seconds) over `runs`, in ms. */
function phases(runs) {
  return Object.fromEntries(['read', 'source', 'waited', 'merged', 'columns', 'report']
    .map((k) => [k, stats(runs.map((r) => (r.timing.replayPhases?.[k] ?? NaN) * 1000))]));
}

/** Everything measured in one browser (`name`); the long recording only where `long` is set. `state`
 *  says, for `bounded`, which browser is open and which step it is in. */
async function measure(name, long, state = {}) {
  const browser = await launch(name, { out: mkdtempSync(join(tmpdir(), 'countscope-bench-')), scriptSeconds: 900 });
  Object.assign(state, { browser, version: browser.version });
  const out = { browser: name, version: browser.version };
  // Each step's announcement, remembered (without the browser's name and the parenthesis) for `bounded`.
  const announce = (m) => {
    state.step = m.slice(m.indexOf(': ') + 2).split(' (')[0];
    log(m);
  };
  try {
    announce(`${name}: inference, model load and readers (countscope wasm vs onnxruntime-web, countscope reader vs JSON.parse)`);
    {
      const page = await browser.newPage();
      await page.goto(new URL('bench/page.html', BASE).href);
      await page.waitForFunction(() => window.benchReady === true, null, { timeout: 120_000 });
      Object.assign(out, await page.evaluate((o) => window.bench(o), { batches: BATCHES, repeat: REPEAT, recording: process.env.RECORDING, module: 'countscope_bg.wasm', peers: true }));
      await page.close();
    }

    announce(`${name}: inference with the relaxed-SIMD build (the one the page loads where the browser has relaxed SIMD)`);
    {
      const page = await browser.newPage();
      await page.goto(new URL('bench/page.html', BASE).href);
      await page.waitForFunction(() => window.benchReady === true, null, { timeout: 120_000 });
      // A browser without relaxed SIMD (Firefox ESR 140, Safari) cannot compile this build: its rows say
      // so instead of a figure.
      const valid = await page.evaluate(async () => WebAssembly.validate(await (await fetch('/pkg/countscope_relaxed_bg.wasm')).arrayBuffer()));
      out.relaxed = valid
        ? await page.evaluate((o) => window.bench(o), { batches: BATCHES, repeat: REPEAT, module: 'countscope_relaxed_bg.wasm', peers: false })
        : { unsupported: `${name} ${browser.version} does not validate relaxed SIMD` };
      out.relaxed_simd_supported = await page.evaluate(async () => (await import('/countscope-replay.js')).ENGINE === 'relaxed-simd');
      await page.close();
    }

    announce(`${name}: end to end: the 30-minute sample dropped on the page, to every plot drawn (one worker, then one per core), and first open (${REPEAT} fresh pages)`);
    {
      const single = await browser.newPage({ width: 1280, height: 1500 });
      await single.goto(new URL('?workers=1', BASE).href);
      await single.waitForSelector('countscope-replay[state=ready]', { timeout: 120_000 });
      out.e2e_30min_one_worker = await thirtyMinutes(single);
      await single.close();

      // First open, REPEAT times, each in a fresh page of its own (a new browser context in Chromium: no
      // HTTP cache, no compiled code kept), so the figure is a median with its spread rather than one draw
      // of a noisy machine. The page's own clock: navigation start → drawn. The wall clock around the
      // driver also counts its polling (playwright checks a selector at 0, 20, 50, 100, 100 ms, then every
      // 500 ms).
      const opens = [];
      const walls = [];
      let page;
      for (let r = 0; r < REPEAT; r++) {
        await page?.close();
        page = await browser.newPage({ width: 1280, height: 1500 });
        const t0 = Date.now();
        await page.goto(BASE);
        await page.waitForSelector('countscope-replay[state=ready]', { timeout: 120_000 });
        walls.push(Date.now() - t0);
        opens.push(await page.evaluate(() => document.querySelector('countscope-replay').timing.atMs.ready));
      }
      out.first_open_ms = stats(opens);
      out.first_open_wall_ms = stats(walls);
      out.e2e_30min = await thirtyMinutes(page);
      out.cursor_redraw_30min_ms = await cursorRedraw(page);
      if (long) {
        // The day on one worker, then on the default (one per core): what splitting it pays.
        out.e2e_long_one_worker = await longRecording(page.raw, '?workers=1');
        out.e2e_long = await longRecording(page.raw, '');
      }
      await page.close();
    }
  } finally {
    out.errors = [...browser.errors, ...browser.failed];
    await browser.close();
  }
  return out;
}

/** The long recording picked through the page's file input, `LONG_REPEAT` times (playwright's page),
 *  on the page at `query` (e.g. `?workers=1`). */
async function longRecording(page, query) {
  log(`end to end: ${basename(process.env.LONG)} through the file picker (${LONG_REPEAT} run(s)${query ? ', ' + query : ''})`);
  const long = [];
  for (let r = 0; r < LONG_REPEAT; r++) {
    // A fresh page per run: wasm memory never shrinks, so each run's figure is its own peak.
    await page.goto(new URL(query, BASE).href);
    await page.waitForSelector('countscope-replay[state=ready]', { timeout: 120_000 });
    let peakHeap = 0;
    const poll = setInterval(async () => {
      const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0).catch(() => 0);
      peakHeap = Math.max(peakHeap, heap);
    }, 250);
    const outcome = page.evaluate(() => new Promise((resolve, reject) => {
      const el = document.querySelector('countscope-replay');
      el.addEventListener('replayed', (e) => resolve(e.detail), { once: true });
      el.addEventListener('message', (e) => { if (e.detail.kind === 'error') reject(new Error(e.detail.text ?? 'error')); }, { once: true });
    }));
    const input = await page.evaluateHandle(() => document.querySelector('countscope-replay').shadowRoot.querySelector('input[type=file]'));
    const t = Date.now();
    await input.asElement().setInputFiles(process.env.LONG);
    const detail = await outcome;
    const ms = Date.now() - t;
    clearInterval(poll);
    long.push({ ms, windows: detail.report.windows, timing: detail.timing, peakHeap, redraw: await cursorRedraw(page) });
  }
  return {
    engine: long[0].timing.engine,
    workers: long[0].timing.workers,
    split: long[0].timing.split,
    file: basename(process.env.LONG),
    windows: long[0].windows,
    pick_to_plotted_ms: stats(long.map((r) => r.ms)),
    cursor_redraw_ms: long.at(-1).redraw,
    in_page_plotted_ms: stats(long.map((r) => r.timing.plottedSeconds * 1000)),
    worker_replay_ms: stats(long.map((r) => r.timing.replaySeconds * 1000)),
    worker_phases_ms: phases(long),
    memory_mb: {
      worker_wasm: stats(long.map((r) => r.timing.memory.wasm / 1e6)),
      helpers_wasm: stats(long.map((r) => r.timing.memory.helpersWasm / 1e6)),
      window_store: long[0].timing.memory.windows / 1e6,
      main_wasm: stats(long.map((r) => r.timing.memory.mainWasm / 1e6)),
      main_js_heap_peak: stats(long.map((r) => r.peakHeap / 1e6)),
    },
  };
}

/** `measure` for a browser other than Chromium, within BROWSER_MINUTES: its figures, or `{ failed }` with
 *  the reason (an error, or the step it was still in), so one browser that cannot finish (Firefox ESR
 *  140.10.2 once took 69.6 s over browser suite 1, which ESR 153 runs in 3–4 s) does not cost the run
 *  everyone else's. */
async function bounded(name) {
  const state = {};
  let timer;
  const run = measure(name, false, state);
  run.catch(() => {}); // past the bound it fails later, once its browser is closed: nothing to report then
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still in step "${state.step ?? 'launch'}" after ${BROWSER_MINUTES} min (BENCH_BROWSER_MINUTES)`)), BROWSER_MINUTES * 60_000);
  });
  try {
    return await Promise.race([run, limit]);
  } catch (e) {
    log(`${name}: not measured: ${e.message}`);
    await Promise.race([state.browser?.close().catch(() => {}), new Promise((r) => setTimeout(r, 10_000))]);
    return { failed: `${[name, state.version].filter(Boolean).join(' ')}: ${e.message}`, errors: [] };
  } finally {
    clearTimeout(timer);
  }
}

// Chromium's figures at the top level (as before Firefox joined), the others under their names.
let out = {};
const errors = [];
for (const name of BROWSERS) {
  const got = name === 'chromium' ? await measure(name, !!process.env.LONG) : await bounded(name);
  errors.push(...got.errors.map((e) => `${name}: ${e}`));
  delete got.errors;
  if (name === 'chromium') out = { ...got, chromium: got.version, ...out };
  else out[name] = got;
}
out.errors = errors;
writeFileSync(process.env.OUT, JSON.stringify(out, null, 2));
if (errors.length) {
  console.error(`bench: page errors: ${errors.join('\n')}`);
  process.exit(1);
}
