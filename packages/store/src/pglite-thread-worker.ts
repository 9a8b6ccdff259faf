/*
 * The embedded database's own thread (started by `PgliteThread`, pglite-thread.ts): PGlite runs
 * its statements here, so that writing usage, jobs and bills does not stop the serving thread.
 * Requests are handled one at a time, in the order they came: the session is one, and the other
 * side sends a transaction's statements with nothing between them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, types } from '@electric-sql/pglite';
import type { ThreadReply, ThreadRequest } from './pglite-thread.ts';

if (!parentPort) throw new Error('pglite-thread-worker runs as a worker thread');
const port = parentPort;

/** Date and time values stay PostgreSQL's text: drizzle parses them itself. */
const keepText = (value: string) => value;
const parsers = { [types.TIMESTAMP]: keepText, [types.TIMESTAMPTZ]: keepText, [types.INTERVAL]: keepText, [types.DATE]: keepText };

const { dataDir } = (workerData ?? {}) as { dataDir?: string };
const client = new PGlite({ ...(dataDir ? { dataDir } : {}), parsers });

/**
 * An error as data: an Error crosses threads with its message only, and the store reads
 * PostgreSQL's fields (`code`, `constraint`, …). PGlite's file system throws objects that are no
 * Error, with a name and an errno only.
 */
function errorData(error: unknown): Record<string, string | number | boolean> {
  if (typeof error !== 'object' || error === null) return { message: String(error) };
  const fields: Record<string, string | number | boolean> = {};
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

async function handle(request: ThreadRequest): Promise<unknown> {
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

const reply = (message: ThreadReply) => port.postMessage(message);

// Id 0 answers the start: PGlite ready, its folder opened or created.
let queue: Promise<void> = client.waitReady.then(
  () => reply({ id: 0, result: null }),
  (error: unknown) => reply({ id: 0, error: errorData(error) }),
);

port.on('message', (request: ThreadRequest & { id: number }) => {
  queue = queue.then(async () => {
    try {
      reply({ id: request.id, result: await handle(request) });
    } catch (error) {
      reply({ id: request.id, error: errorData(error) });
    }
    if (request.op === 'close') port.close();
  });
});
