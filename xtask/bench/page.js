// The in-page measurements of `cargo xtask bench`, exposed as `window.bench(options)` for bench.mjs.
// Both engines run on this thread, one call per batch, fed the same windows from the same typed arrays:
// countscope takes raw windows and normalises them itself (as in a replay), onnxruntime-web takes the
// windows countscope normalised (it knows nothing about the model's normalisation). Each engine's outputs
// are checked against countscope's native logits before they are timed.
import init, { Model, RecordingParser } from '/pkg/countscope.js';
import * as ort from '/bench/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.wasm.wasmPaths = '/bench/node_modules/onnxruntime-web/dist/';

const WINDOW = 56 * 20;
const CHUNK = 1 << 20;

function stats(v) {
  const s = [...v].sort((a, b) => a - b);
  return { median: s[s.length >> 1], min: s[0], max: s[s.length - 1], n: s.length };
}

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

const f32 = async (url) => new Float32Array((await fetchBytes(url)).buffer);

function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`output length ${a.length}, expected ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Time `fn` (async allowed) `repeat` times; returns µs per window. */
async function timeRuns(fn, repeat, n) {
  const us = [];
  for (let r = 0; r < repeat; r++) {
    const t = performance.now();
    await fn();
    us.push(((performance.now() - t) * 1000) / n);
  }
  return stats(us);
}

function countscopeRunner(model, raw, n, b) {
  return () => {
    const out = new Float32Array(n * 9);
    for (let i = 0; i < n; i += b) out.set(model.infer(raw.subarray(i * WINDOW, Math.min(n, i + b) * WINDOW)), i * 9);
    return out;
  };
}

function ortRunner(session, norm, n, b) {
  const [input] = session.inputNames;
  return async () => {
    const out = new Float32Array(n * 9);
    for (let i = 0; i < n; i += b) {
      const k = Math.min(b, n - i);
      const x = new ort.Tensor('float32', norm.subarray(i * WINDOW, (i + k) * WINDOW), [k, 56, 20]);
      const r = await session.run({ [input]: x });
      const count = r.count_logits.data, conf = r.conf_logits.data;
      for (let j = 0; j < k; j++) {
        out.set(count.subarray(j * 8, j * 8 + 8), (i + j) * 9);
        out[(i + j) * 9 + 8] = conf[j];
      }
      x.dispose?.();
      r.count_logits.dispose?.();
      r.conf_logits.dispose?.();
    }
    return out;
  };
}

function parseWithCountscope(bytes) {
  const p = new RecordingParser();
  try {
    for (let off = 0; off < bytes.length; off += CHUNK) p.push(bytes.subarray(off, off + CHUNK));
    return p.finish();
  } finally {
    p.free();
  }
}

/** The peer a page author would write: decode, split lines, JSON.parse each, build the window. */
function parseWithJson(bytes) {
  const dec = new TextDecoder();
  let carry = '', windows = 0;
  const line = (l) => {
    if (!l.trim()) return;
    const o = JSON.parse(l);
    const w = Float32Array.from(Array.isArray(o.csi[0]) ? o.csi.flat() : o.csi);
    if (w.length === WINDOW) windows++;
  };
  for (let off = 0; off < bytes.length; off += CHUNK) {
    const lines = (carry + dec.decode(bytes.subarray(off, off + CHUNK), { stream: true })).split('\n');
    carry = lines.pop();
    lines.forEach(line);
  }
  line(carry + dec.decode());
  return windows;
}

window.bench = async ({ batches, repeat, recording, module, peers }) => {
  const t0 = performance.now();
  const wasm = await init({ module_or_path: `/pkg/${module}` });
  const initMs = performance.now() - t0;
  const onnx = await fetchBytes('/artifacts/count_v1.onnx');
  const raw = await f32('/bench-data/windows.f32');
  const norm = await f32('/bench-data/windows-normalised.f32');
  const want = await f32('/bench-data/logits.f32');
  const n = raw.length / WINDOW;

  const loads = { countscope: [], ort: [] };
  let model, session;
  for (let r = 0; r < repeat; r++) {
    model?.free();
    let t = performance.now();
    model = new Model(onnx, {});
    loads.countscope.push(performance.now() - t);
    if (!peers) continue;
    await session?.release();
    t = performance.now();
    session = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    loads.ort.push(performance.now() - t);
  }

  const inference = [];
  for (const b of batches) {
    model.setBatchSize(b);
    const cs = countscopeRunner(model, raw, n, b);
    const or = peers ? ortRunner(session, norm, n, b) : null;
    const agreement = { countscope: maxAbsDiff(cs(), want), ort: or ? maxAbsDiff(await or(), want) : null };
    // Warm up for a second each: V8 compiles wasm with its baseline compiler first and moves hot functions
    // to the optimising one in the background; timing before that finishes measures the baseline.
    for (const run of [cs, or]) {
      const until = performance.now() + 1000;
      while (run && performance.now() < until) await run();
    }
    // Interleave the engines' repetitions so a noisy moment hurts both alike.
    const us = { countscope: [], ort: [] };
    for (let r = 0; r < repeat; r++) {
      us.countscope.push((await timeRuns(cs, 1, n)).median);
      if (or) us.ort.push((await timeRuns(or, 1, n)).median);
    }
    inference.push({ batch: b, countscope: stats(us.countscope), ort: or ? stats(us.ort) : null, max_abs_diff_vs_native: agreement });
  }
  if (!peers) {
    model.free();
    return { module, windows: n, pkg_init_ms: initMs, load_ms: { countscope: stats(loads.countscope) }, inference };
  }

  const bytes = await fetchBytes(recording);
  const expected = parseWithCountscope(bytes);
  const jsonWindows = parseWithJson(bytes);
  if (jsonWindows !== expected) throw new Error(`JSON.parse read ${jsonWindows} windows, countscope ${expected}`);
  const parseSecs = { countscope: [], json: [] };
  for (let r = 0; r < repeat; r++) {
    let t = performance.now();
    parseWithCountscope(bytes);
    parseSecs.countscope.push((performance.now() - t) / 1000);
    t = performance.now();
    parseWithJson(bytes);
    parseSecs.json.push((performance.now() - t) / 1000);
  }
  const rate = (secs, per) => stats(secs.map((s) => per / s));
  const parse = {
    bytes: bytes.length, windows: expected,
    countscope: { mb_per_s: rate(parseSecs.countscope, bytes.length / 1e6), windows_per_s: rate(parseSecs.countscope, expected) },
    json: { mb_per_s: rate(parseSecs.json, bytes.length / 1e6), windows_per_s: rate(parseSecs.json, expected) },
  };
  const result = {
    module, user_agent: navigator.userAgent, ort_version: ort.env.versions?.web ?? null, windows: n,
    pkg_init_ms: initMs, load_ms: { countscope: stats(loads.countscope), ort: stats(loads.ort) },
    inference, parse, wasm_memory_mb: wasm.memory.buffer.byteLength / 1e6,
  };
  model.free();
  await session.release();
  return result;
};
window.benchReady = true;
