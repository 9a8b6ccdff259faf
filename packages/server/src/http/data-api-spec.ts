import { ErrorBodySchema } from '@tollgate/contracts';
import type { Product, ProductRoute } from '@tollgate/core';

/*
 * The data APIs in the OpenAPI document: the catalog's routes (served by the gateway's catch-all
 * route, so Fastify's schemas do not describe them) as operations called with an API key, one
 * tag per product, named by its slug so a product's docs link (`/docs#/smi-api`) opens it.
 * Rebuilt whenever the gateway reloads its routes, so /openapi.json and /docs show what the
 * gateway serves now.
 */

type Operation = Record<string, unknown>;
export interface DataApis {
  paths: Record<string, Record<string, Operation>>;
  /** One per product with routes: the slug, described by the product's name. */
  tags: { name: string; description: string }[];
}

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: ErrorBodySchema } } });

function operationOf(product: Pick<Product, 'slug' | 'name'>, route: ProductRoute): Operation {
  const params = [...route.path.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1] as string);
  const access = route.entitlement === null ? `Any plan of \`${product.slug}\`.` : `Plans with the \`${route.entitlement}\` entitlement (\`insufficient_tier\` otherwise).`;
  const notes = [
    access,
    ...(route.historyParam ? [`\`${route.historyParam}\` may reach back only as far as the plan's history window.`] : []),
    ...(route.costWeight !== 1 ? [`Counts as ${route.costWeight} calls against limits and quotas.`] : []),
  ];
  return {
    tags: [product.slug],
    summary: route.description ?? `${route.method} ${route.path}`,
    description: notes.join(' '),
    operationId: `${product.slug}:${route.method.toLowerCase()}:${route.path}`,
    security: [{ apiKey: [] }, { apiKeyQuery: [] }],
    parameters: params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
    ...(route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH'
      ? { requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } } }
      : {}),
    responses: {
      200: {
        description: 'The data, with X-RateLimit-*, X-Request-Id and quota headers (lists add X-Total-Count, X-Page, X-Per-Page and Link).',
        content: { 'application/json': { schema: { type: 'object' } } },
      },
      400: errorResponse('Invalid parameters (`invalid_request`, naming the field).'),
      401: errorResponse('Missing, malformed, unknown, revoked, suspended or expired API key (`invalid_api_key`).'),
      403: errorResponse('`ip_not_allowed`, or `insufficient_tier` for this plan.'),
      429: errorResponse('`rate_limit_exceeded` or `quota_exceeded`; `Retry-After` says when to try again.'),
    },
  };
}

/** Path items of the active products' active routes, patterns as OpenAPI writes them (`/v1/tokens/{mint}`). */
export function dataApis(products: readonly Pick<Product, 'id' | 'slug' | 'name'>[], routes: readonly ProductRoute[]): DataApis {
  const byId = new Map(products.map((p) => [p.id, p]));
  const paths: DataApis['paths'] = {};
  const tagged = new Map<string, string>();
  for (const route of routes) {
    const product = byId.get(route.productId);
    if (!product) continue;
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operationOf(product, route);
    tagged.set(product.slug, product.name);
  }
  return { paths, tags: [...tagged].map(([name, description]) => ({ name, description })) };
}

/** The management API's document with the data APIs added (a management path keeps its own entry). */
export function withDataApis<T extends { paths?: Record<string, unknown>; tags?: unknown[]; components?: { securitySchemes?: Record<string, unknown> } }>(spec: T, data: DataApis): T {
  return {
    ...spec,
    paths: { ...data.paths, ...spec.paths },
    tags: [...(spec.tags ?? []), ...data.tags],
    components: {
      ...spec.components,
      securitySchemes: { ...spec.components?.securitySchemes, apiKeyQuery: { type: 'apiKey', in: 'query', name: 'api_key' } },
    },
  };
}
