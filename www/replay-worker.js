// The replay worker: loads a model and streams a recording through the wasm engine off the main thread,
// so the page stays responsive however large the file. It never holds the whole recording: chunks from
// File.stream() or fetch() go straight into Session.push and are dropped.
//
// Messages in:  {type: 'init', module: WebAssembly.Module} (first; the page compiled it once)
//               {id, type: 'model', onnx, external: {name: Uint8Array}, temperature: string|null}
//               {id, type: 'replay', source: File|Blob|string(URL), layout}
//               {id, type: 'report', targets, crossRoom}
//               {id, type: 'window', index}
//               {type: 'cancel'} (stops the replay in progress; what was loaded before stays)
// Messages out: {id, type: 'progress', windows, bytes, total, skipped}
//               {id, type: 'done', ...result} | {id, type: 'error', message}

import init, { Model, Session } from './pkg/countscope.js';

// The page sends the compiled module first ({type: 'init', module}); requests that arrive before it wait.
let start;
const ready = new Promise((resolve) => { start = resolve; });
let model = null;
let replayed = null;
// The replay in progress: a newer replay or a cancel stops the older one at its next chunk.
let active = 0;

class Stopped extends Error {}

async function loadModel({ onnx, external, temperature }) {
  const next = new Model(onnx, external ?? {}, temperature ?? undefined);
  model?.free();
  model = next;
  return { info: model.info(), calibration: model.calibrationText(), batch: model.batchSize() };
}

async function openSource(source) {
  if (typeof source === 'string') {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`cannot fetch ${source}: HTTP ${response.status}`);
    const total = Number(response.headers.get('content-length')) || null;
    return { stream: response.body, total, name: source.split('/').pop() };
  }
  return { stream: source.stream(), total: source.size, name: source.name ?? 'recording' };
}

async function replay(id, { source, layout, targets, crossRoom }) {
  if (!model) throw new Error('no model loaded');
  const started = performance.now();
  const { stream, total, name } = await openSource(source);
  const session = new Session(model, layout || undefined, true);
  const reader = stream.getReader();
  let lastPost = 0;
  active = id;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (active !== id) {
        reader.cancel().catch(() => {});
        throw new Stopped('stopped: a newer replay or a cancel');
      }
      if (done) break;
      session.push(value);
      const now = performance.now();
      if (now - lastPost > 100) {
        lastPost = now;
        postMessage({ id, type: 'progress', windows: session.windows(), bytes: session.bytesRead(), total, skipped: session.skippedLines() });
        // A file's chunks can arrive as microtasks only: yield a task so a cancel (or a newer load) is seen.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
  } catch (e) {
    session.free();
    throw e;
  }
  postMessage({ id, type: 'progress', windows: session.windows(), bytes: session.bytesRead(), total, skipped: session.skippedLines() });
  const result = session.finish();
  const { report, text: reportText } = result.reportWithText(targets || undefined, !!crossRoom);
  if (result.isEmpty()) {
    result.free();
    const bad = report.bad_lines.slice(0, 5).map((b) => `line ${b.line}: ${b.reason}`);
    const more = report.skipped_lines > bad.length ? ` (and ${report.skipped_lines - bad.length} more)` : '';
    throw new Error(`${name}: no usable window — ${report.skipped_lines} line(s) skipped${bad.length ? ': ' + bad.join('; ') + more : ''}${report.recording.stream_error ? '; ' + report.recording.stream_error : ''}`);
  }
  replayed?.free();
  replayed = result;
  const columns = {
    line: result.line(), tsStart: result.tsStart(), tsEnd: result.tsEnd(), truth: result.truth(),
    count: result.count(), confidence: result.confidence(), p95Low: result.p95Low(), p95High: result.p95High(),
    probs: result.probs(), countLogits: result.countLogits(), confLogit: result.confLogit(),
  };
  const transfer = Object.values(columns).map((a) => a.buffer);
  const memory = { windows: result.windowBytes() };
  return [{ name, columns, report, reportText, seconds: (performance.now() - started) / 1000, memory }, transfer];
}

onmessage = async ({ data }) => {
  const { id, type } = data;
  if (type === 'init') {
    start(init({ module_or_path: data.module }));
    return;
  }
  try {
    const wasm = await ready;
    let result, transfer = [];
    if (type === 'cancel') { active = 0; return; }
    if (type === 'model') result = await loadModel(data);
    else if (type === 'replay') [result, transfer] = await replay(id, data);
    else if (type === 'report') {
      if (!replayed) throw new Error('nothing replayed yet');
      const { report, text } = replayed.reportWithText(data.targets || undefined, !!data.crossRoom);
      result = { report, reportText: text };
    } else if (type === 'window') {
      const w = replayed?.window(data.index);
      result = { window: w ?? null };
      if (w) transfer = [w.buffer];
    } else throw new Error(`unknown request ${type}`);
    if (result && type === 'replay') result.memory.wasm = wasm.memory.buffer.byteLength;
    postMessage({ id, type: 'done', ...result }, transfer);
  } catch (e) {
    postMessage({ id, type: 'error', message: e?.message ?? String(e), stopped: e instanceof Stopped });
  }
};
