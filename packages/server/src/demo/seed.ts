import type { Repositories } from '@tollgate/store';
import { DEMO_CATALOG } from './catalog.ts';

const SEEDED = 'demo_catalog_seeded';

/**
 * Seeds the demo catalogs once per database. The marker is set first and atomically, so several
 * instances starting together seed once, and a product the admin later changes or deactivates is
 * never put back.
 */
export async function seedDemoCatalog(repos: Repositories): Promise<boolean> {
  if (await repos.settings.get(SEEDED)) {
    await updateSeededDocsLinks(repos);
    return false;
  }
  if (!(await repos.settings.setIfAbsent(SEEDED, { at: new Date().toISOString(), state: 'seeding' }))) return false;
  for (const seed of DEMO_CATALOG) {
    const product = await repos.catalog.createProduct({ ...seed.product, isActive: true });
    for (const plan of seed.plans) {
      await repos.catalog.createPlan({
        rateLimitAlgorithm: 'token-bucket',
        limits: {},
        description: null,
        ...plan,
        productId: product.id,
        currency: seed.product.currency,
        isActive: true,
      });
    }
    for (const route of seed.routes) {
      await repos.catalog.createRoute({
        entitlement: null,
        historyParam: null,
        description: null,
        ...route,
        productId: product.id,
        upstreamUrl: null,
        costWeight: 1,
        isActive: true,
      });
    }
  }
  await repos.settings.set(SEEDED, { at: new Date().toISOString(), state: 'done' });
  return true;
}

/**
 * Demo catalogs seeded before 2026-11-23 link their docs as `/docs#tag/<slug>`, which Swagger UI
 * does not open; the link becomes the current one (`/docs#/<slug>`) unless an admin changed it.
 */
async function updateSeededDocsLinks(repos: Repositories): Promise<void> {
  for (const { product: seed } of DEMO_CATALOG) {
    const product = await repos.catalog.findProduct(seed.slug);
    if (product && product.publicDocs === `/docs#tag/${seed.slug}` && seed.publicDocs) {
      await repos.catalog.updateProduct(product.id, { publicDocs: seed.publicDocs });
    }
  }
}
