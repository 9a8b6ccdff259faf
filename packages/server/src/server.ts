import { buildApp } from './app.ts';
import type { Config } from './config.ts';
import { createDeps } from './deps.ts';
import { seedDemoCatalog } from './demo/seed.ts';
import { ensureAdminAccount } from './services/accounts.ts';

/**
 * Opens the store (migrating it), seeds the demo catalogs, creates the configured admin, listens,
 * and shuts down gracefully on SIGTERM/SIGINT: stop accepting, finish in-flight calls, flush usage.
 */
export async function startServer(config: Config): Promise<{ close(): Promise<void>; url: string }> {
  const deps = await createDeps(config);
  if (config.seedDemo) await seedDemoCatalog(deps.repos);
  const tollgate = await buildApp({ config, deps });
  const { app } = tollgate;
  if (config.adminEmail && config.adminPassword) {
    await ensureAdminAccount(deps.repos, config.adminEmail, config.adminPassword);
  }
  const address = await app.listen({ port: config.port, host: config.host });
  const url = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');
  app.log.info(`Tollgate is listening on ${url} (database: ${deps.database.kind}) — API reference at ${url}/docs`);

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      await app.close();
      await deps.close();
    })();
    return closing;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // A signal can arrive twice (to the process group and relayed by a wrapper): shut down once.
    if (closing) return;
    app.log.info(`${signal} received: shutting down`);
    const timer = setTimeout(() => {
      app.log.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000);
    timer.unref();
    close().then(
      () => process.exit(0),
      (error) => {
        app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return { close, url };
}
