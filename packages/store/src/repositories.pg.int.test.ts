import { describe } from 'vitest';
import { repositoryContract } from './repositories.contract.ts';
import { openTestPostgres, postgresAvailable } from './testing.ts';

// With REQUIRE_SERVICES=1 an unreachable server throws here, so CI fails instead of skipping.
const available = await postgresAvailable();

describe.skipIf(!available)('repositories on PostgreSQL', () => {
  repositoryContract('PostgreSQL', openTestPostgres);
});
