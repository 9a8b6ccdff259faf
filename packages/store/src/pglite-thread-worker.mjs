// @ts-check
/*
 * The embedded database's own thread (started by `PgliteThread`, pglite-thread.ts): PGlite runs
 * its statements here, so that writing usage, jobs and bills does not stop the serving thread.
 * Requests are handled one at a time, in the order they came: the session is one, and the other
 * side sends a transaction's statements with nothing between them.
 * Plain JavaScript: a worker thread does not inherit the parent's TypeScript loader, and
 * registering tsx here took ~0.5 s of every database's start (the webhook sender's threads,
 * which run the project's TypeScript, do register it).
 */
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, types } from '@electric-sql/pglite';

/** @typedef {import('./pglite-thread.ts').ThreadRequest} ThreadRequest */
/** @typedef {import('./pglite-thread.ts').ThreadReply} ThreadReply */

if (!parentPort) throw new Error('pglite-thread-worker runs as a worker thread');
const port = parentPort;

/** Date and time values stay PostgreSQL's text: drizzle parses them itself. */
const keepText = (/** @type {string} */ value) => value;
const parsers = { [types.TIMESTAMP]: keepText, [types.TIMESTAMPTZ]: keepText, [types.INTERVAL]: keepText, [types.DATE]: keepText };

const { dataDir } = /** @type {{ dataDir?: string }} */ (workerData ?? {});

/**
 * This thread runs below the serving thread's priority (Linux: a thread's own nice value, 10
 * above the process's), so that where the two share a core the kernel lets calls go first and the
 * database's work (the usage write, mostly) fill the gaps between them: at a fixed 25,000 req/s
 * on one core the gateway's p99 fell from 4.9 to 4.1 ms (docs/benchmarks.md), with the same CPU
 * a call. Contended, it still gets ~10 % of the core (nice 10 against 0), more than the usage
 * write takes with few keys; with many keys a saturated core serves calls first and their usage
 * waits in the writer's buffer: 100,000 keys, 90 s saturated on one core, up to ~250,000 records
 * (7 s of calls) at a minute's end, written within the next 10 s, none dropped, and 8 % more
 * calls served than at the process's priority. A serving process also puts the thread at idle
 * priority while it keeps up (`BackgroundPriority`, background-priority.ts): this nice value is
 * its priority while it does not.
 */
const NICER_BY = 10;
/** This thread's id in the kernel (Linux), for the parent to set its scheduling policy; null elsewhere. */
/** @type {number | null} */
let threadId = null;
try {
  threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
  os.setPriority(threadId, Math.min(19, os.getPriority(threadId) + NICER_BY));
} catch {
  // Not Linux (no /proc/thread-self), or not allowed: the thread keeps the process's priority.
}

const client = new PGlite({ ...(dataDir ? { dataDir } : {}), parsers });

/**
 * An error as data: an Error crosses threads with its message only, and the store reads
 * PostgreSQL's fields (`code`, `constraint`, …). PGlite's file system throws objects that are no
 * Error, with a name and an errno only.
 * @param {unknown} error
 */
function errorData(error) {
  if (typeof error !== 'object' || error === null) return { message: String(error) };
  /** @type {Record<string, string | number | boolean>} */
  const fields = {};
  for (const [name, value] of Object.entries(error)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[name] = value;
  }
  if (error instanceof Error) {
    fields.name = error.name;
    fields.message = error.message;
  } else if (typeof fields.message !== 'string') {
    fields.message = `${fields.name ?? 'error'}${fields.errno === undefined ? '' : ` (errno ${fields.errno})`}`;
  }
  return fields;
}

/** @param {ThreadRequest} request */
async function handle(request) {
  switch (request.op) {
    case 'query':
      return client.query(request.text, request.params, request.rowMode ? { rowMode: request.rowMode } : undefined);
    case 'exec':
      return client.exec(request.text);
    case 'close':
      await client.close();
      return null;
  }
}

const reply = (/** @type {ThreadReply} */ message) => port.postMessage(message);

// Id 0 answers the start: PGlite ready, its folder opened or created.
let queue = client.waitReady.then(
  () => reply({ id: 0, result: threadId }),
  (error) => reply({ id: 0, error: errorData(error) }),
);

port.on('message', (/** @type {ThreadRequest & { id: number }} */ request) => {
  queue = queue.then(async () => {
    try {
      reply({ id: request.id, result: await handle(request) });
    } catch (error) {
      reply({ id: request.id, error: errorData(error) });
    }
    if (request.op === 'close') port.close();
  });
});
