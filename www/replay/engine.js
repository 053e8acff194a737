// The engine: the build build.js picked and compiled, instantiated on the main thread, and the replay
// workers that speak the Rust-owned worker protocol (src/web/worker.rs: requests `{id, request}`, answers
// by `type`).
import init, { workerPlan } from '../pkg/countscope.js';
import { ENGINE, compiled } from './build.js';

export { ENGINE };

export const here = (path) => new URL(path, import.meta.url).href;

// The main thread's instance, for drawing.
export const engine = compiled.then((module) => init({ module_or_path: module }));

/** The page's replay workers: the first (primary) streams, merges and keeps the replay; the others
 *  (helpers) read their byte range, or infer their share of the batches. The primary starts at once;
 *  how many workers there are, and how many start before the first replay, is the core's `WorkerPlan`
 *  (src/pool.rs), asked once the main thread's instance is up (the helpers are sent the compiled
 *  module then anyway). The rest start at `grow()`. Every model loaded (`load`) is kept, so a helper
 *  that starts later loads the same models, in the same order, before anything else it is asked. */
export class Workers {
  /** `cores`: `navigator.hardwareConcurrency`; `asked`: the worker count as the page was given it (the
   *  `workers` attribute or `?workers=`), or null. */
  constructor(cores, asked, onError) {
    this.requests = new Map();
    this.nextId = 1;
    this.count = 1;
    this.onError = onError;
    this.models = [];
    this.all = [];
    this.spawn(1);
    // A failed engine leaves the primary alone (each worker's start, in spawn, reports it).
    this.planned = engine.then(() => {
      const plan = workerPlan(cores, asked);
      this.count = plan.count;
      this.spawn(plan.first);
    }, () => {});
  }

  /** Start workers up to `n`, each given the compiled module and then every model loaded so far. */
  spawn(n) {
    while (this.all.length < Math.min(n, this.count)) {
      const w = new Worker(here('../replay-worker.js'), { type: 'module' });
      w.onmessage = ({ data }) => this.answer(data);
      w.onerror = (e) => this.onError(`a replay worker failed: ${e.message ?? e}`);
      this.all.push(w);
      const models = [...this.models];
      compiled.then(
        (module) => {
          w.postMessage({ init: module });
          models.forEach((request) => this.ask(request, { worker: w }).catch((e) => this.onError(`a replay worker cannot load the model: ${e.message}`)));
        },
        (e) => this.onError(`cannot load the engine (${ENGINE} build): ${e.message}`),
      );
    }
    [this.primary] = this.all;
  }

  /** How many workers a replay beginning now shares its work between: those started, once the plan has
   *  started its first ones. */
  async started() {
    await this.planned;
    return this.all.length;
  }

  /** Every worker of the plan started (after a page's first replay). */
  grow() {
    this.planned.then(() => this.spawn(this.count));
  }

  /** Load a model request (`{ model: { …, slot } }`) in every worker started, and keep it for those that
   *  start later (slot `a` replaces both: it unloads `b`); the primary's answer. */
  async load(request) {
    const asked = this.all.length;
    const answer = await this.askAll(request);
    if (request.model.slot === 'b') this.models = [...this.models.filter((r) => r.model.slot !== 'b'), request];
    else this.models = [request];
    // A worker started while this loaded was given the models kept before it: this one follows.
    this.all.slice(asked).forEach((w) => this.ask(request, { worker: w }).catch((e) => this.onError(`a replay worker cannot load the model: ${e.message}`)));
    return answer;
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

  /** The same request to every worker started; the primary's answer. */
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
