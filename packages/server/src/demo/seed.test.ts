import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRepositories, type Repositories } from '@tollgate/store';
import { openTestPglite, type TestDatabase } from '@tollgate/store/testing';
import { seedDemoCatalog } from './seed.ts';

let database: TestDatabase;
let repos: Repositories;

beforeAll(async () => {
  database = await openTestPglite();
  repos = createRepositories(database.db);
});
afterAll(() => database.close());

it('seeds once, and later starts only replace docs links of the old form that nobody changed', async () => {
  expect(await seedDemoCatalog(repos)).toBe(true);
  const products = (await repos.catalog.listProducts({ page: 1, limit: 100 })).total;
  const smi = await repos.catalog.findProduct('smi-api');
  const vts = await repos.catalog.findProduct('vts-feed');
  if (!smi || !vts) throw new Error('demo products missing');
  expect(smi.publicDocs).toBe('/docs#/smi-api');
  // As seeded before the links changed, and as an admin set it.
  await repos.catalog.updateProduct(smi.id, { publicDocs: '/docs#tag/smi-api' });
  await repos.catalog.updateProduct(vts.id, { publicDocs: 'https://docs.example.test/vts' });

  expect(await seedDemoCatalog(repos)).toBe(false);
  expect((await repos.catalog.listProducts({ page: 1, limit: 100 })).total).toBe(products);
  expect((await repos.catalog.findProduct('smi-api'))?.publicDocs).toBe('/docs#/smi-api');
  expect((await repos.catalog.findProduct('vts-feed'))?.publicDocs).toBe('https://docs.example.test/vts');
});
