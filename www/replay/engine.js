// The engine: the build build.js picked and compiled, instantiated on the main thread, and the replay
// workers that speak the Rust-owned worker protocol (src/web/worker.rs: requests `{id, request}`, answers
// by `type`).
import init from '../pkg/countscope.js';
import { ENGINE, compiled } from './build.js';

export { ENGINE };

export const here = (path) => new URL(path, import.meta.url).href;

// The main thread's instance, for drawing.
export const engine = compiled.then((module) => init({ module_or_path: module }));

/** `count` replay workers: the first (primary) streams, merges and keeps the replay; the others
 *  (helpers) read their byte range, or infer their share of the batches. */
export class Workers {
  constructor(count, onError) {
    this.requests = new Map();
    this.nextId = 1;
    this.all = Array.from({ length: count }, () => {
      const w = new Worker(here('../replay-worker.js'), { type: 'module' });
      w.onmessage = ({ data }) => this.answer(data);
      w.onerror = (e) => onError(`a replay worker failed: ${e.message ?? e}`);
      return w;
    });
    [this.primary, ...this.helpers] = this.all;
    compiled.then(
      (module) => this.all.forEach((w) => w.postMessage({ init: module })),
      (e) => onError(`cannot load the engine (${ENGINE} build): ${e.message}`),
    );
  }

  /** Send `request` ({name: fields} or a bare name); resolves with the answer, rejects with its error.
   *  Before it, a replay posts progress (`onProgress`) and its columns (`onColumns`). */
  ask(request, { onProgress, onColumns, worker = this.primary } = {}) {
    const id = this.nextId++;
    const answer = new Promise((resolve, reject) => {
      this.requests.set(id, { resolve, reject, onProgress, onColumns });
      worker.postMessage({ id, request });
    });
    answer.id = id;
    return answer;
  }

  /** The same request to every worker; the primary's answer. */
  async askAll(request) {
    const [answer] = await Promise.all(this.all.map((worker) => this.ask(request, { worker })));
    return answer;
  }

  /** Kept window `index` of the last replay (a Float32Array), or null: the primary answers it or names
   *  the helper that holds it (a file split by bytes leaves each range's windows with its worker). */
  async window(index) {
    const here = await this.ask({ window: { index } });
    if (!here.heldBy) return here.window;
    const { shard, index: there } = here.heldBy;
    return (await this.ask({ window: { index: there } }, { worker: this.all[shard] })).window;
  }

  /** A message that is not answered (merge, cancel). */
  tell(request, transfer = [], worker = this.primary) {
    worker.postMessage({ request }, transfer);
  }

  answer(data) {
    const r = this.requests.get(data.id);
    if (!r) return;
    if (data.type === 'progress') return r.onProgress?.(data);
    if (data.type === 'columns') return r.onColumns?.(data);
    this.requests.delete(data.id);
    if (data.type === 'error') r.reject(Object.assign(new Error(data.message), { stopped: data.stopped }));
    else r.resolve(data);
  }

  terminate() {
    this.all.forEach((w) => w.terminate());
  }
}

/** Every typed array's buffer in the values given (objects and arrays walked), once each: to transfer
 *  an answer on without copying it. */
export function buffers(...values) {
  const found = new Set();
  const walk = (v) => {
    if (ArrayBuffer.isView(v)) found.add(v.buffer);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  values.forEach(walk);
  return [...found];
}
