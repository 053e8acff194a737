// The replay worker. The protocol and all of its handling are Rust's (src/web/worker.rs, ReplayWorker):
// this script instantiates the module the page compiled once, then hands every message to the dispatcher
// and posts what it answers (progress, the result, or the error), with the buffers it names transferred.
import init, { ReplayWorker } from './pkg/countscope.js';

let start;
const worker = new Promise((resolve) => { start = resolve; });

onmessage = async ({ data }) => {
  if (data?.init) {
    start(init({ module_or_path: data.init }).then(() => new ReplayWorker()));
    return;
  }
  (await worker).handle(data, (message, transfer) => postMessage(message, transfer));
};
