// End-to-end: the served page in a real headless browser, one test body for each: Debian's Chromium driven
// by playwright-core, Debian's Firefox ESR by selenium-webdriver through geckodriver (driver.mjs; neither
// downloads a browser). Run by `cargo xtask test`, once per browser, which starts `cargo xtask serve` and
// passes:
//   BROWSER     chromium or firefox
//   BASE_URL    the served page, e.g. http://127.0.0.1:41234/
//   COUNTSCOPE  the native CLI binary (the reference the page must agree with)
//   GECKODRIVER geckodriver's path (Firefox only)
//   OUT         where screenshots and timings go (target/e2e; file names end in the browser's)
//
// It checks: the default replay runs on first open and equals the CLI's report, with the build the browser
// validates (relaxed SIMD) and again with ?engine=simd128; a recording and a model (with its external data
// file, sorted out by content) dropped through a real DataTransfer replay to the same numbers as
// `countscope report --json`; a malformed recording names its bad lines and replays the rest; a recording
// with no usable window, a wrong file and a model without its .onnx.data are refused with the file named,
// and what was loaded before stays; the keys move the cursor; a copied link opens a new page at its
// moment; a plain file split by bytes between the workers replays as on one worker, bad lines at the cut
// numbered as in the file; two embedded replays run independently, one opening at its `start` and `view`.

import { launch } from './driver.mjs';
import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join, basename } from 'node:path';
import assert from 'node:assert/strict';

const BASE = process.env.BASE_URL;
const CLI = process.env.COUNTSCOPE;
const OUT = process.env.OUT ?? 'target/e2e';
const ROOT = new URL('../..', import.meta.url).pathname;
assert.ok(BASE && CLI, 'BASE_URL and COUNTSCOPE must be set (cargo xtask test does)');
mkdirSync(OUT, { recursive: true });

const timings = {};
const SAMPLE = join(ROOT, 'artifacts/recordings/room0-30min.paired.jsonl.gz');
const SAMPLE_MODEL = join(ROOT, 'artifacts/count_v1.onnx');
let failures = 0;
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}\n${e.stack ?? e}`);
  }
}

function cliReport(recording, model, extra = []) {
  let stdout;
  try {
    stdout = execFileSync(CLI, ['report', '--json', '--model', model, recording, ...extra], { encoding: 'utf8', maxBuffer: 1 << 28 });
  } catch (e) {
    // Exit code 1 means "a gate was not met": the report is still on stdout.
    if (e.status !== 1) throw e;
    stdout = e.stdout;
  }
  return JSON.parse(stdout);
}

/** The page's report against the CLI's: counts and argmax-based numbers exactly, numbers computed from the
 *  confidence to float rounding (the browser's wasm SIMD kernels and native x86 sum in different orders:
 *  logits agree to ~1e-6). */
function sameAsCli(report, cli) {
  for (const k of ['windows', 'labelled_windows', 'accuracy', 'within_pm1', 'mae', 'majority_baseline', 'skipped_lines', 'gates_passed']) {
    assert.equal(report[k], cli[k], `${k}: page ${report[k]} vs CLI ${cli[k]}`);
  }
  for (const k of ['spearman', 'brier', 'ece']) {
    assert.ok(Math.abs(report[k] - cli[k]) < 1e-6, `${k}: page ${report[k]} vs CLI ${cli[k]}`);
  }
  assert.deepEqual(report.confusion, cli.confusion);
  assert.deepEqual(report.findings.map((f) => f.code), cli.findings.map((f) => f.code));
  assert.deepEqual(report.gates.map((g) => [g.name, g.status]), cli.gates.map((g) => [g.name, g.status]));
  report.gates.forEach((g, i) => assert.ok(Math.abs(g.measured - cli.gates[i].measured) < 1e-6, g.name));
  // The intervals: the same seed and blocks on every target. Argmax-based ones exactly; confidence-based
  // ones to float rounding (a confidence differing by 1e-7 can swap two ranks or cross a bin edge).
  assert.deepEqual(report.uncertainty.blocks, cli.uncertainty.blocks);
  for (const k of ['accuracy', 'within_pm1', 'mae']) assert.deepEqual(report.uncertainty[k], cli.uncertainty[k], `interval ${k}`);
  for (const k of ['spearman', 'brier', 'ece']) {
    // (ρ gets no interval when it is undefined on the sample or on more than 5 % of the resamples.)
    assert.equal(report.uncertainty[k] === null, cli.uncertainty[k] === null, `interval ${k} given by both or neither`);
    if (cli.uncertainty[k] === null) continue;
    for (const end of ['low', 'high']) assert.ok(Math.abs(report.uncertainty[k][end] - cli.uncertainty[k][end]) < 1e-4, `interval ${k}.${end}: page ${report.uncertainty[k][end]} vs CLI ${cli.uncertainty[k][end]}`);
  }
}

/** Drop files on the page through a real DataTransfer carrying real File objects. */
async function drop(page, files) {
  const payload = files.map(({ name, bytes }) => ({ name, b64: Buffer.from(bytes).toString('base64') }));
  await page.evaluate((payload) => {
    const dt = new DataTransfer();
    for (const { name, b64 } of payload) {
      const bin = atob(b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      dt.items.add(new File([bytes], name));
    }
    const el = document.querySelector('countscope-replay');
    document.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true }));
    document.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, payload);
}

const file = (path) => ({ name: basename(path), bytes: readFileSync(path) });
const shadow = (page, sel) => page.evaluate((sel) => document.querySelector('countscope-replay').shadowRoot.querySelector(sel)?.innerText ?? null, sel);
const messages = (page) => shadow(page, '.messages');

/** Arms a listener for the next `replayed` event or error message; the returned function waits for it and
 *  resolves with `{kind, detail}`. (Armed, then awaited: a WebDriver session runs one command at a time,
 *  so the wait cannot be a script left pending while the drop runs.) */
let outcomes = 0;
async function nextOutcome(page) {
  const id = ++outcomes;
  await page.evaluate((id) => {
    const el = document.querySelector('countscope-replay');
    window.__outcomes ??= {};
    const done = (kind) => (e) => {
      el.removeEventListener('replayed', onOk);
      el.removeEventListener('message', onMsg);
      // Only what the checks read crosses back (a report is plain data; the detail's other fields may not be).
      window.__outcomes[id] = { kind, detail: kind === 'replayed' ? { timing: e.detail.timing, report: { windows: e.detail.report?.windows } } : { text: e.detail.text } };
    };
    const onOk = done('replayed');
    const onMsg = (e) => { if (e.detail.kind === 'error') done('error')(e); };
    el.addEventListener('replayed', onOk);
    el.addEventListener('message', onMsg);
  }, id);
  return () => page.waitForFunction((id) => window.__outcomes?.[id], id, { timeout: 180_000 });
}

const BROWSER = process.env.BROWSER ?? 'chromium';
const browser = await launch(BROWSER, { out: OUT });
console.log(`browser: ${BROWSER}`);
const page = await browser.newPage({ width: 1280, height: 1500, clipboard: true });

await check('first open replays the default model and sample recording', async () => {
  const t0 = Date.now();
  await page.goto(BASE);
  await page.waitForSelector('countscope-replay[state=ready]', { timeout: 120_000 });
  timings.first_open_wall_ms = Date.now() - t0;
  // The page's own clock (navigation start → drawn), without the driver's polling.
  timings.first_open_to_plotted_ms = Math.round(await page.evaluate(() => document.querySelector('countscope-replay').timing.atMs.ready));
  const report = await page.evaluate(() => document.querySelector('countscope-replay').report);
  sameAsCli(report, cliReport(SAMPLE, SAMPLE_MODEL));
  // The sample's URL is downloaded once and shared like a dropped gzip file: split by its decoded text.
  // On two cores or fewer the first replay runs on the primary alone (the helpers start after it).
  const { split, workers } = await page.evaluate(() => document.querySelector('countscope-replay').timing);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  assert.equal(workers, cores > 2 ? Math.min(4, cores) : 1, `${cores} cores`);
  assert.equal(split, workers > 1 ? 'bytes' : 'none', `${workers} workers`);
  // The heatmap drew window 0, which came with the columns: the same numbers the worker keeps.
  const [carried, asked] = await page.evaluate(async () => {
    const el = document.querySelector('countscope-replay');
    return [Array.from(await el.window(0)), Array.from(await el.workers.window(0))];
  });
  assert.equal(carried.length, 56 * 20);
  assert.deepEqual(carried, asked);
  assert.equal(await shadow(page, '.synthetic'), 'SYNTHETIC');
  assert.equal(await messages(page), '');
});

// The build the page must pick: the relaxed-SIMD one where the browser validates that very module (the
// page decides by a one-instruction probe, so this checks the probe against the module), else simd128.
// Chromium 156 validates it, and must; Firefox ESR 153 does, ESR 140 does not (Debian has served both),
// and Safari has no relaxed SIMD.
const relaxedValid = await page.evaluate(async () => WebAssembly.validate(await (await fetch('pkg/countscope_relaxed_bg.wasm')).arrayBuffer()));
if (BROWSER === 'chromium') assert.ok(relaxedValid, 'Chromium 156 validates the relaxed-SIMD module');
const PICK = relaxedValid ? 'relaxed-simd' : 'simd128';
if (!relaxedValid) console.log(`note: ${BROWSER} ${browser.version} does not validate the relaxed-SIMD module; the page runs simd128 there, and the relaxed build is checked in the other browser only`);
await check(`the page picked the ${PICK} build${relaxedValid ? '; ?engine=simd128 runs the other' : ''}, both equal to the CLI`, async () => {
  const picked = await page.evaluate(() => document.querySelector('countscope-replay').shadowRoot.querySelector('.sources').textContent);
  assert.match(picked, new RegExp(`engine: wasm ${PICK} ×`), picked);
  const plain = await browser.newPage({ width: 1280, height: 1200 });
  await plain.goto(new URL('?engine=simd128', BASE).href);
  await plain.waitForSelector('countscope-replay[state=ready]', { timeout: 120_000 });
  const got = await plain.evaluate(() => {
    const el = document.querySelector('countscope-replay');
    return { sources: el.shadowRoot.querySelector('.sources').textContent, report: el.report, messages: el.shadowRoot.querySelector('.messages').innerText };
  });
  await plain.close();
  assert.match(got.sources, /engine: wasm simd128 ×/, got.sources);
  assert.equal(got.messages, '');
  sameAsCli(got.report, cliReport(SAMPLE, SAMPLE_MODEL));
});

await check('a copied link restores the moment (window, zoom, model, recording) in a new page', async () => {
  await page.evaluate(() => { const e = document.querySelector('countscope-replay'); e.transport.setView(400, 200); e.transport.seek(450); });
  await page.evaluate(() => document.querySelector('countscope-replay').shadowRoot.querySelector('button[data-act=link]').click());
  await page.waitForFunction(() => document.querySelector('countscope-replay').link);
  const link = await page.evaluate(() => document.querySelector('countscope-replay').link);
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link, 'the link is on the clipboard');
  assert.equal(await page.evaluate(() => location.href), link, 'and in the address bar');
  assert.match(link, /#t=451&view=401-600&model=count_v1\.onnx&recording=room0-30min\.paired\.jsonl\.gz$/);
  const other = await browser.newPage({ width: 1280, height: 1200 });
  // A failure here must not leave the fragment behind: the next replay on this page would open at it.
  try {
    await other.goto(link);
    await other.waitForSelector('countscope-replay[state=ready]', { timeout: 120_000 });
    const at = await other.evaluate(() => { const e = document.querySelector('countscope-replay'); return { cursor: e.cursor, zoom: e.transport.zoom, readout: e.shadowRoot.querySelector('.readout b').innerText, messages: e.shadowRoot.querySelector('.messages').innerText }; });
    assert.deepEqual(at, { cursor: 450, zoom: [400, 600], readout: 'window 451 / 2240', messages: '' });
    // A link made with another model says so, and still opens at its moment.
    await other.goto(new URL('#t=12:00&model=other.onnx', BASE).href);
    await other.reload();
    await other.waitForSelector('countscope-replay[state=ready]', { timeout: 120_000 });
    const said = await other.evaluate(() => { const e = document.querySelector('countscope-replay'); const ts = e.columns.tsStart; let i = 0; while (i + 1 < ts.length && ts[i + 1] <= ts[0] + 720) i++; return { cursor: e.cursor, expected: i, messages: e.shadowRoot.querySelector('.messages').innerText }; });
    assert.equal(said.cursor, said.expected, '12:00 is the last window started by then');
    assert.match(said.messages, /other\.onnx/);
    // A malformed moment is named, and the replay stays.
    await other.goto(new URL('#t=soon', BASE).href);
    await other.reload();
    await other.waitForSelector('countscope-replay[state=ready]', { timeout: 120_000 });
    assert.match(await other.evaluate(() => document.querySelector('countscope-replay').shadowRoot.querySelector('.messages').innerText), /t="soon"/);
    // `ready` comes once the moment is drawn: the readout, read as the replay says it is done, is the moment's.
    const readyShows = await other.evaluate(() => new Promise((resolve) => {
      const e = document.querySelector('countscope-replay');
      history.replaceState(null, '', '#t=301');
      e.addEventListener('replayed', () => resolve(e.shadowRoot.querySelector('.readout b').innerText), { once: true });
      e.replayLast();
    }));
    assert.equal(readyShows, 'window 301 / 2240');
  } finally {
    await other.close();
    await page.evaluate(() => history.replaceState(null, '', location.pathname));
  }
});

await check('a dropped recording + model (+ .onnx.data, sorted by content) gives the CLI report', async () => {
  const rec = join(ROOT, 'artifacts/recordings/room100-heldout-10min.paired.jsonl.gz');
  const onnx = join(ROOT, 'tests/fixtures/countnet_external.onnx');
  const data = join(ROOT, 'tests/fixtures/countnet_external.onnx.data');
  // Names that say nothing: the page must sort them by content (the data file keeps its name, the model names it).
  const files = [{ ...file(rec), name: 'a' }, { ...file(data) }, { ...file(onnx), name: 'b' }];
  const outcome = await nextOutcome(page);
  const t0 = Date.now();
  await drop(page, files);
  const got = await outcome();
  assert.equal(got.kind, 'replayed', JSON.stringify(got.detail));
  timings.drop_heldout_10min_to_plotted_ms = Date.now() - t0;
  // The replay ran on one worker per core (at most 4): helpers inferred their shards, the primary merged.
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  assert.equal(got.detail.timing.workers, Math.max(1, Math.min(4, cores)));
  const report = await page.evaluate(() => document.querySelector('countscope-replay').report);
  const cli = cliReport(rec, onnx);
  sameAsCli(report, cli);
  assert.equal(report.calibration.description, cli.calibration.description);
  // What the page shows is those numbers.
  const shown = await page.evaluate(() => Object.fromEntries([...document.querySelector('countscope-replay').shadowRoot.querySelectorAll('[data-metric]')].map((e) => [e.dataset.metric, e.textContent])));
  assert.equal(shown.windows, String(cli.windows));
  assert.equal(shown.accuracy, `${(100 * cli.accuracy).toFixed(1)} %`);
  assert.equal(shown.within_pm1, `${(100 * cli.within_pm1).toFixed(1)} %`);
  assert.equal(shown.mae, cli.mae.toFixed(3));
  const intervals = await page.evaluate(() => Object.fromEntries([...document.querySelector('countscope-replay').shadowRoot.querySelectorAll('[data-interval]')].map((e) => [e.dataset.interval, e.textContent])));
  const pct = (v) => `${(100 * v).toFixed(1)} %`;
  assert.equal(intervals.accuracy, `${pct(cli.uncertainty.accuracy.low)} to ${pct(cli.uncertainty.accuracy.high)}`);
  assert.equal(intervals.mae, `${cli.uncertainty.mae.low.toFixed(3)} to ${cli.uncertainty.mae.high.toFixed(3)}`);
  assert.equal(shown.spearman, cli.spearman == null ? '—' : cli.spearman.toFixed(3));
});

await check('keys move the cursor: End, Home, N (next wrong)', async () => {
  await page.press('End');
  await page.waitForFunction(() => /window 747 \/ 747/.test(document.querySelector('countscope-replay').shadowRoot.querySelector('.readout').innerText));
  await page.press('Home');
  await page.waitForFunction(() => /window 1 \/ 747/.test(document.querySelector('countscope-replay').shadowRoot.querySelector('.readout').innerText));
  await page.press('n');
  await page.waitForFunction(() => /wrong/.test(document.querySelector('countscope-replay').shadowRoot.querySelector('.readout .verdict')?.innerText ?? ''));
  await page.press('ArrowRight');
});

await check('the time plots zoom (keys, wheel) around the cursor and reset', async () => {
  const note = () => shadow(page, '.zoom-note');
  await page.press('Home');
  await page.press('+');
  await page.press('+');
  await page.waitForFunction(() => /showing windows 1–187 of 747/.test(document.querySelector('countscope-replay').shadowRoot.querySelector('.zoom-note').innerText));
  await page.press('0');
  await page.waitForFunction(() => /wheel to zoom/.test(document.querySelector('countscope-replay').shadowRoot.querySelector('.zoom-note').innerText));
  await page.wheelOver(() => document.querySelector('countscope-replay').shadowRoot.querySelector('canvas[data-plot=timeline]'), -300);
  await page.waitForFunction(() => /showing windows/.test(document.querySelector('countscope-replay').shadowRoot.querySelector('.zoom-note').innerText));
  assert.match(await note(), /showing windows \d+–\d+ of 747/);
  await page.press('0');
});

await check('Space plays (real time × speed) and pauses', async () => {
  await page.press('Home');
  await page.evaluate(() => { const s = document.querySelector('countscope-replay').shadowRoot.querySelector('.speed'); s.value = '64'; s.dispatchEvent(new Event('change')); });
  await page.press(' ');
  await page.sleep(1000);
  await page.press(' ');
  const at = await page.evaluate(() => document.querySelector('countscope-replay').cursor);
  // 64× real time for ~1 s is ~64 s of recording: 0.8 s windows → ~80 windows (wide bounds: a noisy machine).
  assert.ok(at >= 20 && at <= 160, `cursor at ${at} after ~1 s at 64×`);
  await page.sleep(300);
  assert.equal(await page.evaluate(() => document.querySelector('countscope-replay').cursor), at, 'paused');
});

await check('dark mode follows prefers-color-scheme', async () => {
  const bg = () => page.evaluate(() => {
    const c = document.querySelector('countscope-replay').shadowRoot.querySelector('canvas[data-plot=timeline]');
    return [...c.getContext('2d').getImageData(2, 2, 1, 1).data.slice(0, 3)];
  });
  await page.colorScheme('dark');
  await page.waitForFunction(() => {
    const c = document.querySelector('countscope-replay').shadowRoot.querySelector('canvas[data-plot=timeline]');
    return c.getContext('2d').getImageData(2, 2, 1, 1).data[0] < 60;
  });
  assert.deepEqual(await bg(), [24, 26, 31]);
  await page.colorScheme('light');
  await page.waitForFunction(() => {
    const c = document.querySelector('countscope-replay').shadowRoot.querySelector('canvas[data-plot=timeline]');
    return c.getContext('2d').getImageData(2, 2, 1, 1).data[0] > 200;
  });
});

await check('a malformed recording names its bad lines and replays the rest', async () => {
  const text = execFileSync(CLI, ['simulate', '--seed', '9', '--room', '2', '--duration', '40s'], { encoding: 'utf8' });
  const lines = text.trimEnd().split('\n');
  lines[2] = '{"csi": [1, 2, 3';
  lines[6] = 'not json at all';
  const outcome = await nextOutcome(page);
  await drop(page, [{ name: 'broken.paired.jsonl', bytes: Buffer.from(lines.join('\n') + '\n') }]);
  const got = await outcome();
  assert.equal(got.kind, 'replayed');
  const msg = await messages(page);
  assert.match(msg, /2 bad line\(s\) skipped/);
  assert.match(msg, /line 3: /);
  assert.match(msg, /line 7: /);
  const report = await page.evaluate(() => document.querySelector('countscope-replay').report);
  assert.equal(report.windows, lines.length - 2);
  assert.deepEqual(report.bad_lines.map((b) => b.line), [3, 7]);
  await page.screenshot(join(OUT, `bad-lines-${BROWSER}.png`));
});

await check('errors name the problem and keep what was loaded', async () => {
  const before = await page.evaluate(() => document.querySelector('countscope-replay').report.windows);
  // No usable window.
  let outcome = await nextOutcome(page);
  await drop(page, [{ name: 'garbage.jsonl', bytes: Buffer.from('{"csi": 1}\n{"nope": true}\n') }]);
  let got = await outcome();
  assert.equal(got.kind, 'error');
  assert.match(got.detail.text, /garbage\.jsonl: no usable window \(2 line\(s\) skipped\): line 1: .*line 2: /);
  // A file that is none of the kinds.
  await drop(page, [{ name: 'photo.png', bytes: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]) }]);
  await page.waitForFunction(() => /photo\.png: not a recording/.test(document.querySelector('countscope-replay').shadowRoot.querySelector('.messages').innerText));
  // A model without its external data: the missing file is named.
  outcome = await nextOutcome(page);
  await drop(page, [file(join(ROOT, 'tests/fixtures/countnet_external.onnx'))]);
  got = await outcome();
  assert.equal(got.kind, 'error');
  assert.match(got.detail.text, /countnet_external\.onnx\.data/);
  // A model with the wrong interface: expected and found.
  outcome = await nextOutcome(page);
  await drop(page, [file(join(ROOT, 'tests/fixtures/wrong_channels.onnx'))]);
  got = await outcome();
  assert.equal(got.kind, 'error');
  assert.match(got.detail.text, /expected .*found/);
  // A model using an op outside the page's list (src/model/ops.rs): refused with the op, its node and the
  // list, where the CLI runs it (tests/cli.rs).
  outcome = await nextOutcome(page);
  await drop(page, [file(join(ROOT, 'tests/fixtures/count_v1_leaky.onnx'))]);
  got = await outcome();
  assert.equal(got.kind, 'error');
  assert.match(got.detail.text, /`LeakyRelu` \(5 nodes, the first `[^`]+`\).*only the ops a count model uses: Add, BatchNormalization, .*Relu, /);
  assert.match(await shadow(page, '.messages'), /LeakyRelu/);
  const after = await page.evaluate(() => ({ state: document.querySelector('countscope-replay').getAttribute('state'), windows: document.querySelector('countscope-replay').report.windows }));
  assert.deepEqual(after, { state: 'ready', windows: before });
});

await check("RuView's release dropped as published (ONNX + safetensors, and safetensors alone) gives RuView's reference; normalising by the recording is the CLI's", async () => {
  const UP = join(ROOT, '../shared/upstream/ruview-count-v0.0.2');
  assert.ok(existsSync(join(UP, 'count_v1.safetensors')), `${UP} is missing: this check needs RuView's published files beside the checkout`);
  const zero = { name: 'zero.jsonl', bytes: Buffer.from(JSON.stringify({ csi: new Array(1120).fill(0), csi_shape: [56, 20] }) + '\n') };
  const want = [0.1873, 0.1934, 0.1073, 0.1110, 0.1065, 0.1056, 0.0974, 0.0915];
  const onnx = file(join(UP, 'count_v1.onnx')), st = file(join(UP, 'count_v1.safetensors')), temp = file(join(UP, 'count_v1.temperature'));
  for (const [what, files] of [['ONNX + safetensors', [onnx, st, temp, zero]], ['safetensors alone', [st, zero]]]) {
    const outcome = await nextOutcome(page);
    await drop(page, files);
    const got = await outcome();
    assert.equal(got.kind, 'replayed', `${what}: ${JSON.stringify(got.detail)}`);
    const { probs, conf, weights } = await page.evaluate(() => {
      const el = document.querySelector('countscope-replay');
      return { probs: Array.from(el.columns.probs).slice(0, 8), conf: el.columns.confLogit[0], weights: el.report.model.weights };
    });
    probs.forEach((p, i) => assert.ok(Math.abs(p - want[i]) < 5e-5, `${what}: softmax ${probs} vs RuView's ${want}`));
    assert.ok(Math.abs(1 / (1 + Math.exp(-conf)) - 0.48672) < 5e-5, `${what}: sigmoid(${conf})`);
    if (what === 'ONNX + safetensors') {
      assert.deepEqual(weights.map((w) => [w.file, w.tensors.length]), [['count_v1.onnx', 6], ['count_v1.safetensors', 8]]);
      assert.match(await shadow(page, '.weights'), /8 tensor\(s\) from count_v1\.safetensors/);
    }
  }
  // The same model on a sample recording: raw, the input-scale finding; by the recording's statistics, the CLI's numbers.
  const rec = join(ROOT, 'artifacts/recordings/room0-legacy-shape-2min.paired.jsonl.gz');
  let outcome = await nextOutcome(page);
  await drop(page, [file(rec)]);
  assert.equal((await outcome()).kind, 'replayed');
  let report = await page.evaluate(() => document.querySelector('countscope-replay').report);
  assert.ok(report.findings.some((f) => f.code === 'input-not-normalised'), JSON.stringify(report.findings));
  assert.match(await shadow(page, '.input-summary'), /per-subcarrier mean .* fed as is/);
  outcome = await nextOutcome(page);
  await page.evaluate(() => {
    const sel = document.querySelector('countscope-replay').shadowRoot.querySelector('.normalise');
    sel.value = 'recording';
    sel.dispatchEvent(new Event('change'));
  });
  assert.equal((await outcome()).kind, 'replayed');
  report = await page.evaluate(() => document.querySelector('countscope-replay').report);
  const cli = cliReport(rec, join(UP, 'count_v1.safetensors'), ['--normalise', 'recording', '--temperature', '1']);
  assert.equal(report.calibration.normalisation_source.kind, 'recording');
  for (const k of ['windows', 'accuracy', 'within_pm1', 'mae']) assert.equal(report[k], cli[k], `${k}: page ${report[k]} vs CLI ${cli[k]}`);
  assert.deepEqual(report.findings.map((f) => f.code), cli.findings.map((f) => f.code));
  // f32 statistics: the page hands over the f32's exact value, the CLI's JSON its shortest decimal.
  report.input.mean.forEach((m, i) => assert.ok(Math.abs(m - cli.input.mean[i]) <= 1e-6 * Math.abs(m), `input mean ${i}: page ${m} vs CLI ${cli.input.mean[i]}`));
});
// Whatever happened above, later checks replay with the model's own normalisation.
await page.evaluate(() => {
  const sel = document.querySelector('countscope-replay').shadowRoot.querySelector('.normalise');
  sel.value = 'model';
});

await check('the 30-minute sample dropped: time to full plot', async () => {
  const outcome = await nextOutcome(page);
  const t0 = Date.now();
  await drop(page, [file(join(ROOT, 'artifacts/recordings/room0-30min.paired.jsonl.gz')), file(join(ROOT, 'artifacts/count_v1.onnx'))]);
  const got = await outcome();
  assert.equal(got.kind, 'replayed');
  timings.drop_30min_to_plotted_ms = Date.now() - t0;
  timings.drop_30min_in_page = got.detail.timing;
  // The replay's phases account for its time (the rest is encoding the answer); `source`, the wait for
  // the file's bytes, is a part of `read`.
  const { replayPhases: phases, replaySeconds, memory } = got.detail.timing;
  const { source, ...sequential } = phases;
  const sum = Object.values(sequential).reduce((a, b) => a + b, 0);
  assert.deepEqual(Object.keys(phases), ['read', 'source', 'waited', 'merged', 'columns', 'report']);
  assert.ok(Object.values(phases).every((v) => v >= 0) && sum > 0 && sum <= replaySeconds + 1e-9 && source <= phases.read, JSON.stringify(got.detail.timing));
  // The worker's wasm memory after each phase: never shrinking, and the last is the figure reported.
  assert.equal(memory.wasmAfter.length, 5);
  assert.ok(memory.wasmAfter.every((v, k) => v > 0 && (k === 0 || v >= memory.wasmAfter[k - 1])) && memory.wasmAfter[4] <= memory.wasm, JSON.stringify(memory));
  await page.sleep(300);
  await page.screenshot(join(OUT, `page-${BROWSER}.png`), { fullPage: true });
});

await check('one worker and several give the same replay, logit for logit (the dropped gzip sample split by its decoded text)', async () => {
  const mine = await page.evaluate(() => {
    const el = document.querySelector('countscope-replay');
    return { workers: el.timing.workers, split: el.timing.split, logits: Array.from(el.columns.countLogits), lines: Array.from(el.columns.line) };
  });
  assert.equal(mine.split, mine.workers > 1 ? 'bytes' : 'none', `${mine.workers} workers`);
  const single = await browser.newPage();
  await single.goto(new URL('?workers=1', BASE).href);
  await single.waitForSelector('countscope-replay[state=ready]', { timeout: 120_000 });
  const one = await single.evaluate(() => {
    const el = document.querySelector('countscope-replay');
    return { workers: el.timing.workers, logits: Array.from(el.columns.countLogits), lines: Array.from(el.columns.line) };
  });
  await single.close();
  assert.equal(one.workers, 1);
  assert.equal(one.lines.length, 2240);
  assert.deepEqual(one.lines, mine.lines);
  assert.deepEqual(one.logits, mine.logits, `${mine.workers} workers vs 1`);
});

await check('a plain file dropped is split by bytes between the workers: the replay of one worker, bad lines at the cut numbered as in the file, the last window from the worker that holds it', async () => {
  const plain = gunzipSync(readFileSync(join(ROOT, 'artifacts/recordings/room100-heldout-10min.paired.jsonl.gz')));
  const lines = plain.toString('latin1').trimEnd().split('\n');
  // The line holding the middle byte (where two workers' ranges meet) and its neighbours, made bad at the
  // same length, so the cut stays where it was.
  let [at, k] = [0, 0];
  while (at + lines[k].length + 1 <= plain.length / 2) at += lines[k++].length + 1;
  for (const j of [k - 1, k, k + 1]) lines[j] = '{"csi": [' + ' '.repeat(lines[j].length - 9);
  const damaged = { name: 'held-out-damaged.paired.jsonl', bytes: Buffer.from(lines.join('\n') + '\n', 'latin1') };
  assert.equal(damaged.bytes.length, plain.length);
  const replayOn = async (p) => {
    const outcome = await nextOutcome(p);
    await drop(p, [damaged]);
    assert.equal((await outcome()).kind, 'replayed');
    return p.evaluate(async () => {
      const el = document.querySelector('countscope-replay');
      // The heatmap's last window: split by bytes, the last worker holds it (the primary names it).
      el.transport.act('end');
      await el.drawWindow(el.cursor);
      const last = await el.window(el.cursor);
      return {
        split: el.timing.split, logits: Array.from(el.columns.countLogits), lines: Array.from(el.columns.line),
        bad: el.report.bad_lines.map((b) => b.line), windows: el.report.windows, accuracy: el.report.accuracy,
        last: last ? Array.from(last) : null,
      };
    });
  };
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  // Pages of their own (one per core, then one worker), so the main page keeps its replay.
  const on = async (query) => {
    const p = await browser.newPage();
    await p.goto(new URL(query, BASE).href);
    await p.waitForSelector('countscope-replay[state=ready]', { timeout: 120_000 });
    const got = await replayOn(p);
    await p.close();
    return got;
  };
  const many = await on('');
  const one = await on('?workers=1');
  assert.equal(one.split, 'none');
  assert.equal(many.split, cores > 1 ? 'bytes' : 'none', `${cores} cores`);
  assert.deepEqual(many.bad, [k, k + 1, k + 2], 'the three bad lines, 1-based, at the cut');
  assert.deepEqual(one.bad, many.bad);
  assert.equal(many.windows, lines.length - 3);
  assert.deepEqual(many.lines, one.lines);
  assert.deepEqual(many.logits, one.logits, 'logit for logit');
  assert.equal(many.accuracy, one.accuracy);
  assert.equal(many.last?.length, 56 * 20, 'the last window reached the heatmap');
  assert.deepEqual(many.last, one.last, 'the same last window from the worker that holds it');
});

await check('exports: per-frame CSV has a row per window, the JSON is the report', async () => {
  const shadowClick = (act) => page.evaluate((act) => document.querySelector('countscope-replay').shadowRoot.querySelector(`button[data-act=${act}]`).click(), act);
  const csv = (await page.download(() => shadowClick('csv'))).toString('utf8').trimEnd().split('\n');
  assert.equal(csv.length, 2240 + 1);
  assert.match(csv[0], /^line,ts_start,ts_end,truth,count,correct,confidence,/);
  // The same columns as the CLI's, cell for cell where wasm and native agree exactly (the floats differ in
  // their last digits), including n_persons_max, which every line of the sample carries.
  const cliCsv = execFileSync(CLI, ['replay', '--format', 'csv', '--model', join(ROOT, 'artifacts/count_v1.onnx'), join(ROOT, 'artifacts/recordings/room0-30min.paired.jsonl.gz')], { encoding: 'utf8', maxBuffer: 1 << 28 }).trimEnd().split('\n');
  assert.equal(csv[0], cliCsv[0]);
  const exact = ['line', 'ts_start', 'ts_end', 'truth', 'count', 'correct', 'count_p95_low', 'count_p95_high', 'truth_max', 'node'].map((k) => csv[0].split(',').indexOf(k));
  assert.ok(!exact.includes(-1), csv[0]);
  for (let i = 1; i < csv.length; i++) {
    const [a, b] = [csv[i].split(','), cliCsv[i].split(',')];
    assert.deepEqual(exact.map((k) => a[k]), exact.map((k) => b[k]), `row ${i}`);
  }
  const truthMax = csv[0].split(',').indexOf('truth_max');
  assert.ok(csv.slice(1).every((r) => /^\d+$/.test(r.split(',')[truthMax])), 'truth_max on every row');
  const json = JSON.parse((await page.download(() => shadowClick('json'))).toString('utf8'));
  assert.equal(json.windows, 2240);
  const png = await page.download(() => shadowClick('png'));
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
});

await check('the layout can be overridden and the report says so', async () => {
  const outcome = await nextOutcome(page);
  await page.evaluate(() => { const s = document.querySelector('countscope-replay').shadowRoot.querySelector('.layout'); s.value = 'as-stored'; s.dispatchEvent(new Event('change')); });
  assert.equal((await outcome()).kind, 'replayed');
  const layout = await page.evaluate(() => document.querySelector('countscope-replay').report.layout);
  assert.equal(layout.as_stored, 2240);
  assert.equal(layout.transposed, 0);
  const back = await nextOutcome(page);
  await page.evaluate(() => { const s = document.querySelector('countscope-replay').shadowRoot.querySelector('.layout'); s.value = 'labelled'; s.dispatchEvent(new Event('change')); });
  assert.equal((await back()).kind, 'replayed');
});

await check('two models dropped: both drawn, disagreements to jump between, the comparison equals countscope compare --json', async () => {
  const rec = join(ROOT, 'artifacts/recordings/room100-heldout-10min.paired.jsonl.gz');
  const a = join(ROOT, 'artifacts/count_v1.onnx');
  const b = join(ROOT, 'tests/fixtures/count_v1_weakened.onnx');
  const outcome = await nextOutcome(page);
  await drop(page, [file(rec), file(a), file(b)]);
  const got = await outcome();
  assert.equal(got.kind, 'replayed', JSON.stringify(got.detail));
  const page_ = await page.evaluate(() => document.querySelector('countscope-replay').comparison);
  const cli = JSON.parse(execFileSync(CLI, ['compare', '--json', '--model', a, '--model', b, rec], { encoding: 'utf8', maxBuffer: 1 << 28 }));
  // Counts and argmax-based numbers exactly; confidence-based ones to float rounding (logits agree to ~1e-6).
  for (const k of ['better', 'windows', 'disagreements', 'agreement', 'per_class']) assert.deepEqual(page_[k], cli[k], k);
  for (const k of ['windows', 'both_right', 'only_a_right', 'only_b_right', 'both_wrong', 'mcnemar_p', 'accuracy', 'within_pm1', 'mae', 'blocks']) assert.deepEqual(page_.paired[k], cli.paired[k], `paired ${k}`);
  assert.deepEqual(page_.findings.map((f) => f.code), cli.findings.map((f) => f.code));
  page_.models.forEach((m, i) => {
    assert.equal(m.name, cli.models[i].name);
    for (const k of ['accuracy', 'within_pm1', 'mae']) assert.equal(m.metrics[k], cli.models[i].metrics[k], `${m.name} ${k}`);
    for (const k of ['spearman', 'ece']) assert.ok(Math.abs(m.metrics[k] - cli.models[i].metrics[k]) < 1e-6, `${m.name} ${k}`);
    assert.deepEqual(m.uncertainty.accuracy, cli.models[i].uncertainty.accuracy, `${m.name} accuracy interval`);
  });
  assert.equal(page_.better, 'a', 'the sample model is better than its weakened copy');
  // What the page shows is those numbers.
  const shown = await page.evaluate(() => { const r = document.querySelector('countscope-replay').shadowRoot; return { verdict: r.querySelector('[data-compare=verdict]').innerText, visible: getComputedStyle(r.querySelector('canvas[data-plot=difference]')).display !== 'none', next: r.querySelector('button[data-act=next-wrong]').innerText, readout: r.querySelector('.readout').innerText }; });
  assert.equal(shown.verdict, 'A (count_v1.onnx) is better');
  assert.ok(shown.visible, 'the difference panel is shown');
  assert.equal(shown.next, 'differ ▶');
  assert.match(shown.readout, /B predicted/);
  // N and P jump between the windows where the two counts differ (computed here from the two columns).
  const differ = await page.evaluate(() => {
    const e = document.querySelector('countscope-replay');
    const [ca, cb] = [e.columns.count, e.columnsB.count];
    e.transport.seek(0);
    return [...ca.keys()].filter((i) => i > 0 && ca[i] !== cb[i]).slice(0, 3);
  });
  const seen = [];
  for (const key of ['n', 'n', 'n', 'p']) {
    await page.press(key);
    seen.push(await page.evaluate(() => document.querySelector('countscope-replay').cursor));
  }
  const jumps = { seen, differ };
  assert.deepEqual(jumps.seen, [...jumps.differ, jumps.differ[1]]);
  await page.screenshot(join(OUT, `two-models-${BROWSER}.png`), { fullPage: true });
  // The link names both models.
  await page.evaluate(() => document.querySelector('countscope-replay').shadowRoot.querySelector('button[data-act=link]').click());
  await page.waitForFunction(() => /model=count_v1\.onnx&model=count_v1_weakened\.onnx/.test(document.querySelector('countscope-replay').link ?? ''));
  await page.evaluate(() => history.replaceState(null, '', location.pathname));
  // One model dropped again: the single-model page.
  const back = await nextOutcome(page);
  await drop(page, [file(a)]);
  assert.equal((await back()).kind, 'replayed');
  assert.equal(await page.evaluate(() => document.querySelector('countscope-replay').comparison), null);
  assert.equal(await page.evaluate(() => document.querySelector('countscope-replay').shadowRoot.querySelector('button[data-act=next-wrong]').innerText), 'wrong ▶');
});

await check("RuView's real recorder file (*.csi.jsonl) dropped: framed per node as the CLI frames it, no SYNTHETIC badge", async () => {
  const rec = join(ROOT, '../shared/upstream/ruview-recordings/rec_1772470567081-20260302_165607.csi.jsonl');
  assert.ok(existsSync(rec), `${rec} must exist (../shared beside the checkout)`);
  const outcome = await nextOutcome(page);
  await drop(page, [file(rec)]);
  const got = await outcome();
  assert.equal(got.kind, 'replayed', JSON.stringify(got.detail));
  const report = await page.evaluate(() => document.querySelector('countscope-replay').report);
  const cli = cliReport(rec, join(ROOT, 'artifacts/count_v1.onnx'));
  assert.equal(report.windows, 11);
  assert.deepEqual(report.recording.framing, cli.recording.framing);
  assert.deepEqual(report.per_class.map((c) => c.predicted), cli.per_class.map((c) => c.predicted));
  assert.equal(report.labelled_windows, 0);
  assert.equal(await page.evaluate(() => document.querySelector('countscope-replay').shadowRoot.querySelector('.synthetic').hidden), true);
  assert.match(await shadow(page, '.framing'), /253 frames .* 11 window\(s\), 33 frame\(s\) left over, 1 gap\(s\)/);
  // Real and unlabelled, said; no empty truth plots.
  const shown = await page.evaluate(() => { const r = document.querySelector('countscope-replay').shadowRoot; const visible = (sel) => r.querySelector(sel).checkVisibility(); return { real: visible('.real'), note: visible('.no-truth'), confusion: visible('canvas[data-plot=confusion]'), nodes: visible('canvas[data-plot=nodes]') }; });
  // (One node, the recorder's: no per-node lanes, the timeline is that node's.)
  assert.deepEqual(shown, { real: true, note: true, confusion: false, nodes: false });
  // The hop control: 1 frame between windows, as RuView's cog slides (the CLI's --hop 1), then back.
  for (const [hop, windows] of [['1', 215], ['20', 11]]) {
    const again = await nextOutcome(page);
    await page.evaluate((hop) => { const s = document.querySelector('countscope-replay').shadowRoot.querySelector('.hop'); s.value = hop; s.dispatchEvent(new Event('change')); }, hop);
    assert.equal((await again()).kind, 'replayed');
    assert.equal(await page.evaluate(() => document.querySelector('countscope-replay').report.windows), windows, `hop ${hop}`);
  }
  // RuView's own model, dropped as published, on the raw ESP32 file: framed per node, as the CLI does.
  const up = join(ROOT, '../shared/upstream/ruview-count-v0.0.2');
  const raw = join(ROOT, '../shared/upstream/ruview-recordings/pretrain-1775182186.csi.jsonl');
  const rv = await nextOutcome(page);
  await drop(page, ['count_v1.onnx', 'count_v1.safetensors', 'count_v1.temperature'].map((f) => file(join(up, f))).concat([file(raw)]));
  assert.equal((await rv()).kind, 'replayed');
  const rvReport = await page.evaluate(() => document.querySelector('countscope-replay').report);
  const rvCli = cliReport(raw, join(up, 'count_v1.onnx'));
  assert.equal(rvReport.windows, 183);
  assert.deepEqual(rvReport.recording.framing, rvCli.recording.framing);
  assert.deepEqual(rvReport.per_class.map((c) => c.predicted), rvCli.per_class.map((c) => c.predicted));
  // Per node over time: a lane per node, drawn, each window's node as the CLI's CSV names it.
  const nodes = await page.evaluate(() => {
    const el = document.querySelector('countscope-replay');
    const canvas = el.shadowRoot.querySelector('canvas[data-plot=nodes]');
    const windows = {};
    for (const k of el.columns.node) windows[k] = (windows[k] ?? 0) + 1;
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set();
    for (let i = 0; i < px.length; i += 4) colours.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    return { lanes: el.plots.nodeLanes(), shown: canvas.checkVisibility(), windows, colours: colours.size, readout: el.shadowRoot.querySelector('.readout').textContent };
  });
  assert.deepEqual({ ...nodes, colours: nodes.colours > 3, readout: /node [12]/.test(nodes.readout) }, { lanes: 2, shown: true, windows: { 1: 93, 2: 90 }, colours: true, readout: true });
  const rvCsv = execFileSync(CLI, ['replay', '--format', 'csv', '--model', join(up, 'count_v1.onnx'), raw], { encoding: 'utf8' }).trimEnd().split('\n');
  const nodeAt = rvCsv[0].split(',').indexOf('node');
  assert.deepEqual([...await page.evaluate(() => [...document.querySelector('countscope-replay').columns.node])].map(String), rvCsv.slice(1).map((r) => r.split(',')[nodeAt]));
  // The copy shipped in artifacts/real/, as the first page offers it.
  const real = await browser.newPage({ width: 1280, height: 1200 });
  await real.goto(BASE);
  await real.waitForSelector('countscope-replay[state=ready]', { timeout: 120_000 });
  await real.click('a.real-sample');
  await real.waitForFunction(() => document.querySelector('countscope-replay')?.report?.windows === 11, null, { timeout: 120_000 });
  await real.close();
});

await check('the embed page runs two independent replays', async () => {
  const embed = await browser.newPage({ width: 1280, height: 1100 });
  await embed.goto(new URL('embed.html', BASE).href);
  await embed.waitForFunction(() => [...document.querySelectorAll('countscope-replay')].every((e) => e.getAttribute('state') === 'ready'), null, { timeout: 120_000 });
  const windows = await embed.evaluate(() => [...document.querySelectorAll('countscope-replay')].map((e) => e.report.windows));
  assert.deepEqual(windows, [2240, 747]);
  // The held-out replay opens at its `start` (5:00) and `view` (4:00-6:00) attributes.
  const opened = await embed.evaluate(() => {
    const e = document.querySelector('#held-out');
    const ts = e.columns.tsStart;
    const at = (s) => { let i = 0; while (i + 1 < ts.length && ts[i + 1] <= ts[0] + s) i++; return i; };
    return { cursor: e.cursor, zoom: e.transport.zoom, expected: { cursor: at(300), zoom: [at(240), at(360) + 1] }, start: e.getAttribute('start') };
  });
  assert.equal(opened.start, '5:00');
  assert.deepEqual({ cursor: opened.cursor, zoom: opened.zoom }, opened.expected);
  await embed.click('#held-out');
  await embed.press('End');
  await embed.waitForFunction(() => document.querySelector('#held-out').shadowRoot.querySelector('.readout b').innerText === 'window 747 / 747');
  await embed.sleep(100);
  const readouts = await embed.evaluate(() => [...document.querySelectorAll('countscope-replay')].map((e) => e.shadowRoot.querySelector('.readout b').innerText));
  assert.deepEqual(readouts, ['window 1 / 2240', 'window 747 / 747'], 'the key moved only the focused replay');
  // Changing `start` moves the cursor without a new replay.
  await embed.evaluate(() => document.querySelector('#held-out').setAttribute('start', '10'));
  await embed.waitForFunction(() => document.querySelector('#held-out').cursor === 9);
  await embed.screenshot(join(OUT, `embed-${BROWSER}.png`), { fullPage: true });
  await embed.close();
});

// A measurement, not a check: a long recording (e.g. a simulated 24 hours) opened through the file picker,
// so the page reads a disk-backed File by streaming. Run with COUNTSCOPE_E2E_LONG=path/to/recording.
// Chromium only: it reads the heap through CDP and picks the file through playwright's file chooser.
if (process.env.COUNTSCOPE_E2E_LONG && BROWSER === 'chromium') await check(`long recording ${basename(process.env.COUNTSCOPE_E2E_LONG)}: time to full plot and memory`, async () => {
  const cdp = await page.raw.context().newCDPSession(page.raw);
  await cdp.send('Performance.enable');
  const outcome = await nextOutcome(page);
  let peakHeap = 0;
  const poll = setInterval(async () => {
    const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0).catch(() => 0);
    peakHeap = Math.max(peakHeap, heap);
  }, 250);
  const input = await page.raw.evaluateHandle(() => document.querySelector('countscope-replay').shadowRoot.querySelector('input[type=file]'));
  // First: Cancel stops a long read and keeps what was loaded before.
  const before = await page.evaluate(() => document.querySelector('countscope-replay').report.windows);
  await input.asElement().setInputFiles(process.env.COUNTSCOPE_E2E_LONG);
  await page.waitForFunction(() => /windows/.test(document.querySelector('countscope-replay').shadowRoot.querySelector('.progress span').innerText));
  await page.evaluate(() => document.querySelector('countscope-replay').shadowRoot.querySelector('button[data-act=cancel]').click());
  await page.waitForSelector('countscope-replay[state=ready]');
  assert.equal(await page.evaluate(() => document.querySelector('countscope-replay').report.windows), before);
  assert.equal(await messages(page), '');
  await input.asElement().setInputFiles([]);
  const t0 = Date.now();
  await input.asElement().setInputFiles(process.env.COUNTSCOPE_E2E_LONG);
  const got = await outcome();
  clearInterval(poll);
  assert.equal(got.kind, 'replayed', JSON.stringify(got.detail));
  const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  timings.long = {
    file: basename(process.env.COUNTSCOPE_E2E_LONG),
    windows: got.detail.report.windows,
    drop_to_plotted_ms: Date.now() - t0,
    in_page: got.detail.timing,
    main_js_heap_peak_mb: peakHeap / 1e6,
    main_js_heap_total_mb: metrics.JSHeapTotalSize / 1e6,
  };
  await page.screenshot(join(OUT, `long-${BROWSER}.png`), { fullPage: true });
});

await check('a ?recording= URL on another origin is refused with a reason', async () => {
  const other = await browser.newPage();
  const errorsBefore = browser.errors.length;
  await other.goto(new URL('?recording=http://example.invalid/r.jsonl', BASE).href);
  await other.waitForFunction(() => /only from its own origin/.test(document.querySelector('countscope-replay')?.shadowRoot.querySelector('.messages').innerText ?? ''), null, { timeout: 60_000 });
  await other.close();
  assert.deepEqual(browser.errors.slice(errorsBefore), []);
});

await check('no page errors or console errors, nothing fetched off the origin', async () => {
  // The listeners hear: a console error of our own arrives (then is set aside), and the page's own requests were seen.
  await page.evaluate(() => console.error('countscope-e2e: the listener hears this'));
  await page.sleep(300);
  const own = browser.errors.findIndex((e) => e.includes('countscope-e2e: the listener hears this'));
  assert.ok(own >= 0, `the console listener heard nothing: ${JSON.stringify(browser.errors)}`);
  browser.errors.splice(own, 1);
  assert.ok(browser.requests.some((url) => url.endsWith('/pkg/countscope.js')), 'the request listener heard the page');
  assert.deepEqual(browser.errors, []);
  assert.deepEqual(browser.requests.filter((url) => !url.startsWith(BASE) && !/^(data|blob):/.test(url)), []);
});

await browser.close();
writeFileSync(join(OUT, `timings-${BROWSER}.json`), JSON.stringify(timings, null, 2));
console.log(`timings (${BROWSER}): ${JSON.stringify(timings)}\nscreenshots: ${join(OUT, `page-${BROWSER}.png`)}, ${join(OUT, `embed-${BROWSER}.png`)}`);
if (failures) {
  console.log(`${failures} end-to-end check(s) failed in ${BROWSER}`);
  process.exit(1);
}
