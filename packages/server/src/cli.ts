import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.ts';
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

try {
  const code = await main(process.argv.slice(2));
  if (code >= 0) process.exit(code);
} catch (error) {
  console.error(error instanceof ConfigError ? `Configuration error: ${error.message}` : error);
  process.exit(error instanceof ConfigError ? 2 : 1);
}
