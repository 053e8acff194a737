// The replay worker: loads a model and streams a recording through the wasm engine off the main thread,
// so the page stays responsive however large the file. It never holds the whole recording: chunks from
// File.stream() or fetch() go straight into Session.push and are dropped.
//
// The page runs one worker per core on a replay: every worker reads all the bytes (parsing is cheap) and
// runs its share of the batches through the model (inference is not); the helpers hand their columns to
// the primary worker (through the page), which merges them into one replay (Replayed.mergeShard).
//
// Messages in:  {type: 'init', module: WebAssembly.Module} (first; the page compiled it once)
//               {id, type: 'model', bytes, options} (the Model constructor's options object: name, external,
//                weights, weightsName, sidecar {name, text}; the core ranks the temperature sources)
//               {id, type: 'replay', source: File|Blob|string(URL), layout, normalise, targets, crossRoom, shards}
//                 (the primary: shard 0 of `shards`; it waits for shards-1 'merge' messages;
//                 normalise 'recording' reads the source once more first, for its statistics)
//               {id, type: 'shard', source, layout, normalise, shard, shards} (a helper: its columns come back)
//               {type: 'merge', replay: id, columns | error} (a helper's result, for the primary's replay id)
//               {id, type: 'report', targets, crossRoom}
//               {id, type: 'window', index}
//               {type: 'cancel'} (stops the replay in progress; what was loaded before stays)
// Messages out: {id, type: 'progress', windows, bytes, total, skipped}
//               {id, type: 'done', ...result} | {id, type: 'error', message}

import init, { InputScan, Model, Session } from './pkg/countscope.js';

// The page sends the compiled module first ({type: 'init', module}); requests that arrive before it wait.
let start;
const ready = new Promise((resolve) => { start = resolve; });
let model = null;
let replayed = null;
// The replay in progress: a newer replay or a cancel stops the older one at its next chunk.
let active = 0;

class Stopped extends Error {}

async function loadModel({ bytes, options }) {
  const next = new Model(bytes, options);
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

// Helpers' results for the primary's replays, by replay id: {got: [columns], waiting: resolver}.
const merges = new Map();

function mergeSlot(id) {
  if (!merges.has(id)) merges.set(id, { got: [], error: null, wake: null });
  return merges.get(id);
}

/** The other shards' columns, once all `count` have arrived (or the first failure, or a stop). */
async function otherShards(id, count) {
  const slot = mergeSlot(id);
  try {
    for (;;) {
      if (slot.error) throw new Error(slot.error);
      if (active !== id) throw new Stopped('stopped: a newer replay or a cancel');
      if (slot.got.length >= count) return slot.got;
      await new Promise((resolve) => { slot.wake = resolve; });
    }
  } finally {
    merges.delete(id);
  }
}

/** Stream `source` through `session`, posting progress; throws Stopped when a newer replay or a cancel
 *  takes over. */
async function pump(id, session, source, reportProgress) {
  const { stream, total, name } = await openSource(source);
  const reader = stream.getReader();
  let lastPost = 0;
  active = id;
  // An older replay still waiting for its helpers is over: wake it so it sees that and stops.
  for (const [other, slot] of merges) if (other !== id) slot.wake?.();
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
        if (reportProgress) postMessage({ id, type: 'progress', windows: session.windowsRead(), bytes: session.bytesRead(), total, skipped: session.skippedLines() });
        // A file's chunks can arrive as microtasks only: yield a task so a cancel (or a newer load) is seen.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
  } catch (e) {
    session.free();
    throw e;
  }
  if (reportProgress) postMessage({ id, type: 'progress', windows: session.windowsRead(), bytes: session.bytesRead(), total, skipped: session.skippedLines() });
  return name;
}

/** The session for a replay: on the loaded model, or (normalise 'recording') on a copy z-scoring with the
 *  source's own statistics, read in a first pass over the whole source. */
async function openSession(id, source, layout, normalise, keepWindows, shard, shards) {
  if (!model) throw new Error('no model loaded');
  if (normalise !== 'recording') return new Session(model, layout || undefined, keepWindows, shard, shards);
  active = id;
  const scan = new InputScan(layout || undefined);
  const { stream } = await openSource(source);
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (active !== id) {
      reader.cancel().catch(() => {});
      scan.free();
      throw new Stopped('stopped: a newer replay or a cancel');
    }
    if (done) break;
    scan.push(value);
  }
  const normalised = model.normalisedBy(scan);
  try {
    return new Session(normalised, layout || undefined, keepWindows, shard, shards);
  } finally {
    normalised.free(); // the session keeps its own reference
  }
}

/** A helper's share: its columns, for the primary to merge. */
async function replayShard(id, { source, layout, normalise, shard, shards }) {
  const session = await openSession(id, source, layout, normalise, false, shard, shards);
  await pump(id, session, source, false);
  const result = session.finish();
  try {
    const columns = {
      line: result.line(), tsStart: result.tsStart(), tsEnd: result.tsEnd(), truth: result.truth(),
      countLogits: result.countLogits(), confLogit: result.confLogit(),
    };
    return [{ columns }, Object.values(columns).map((a) => a.buffer)];
  } finally {
    result.free();
  }
}

async function replay(id, { source, layout, normalise, targets, crossRoom, shards = 1 }) {
  const started = performance.now();
  mergeSlot(id);
  let session;
  try {
    session = await openSession(id, source, layout, normalise, true, 0, shards);
  } catch (e) {
    merges.delete(id);
    throw e;
  }
  let name;
  try {
    name = await pump(id, session, source, true);
  } catch (e) {
    merges.delete(id);
    throw e;
  }
  const result = session.finish();
  try {
    for (const c of shards > 1 ? await otherShards(id, shards - 1) : []) {
      result.mergeShard(c.line, c.tsStart, c.tsEnd, c.truth, c.countLogits, c.confLogit);
    }
  } catch (e) {
    result.free();
    throw e;
  }
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
    if (type === 'cancel') {
      active = 0;
      for (const slot of merges.values()) slot.wake?.();
      return;
    }
    if (type === 'merge') {
      // A helper's result for a replay that is no longer waiting (stopped, failed) is dropped.
      const slot = merges.get(data.replay);
      if (!slot) return;
      if (data.error) slot.error = data.error;
      else slot.got.push(data.columns);
      slot.wake?.();
      return;
    }
    if (type === 'model') result = await loadModel(data);
    else if (type === 'replay') [result, transfer] = await replay(id, data);
    else if (type === 'shard') [result, transfer] = await replayShard(id, data);
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
    if (result && type === 'shard') result.wasm = wasm.memory.buffer.byteLength;
    postMessage({ id, type: 'done', ...result }, transfer);
  } catch (e) {
    postMessage({ id, type: 'error', message: e?.message ?? String(e), stopped: e instanceof Stopped });
  }
};
