// Loading: a model by URL (with the companions the core names fetched from beside it) or from dropped
// files, and a drop sorted by content (the core's fileKind). The bytes go to the workers; the rules are Rust's.
import { Model, fileKind } from '../pkg/countscope.js';
import { engine } from './engine.js';

/** `url` resolved against the page; refused unless it is the page's own origin. */
export function sameOrigin(what, url) {
  const u = new URL(url, location.href);
  if (u.origin !== location.origin) {
    throw new Error(`refusing the ${what} ${u.href}: this page fetches only from its own origin (${location.origin}); download the file and drop it instead`);
  }
  return u.href;
}

/** The answer to a GET of `url`, refused with a reason unless it is OK (`what` names it in the error). */
async function get(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`cannot fetch the ${what} ${url}: ${e.message}`);
  }
  if (!response.ok) throw new Error(`cannot fetch the ${what} ${url}: HTTP ${response.status}`);
  return response;
}

async function fetchBytes(url, what) {
  return new Uint8Array(await (await get(url, what)).arrayBuffer());
}

/** A recording by URL, fetched once by the page as a `File` named after the URL's last part: the workers
 *  then share it as they share a dropped file (a file of window lines split by bytes, each worker reading
 *  only its range) instead of each downloading and parsing all of it. `onProgress(bytes, total)` as it
 *  arrives (`total` null when the server does not say). */
export async function recordingFromUrl(url, onProgress) {
  const response = await get(url, 'recording');
  const total = Number(response.headers.get('content-length')) || null;
  const parts = [];
  let bytes = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read().catch((e) => { throw new Error(`cannot fetch the recording ${url}: ${e.message}`); });
    if (done) break;
    parts.push(value);
    bytes += value.byteLength;
    onProgress?.(bytes, total);
  }
  return new File(parts, new URL(url).pathname.split('/').pop() || 'recording');
}

/** A model by URL, with the companions it names fetched from beside it (or, when one is not there,
 *  `<stem>.safetensors` filling its weights: RuView publishes no `.onnx.data`), and the first `.temperature`
 *  sidecar the core names, looked for only when the model carries no temperature of its own. */
export async function modelFromUrl(url) {
  const bytes = await fetchBytes(url, 'model');
  const name = url.split('/').pop();
  await engine;
  const external = {};
  const weightsName = Model.weightsName(name);
  let weights = null;
  for (const file of Model.externalFiles(bytes)) {
    try {
      external[file] = await fetchBytes(new URL(file, url).href, 'model\'s external data');
    } catch (e) {
      weights ??= await fetchBytes(new URL(weightsName, url).href, 'model\'s weights').catch(() => { throw e; });
    }
  }
  let sidecar = null;
  for (const side of Model.sidecarNames(bytes, name)) {
    const answer = await fetch(new URL(side, url).href).catch(() => null);
    if (answer?.ok) { sidecar = { name: side, text: await answer.text() }; break; }
  }
  return { model: { bytes, options: { name, external, weights, weightsName: weights ? weightsName : null, sidecar } } };
}

/** A model from dropped files: its `.onnx.data` companions by the names it gives, its safetensors weights,
 *  its `.temperature`. */
export async function modelFromFiles({ model, data, temperature, weights }) {
  const bytes = new Uint8Array(await model.arrayBuffer());
  await engine;
  const external = {};
  for (const name of Model.externalFiles(bytes)) {
    const file = data[name] ?? Object.values(data).find((f) => f.name.endsWith(name.split('/').pop()));
    if (file) external[name] = new Uint8Array(await file.arrayBuffer());
  }
  const sidecar = temperature ? { name: temperature.name, text: await temperature.text() } : null;
  const weightBytes = weights ? new Uint8Array(await weights.arrayBuffer()) : null;
  return { model: { bytes, options: { name: model.name, external, weights: weightBytes, weightsName: weights?.name ?? null, sidecar } } };
}

/** Sort dropped files by what they contain (the core's rule). With an ONNX model a safetensors file is its
 *  weights; alone, it is the model (CountNet). Two models (ONNX, or CountNet safetensors files) are A and B,
 *  compared side by side; a third is refused. */
export async function classify(files) {
  await engine;
  const out = { recording: null, model: null, modelB: null, weights: null, data: {}, temperature: null, rejected: [], surplus: [] };
  const safetensors = [];
  const models = [];
  for (const f of files) {
    const kind = fileKind(new Uint8Array(await f.slice(0, 64).arrayBuffer()), f.name, f.size);
    if (kind === 'data') out.data[f.name] = f;
    else if (kind === 'safetensors') safetensors.push(f);
    else if (kind === 'model') models.push(f);
    else if (kind === 'unknown') out.rejected.push(f.name);
    else out[kind] = f;
  }
  if (models.length) out.weights = safetensors.shift() ?? null;
  else models.push(...safetensors.splice(0, 2));
  [out.model = null, out.modelB = null] = models;
  out.surplus = models.slice(2).map((f) => f.name);
  out.rejected.push(...safetensors.map((f) => f.name));
  return out;
}
