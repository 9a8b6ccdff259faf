import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createSecretBox, type SecretBox } from '@tollgate/core';
import { ConfigError, type Config } from './config.ts';

/**
 * The box that seals secrets at rest (webhook signing secrets) under MASTER_KEY. Without one,
 * an embedded install generates a key once and keeps it in DATA_DIR beside (not inside) the
 * database, so `npm start` works as is; every instance of a deployment must share one key, so
 * production on PostgreSQL must set it.
 */
export function openSecretBox(config: Config, log: { warn(msg: string): void }): SecretBox {
  if (config.masterKey) {
    try {
      return createSecretBox(config.masterKey);
    } catch (error) {
      throw new ConfigError(`MASTER_KEY: ${(error as Error).message}`);
    }
  }
  if (config.production && config.databaseUrl) {
    throw new ConfigError('MASTER_KEY must be set in production with DATABASE_URL: every instance needs the same key (openssl rand -hex 32)');
  }
  const file = path.join(config.dataDir, 'master.key');
  mkdirSync(config.dataDir, { recursive: true });
  // Written whole, then linked into place: of processes starting at once, one key wins and
  // none reads a half-written file.
  const draft = `${file}.${process.pid}.tmp`;
  writeFileSync(draft, randomBytes(32).toString('hex'), { mode: 0o600 });
  try {
    linkSync(draft, file);
    log.warn(`MASTER_KEY is not set: generated one in ${file}. Back it up with the data, or set MASTER_KEY`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(draft);
  }
  return createSecretBox(readFileSync(file, 'utf8').trim());
}
