import { repositoryContract } from './repositories.contract.ts';
import { openTestPglite } from './testing.ts';

repositoryContract('PGlite', openTestPglite);
