import { parseArgs } from 'node:util';
import { runBillingCycle } from '@tollgate/jobs';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createDeps } from './deps.ts';
import { startServer, startWorker } from './server.ts';
import { ensureAdminAccount } from './services/accounts.ts';

const USAGE = `Usage: tollgate <command> [options]

Commands:
  serve                                   run the server and its background jobs (the default; what npm start does;
                                          WORKERS=false leaves the jobs to \`tollgate worker\`)
  worker                                  run only the background jobs (distributed mode: scale apart)
  migrate                                 apply database migrations and exit
  create-admin --email E --password P     create an administrator, or promote an existing account
  billing run [--as-of ISO-TIME]          run the monthly billing cycle for the month containing the time
                                          (default now), printing progress; running it again creates nothing
  billing runs                            list billing runs and their progress

Configuration comes from the environment (see the README).`;

async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  const config = loadConfig(process.env);
  switch (command) {
    case 'serve':
      await startServer(config);
      return -1; // keep running
    case 'worker':
      await startWorker(config);
      return -1; // keep running
    case 'migrate': {
      const deps = await createDeps(config);
      await deps.close();
      console.log(`Migrations applied (${deps.database.kind}).`);
      return 0;
    }
    case 'create-admin': {
      const { values } = parseArgs({ args: rest, options: { email: { type: 'string' }, password: { type: 'string' } } });
      if (!values.email || !values.password || values.password.length < 8) {
        console.error('create-admin needs --email and --password (at least 8 characters)');
        return 2;
      }
      const deps = await createDeps(config);
      try {
        const user = await ensureAdminAccount(deps.repos, values.email, values.password);
        console.log(`Administrator ready: ${user.email} (${user.id})`);
      } finally {
        await deps.close();
      }
      return 0;
    }
    case 'billing':
      return billing(config, rest);
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    default:
      console.error(`Unknown command "${command}".\n\n${USAGE}`);
      return 2;
  }
}

async function billing(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'run' && sub !== 'runs') {
    console.error(`billing needs "run" or "runs".\n\n${USAGE}`);
    return 2;
  }
  const { values } = parseArgs({ args: rest, options: { 'as-of': { type: 'string' } } });
  const asOf = values['as-of'] ? new Date(values['as-of']) : new Date();
  if (Number.isNaN(asOf.getTime())) {
    console.error(`--as-of must be an ISO 8601 time such as 2026-12-01T00:00:00Z, got "${values['as-of']}"`);
    return 2;
  }
  const deps = await createDeps(config);
  try {
    if (sub === 'runs') {
      for (const run of await deps.repos.billing.runs(24)) {
        console.log(`${run.period}  ${run.status.padEnd(9)}  customers ${run.customers}  invoices ${run.invoicesIssued}/${run.invoicesCreated}  started ${run.startedAt.toISOString()}${run.error ? `  error: ${run.error}` : ''}`);
      }
      return 0;
    }
    const started = Date.now();
    const run = await runBillingCycle(
      { repos: deps.repos, bus: deps.bus, clock: deps.clock, settings: config.billing },
      {
        asOf,
        onProgress: (r) => console.log(`${r.period}: ${r.customers} customers billed, ${r.invoicesCreated} invoices drafted, ${r.invoicesIssued} issued (${((Date.now() - started) / 1000).toFixed(1)} s)`),
      },
    );
    console.log(`Billing run ${run.period} ${run.status}: ${run.invoicesIssued} invoices issued for ${run.customers} customers. Emails go out from the workers.`);
    return 0;
  } finally {
    await deps.close();
  }
}

try {
  const code = await main(process.argv.slice(2));
  if (code >= 0) process.exit(code);
} catch (error) {
  console.error(error instanceof ConfigError ? `Configuration error: ${error.message}` : error);
  process.exit(error instanceof ConfigError ? 2 : 1);
}
