// The typed component (countscope:check) from Node, through jco: the interface is not wasmtime's alone.
//
//   COUNTSCOPE_COMPONENT=countscope-check.wasm node tests/jco/report.mjs MODEL REC        # = countscope report --json
//   COUNTSCOPE_COMPONENT=countscope-check.wasm node tests/jco/report.mjs MODEL SET.toml   # = countscope evaluate --json
//
// A server author's recipe, as the Rust host's (host/src/main.rs): transpile once (jco-transpile, cached
// under target/jco/ by the component's size and mtime), instantiate with WASI imports that grant nothing
// (no preopened directory, no environment), read the files here and pass bytes in 1 MiB chunks. The
// records come back as plain objects (u64 as BigInt); the exit code is read from the typed record, and the
// JSON is the component's `report-json` / `evaluation-json` of the record handed back.

import { readFile, stat, mkdir, writeFile, open, readdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const CHUNK = 1 << 20;
const here = dirname(fileURLToPath(import.meta.url));

function fail(message) {
  process.stderr.write(`countscope-jco: ${message}\n`);
  process.exit(2);
}

async function transpiled(component) {
  const { size, mtimeMs } = await stat(component);
  const out = resolve(here, '../../target/jco', `${size}-${Math.floor(mtimeMs)}`);
  const entry = join(out, 'countscope-check.js');
  try {
    await stat(entry);
  } catch {
    const { transpile } = await import('@bytecodealliance/jco-transpile');
    const { files } = await transpile(component, {
      name: 'countscope-check',
      instantiation: 'async',
      outDir: out,
    });
    for (const [path, bytes] of Object.entries(files)) {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, bytes);
    }
  }
  return { out, entry };
}

/** WASI for a component that needs none of it: stdio, clocks and random from the shim; no directory, no
 * environment, no arguments. Keyed as jco's instantiation asks (`wasi:cli/environment`, …). */
async function imports() {
  const shim = await import('@bytecodealliance/preview2-shim');
  const camel = (s) => s.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  const granted = {
    'wasi:cli/environment': { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined },
    'wasi:filesystem/preopens': { getDirectories: () => [] },
  };
  return new Proxy(
    {},
    {
      get(_, key) {
        if (typeof key !== 'string') return undefined;
        if (key in granted) return granted[key];
        const [pkg, iface] = key.replace(/^wasi:/, '').split('/');
        return shim[pkg]?.[camel(iface)];
      },
    },
  );
}

/** A file's bytes, chunk by chunk. */
async function* chunks(path) {
  const file = await open(path);
  try {
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const { bytesRead } = await file.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) return;
      yield new Uint8Array(buf.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
}

/** The files beside a model that may belong to it (as host/src/main.rs picks them). */
async function companions(model) {
  const name = basename(model);
  const stem = name.split('.')[0];
  const out = [];
  for (const n of (await readdir(dirname(model))).sort()) {
    if (n !== name && (n.startsWith(`${stem}.`) || n.endsWith('.data') || n.endsWith('.bin'))) {
      try {
        out.push([n, new Uint8Array(await readFile(join(dirname(model), n)))]);
      } catch {
        // a directory, or unreadable: not a companion
      }
    }
  }
  return out;
}

/** A component call's typed refusal: jco throws the `result`'s error variant (`{ tag, val }`), wrapped
 * in a `ComponentError` (as `payload`) by some versions. Anything else is a failure of its own. */
function refused(e) {
  const p = e?.payload ?? e;
  if (p && typeof p.tag === 'string') {
    const val = p.val === undefined ? '' : `: ${JSON.stringify(p.val, (_, v) => (typeof v === 'bigint' ? Number(v) : v))}`;
    fail(`refused: ${p.tag}${val}`);
  }
  throw e;
}

const [modelPath, input] = process.argv.slice(2);
if (!modelPath || !input) fail('usage: node tests/jco/report.mjs MODEL (REC | SET.toml)');
const component = process.env.COUNTSCOPE_COMPONENT;
if (!component) fail('set COUNTSCOPE_COMPONENT to the countscope:check component (cargo xtask test builds it)');

const { out, entry } = await transpiled(component);
const { instantiate } = await import(pathToFileURL(entry).href);
const instance = await instantiate(
  async (name) => WebAssembly.compile(await readFile(join(out, name))),
  await imports(),
);
const check = instance.check ?? instance['countscope:check/check@0.1.0'];

const options = { layout: 'labelled', hop: 20, strict: false, normaliseRecording: false };
const gates = { targets: 'v0.1.0', extraGates: [], crossRoom: false };

let model;
try {
  model = check.Model.load(basename(modelPath), new Uint8Array(await readFile(modelPath)), await companions(modelPath), undefined);
} catch (e) {
  refused(e);
}

let passed;
let json;
try {
  if (input.endsWith('.toml')) {
    const entries = check.parseManifest(await readFile(input, 'utf8'));
    const evaluator = new check.Evaluator(model, options, gates);
    for (const e of entries) {
      evaluator.begin(e);
      for await (const c of chunks(join(dirname(input), e.path))) evaluator.push(c);
      evaluator.end();
    }
    const evaluation = evaluator.finish();
    passed = evaluation.gatesPassed;
    json = check.evaluationJson(evaluation);
  } else {
    const session = model.session(options);
    for await (const c of chunks(input)) session.push(c);
    const report = session.finish(gates);
    passed = report.gatesPassed;
    json = check.reportJson(report);
  }
} catch (e) {
  refused(e);
}
process.stdout.write(`${json}\n`);
process.exit(passed ? 0 : 1);
