import { ConfigError, loadConfig } from './config.ts';
import { startServer } from './server.ts';

// The embedded default: `npm start` with nothing else installed.
try {
  await startServer(loadConfig(process.env));
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
    process.exit(2);
  }
  console.error(error);
  process.exit(1);
}
