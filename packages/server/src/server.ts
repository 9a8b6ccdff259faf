import pino from 'pino';
import { buildApp } from './app.ts';
import type { Config } from './config.ts';
import { createDeps } from './deps.ts';
import { seedDemoCatalog } from './demo/seed.ts';
import { ensureAdminAccount } from './services/accounts.ts';
import { startWorkers } from './workers.ts';

/**
 * Opens the store (migrating it), seeds the demo catalogs, creates the configured admin, listens,
 * and shuts down gracefully on SIGTERM/SIGINT: stop accepting, finish in-flight calls, flush usage.
 */
export async function startServer(config: Config): Promise<{ close(): Promise<void>; url: string }> {
  const log = pino({ level: config.logLevel });
  const deps = await createDeps(config, { log });
  if (config.seedDemo) await seedDemoCatalog(deps.repos);
  const { app } = await buildApp({ config, deps, log });
  if (config.adminEmail && config.adminPassword) {
    await ensureAdminAccount(deps.repos, config.adminEmail, config.adminPassword);
  }
  const workers = config.workers ? await startWorkers(config, deps, log) : null;
  const address = await app.listen({ port: config.port, host: config.host });
  const url = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');
  log.info(`Tollgate is listening on ${url} (database: ${deps.database.kind}${workers ? ', with background jobs' : ''}) — API reference at ${url}/docs`);

  const close = once(async () => {
    await app.close();
    await workers?.stop();
    await deps.close();
  });
  exitOnSignals(log, close);
  return { close, url };
}

/** `tollgate worker`: background jobs only, no HTTP; stops gracefully on SIGTERM like `serve`. */
export async function startWorker(config: Config): Promise<{ close(): Promise<void> }> {
  const log = pino({ level: config.logLevel });
  const deps = await createDeps(config, { log });
  const workers = await startWorkers(config, deps, log);
  log.info(`Tollgate worker running background jobs (database: ${deps.database.kind})`);
  const close = once(async () => {
    await workers.stop();
    await deps.close();
  });
  exitOnSignals(log, close);
  return { close };
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  return () => (running ??= fn());
}

/** SIGTERM/SIGINT: close once (a signal may arrive twice), exit 0 when done, 1 past 10 s. */
function exitOnSignals(log: { info(msg: string): void; error(obj: object | string, msg?: string): void }, close: () => Promise<void>): void {
  let received = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) return;
    received = true;
    log.info(`${signal} received: shutting down`);
    const timer = setTimeout(() => {
      log.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000);
    timer.unref();
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
