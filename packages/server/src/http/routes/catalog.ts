import { Type } from 'typebox';
import {
  CreatePlanBodySchema,
  CreateProductBodySchema,
  CreateRouteBodySchema,
  ListProductsQuerySchema,
  PaginationSchema,
  PlanSchema,
  ProductRouteSchema,
  ProductSchema,
  UpdatePlanBodySchema,
  UpdateProductBodySchema,
  UpdateRouteBodySchema,
} from '@tollgate/contracts';
import { planView, productView, routeView } from '../views.ts';
import { errorResponses, IdParams, pagination } from './common.ts';
import type { App, RouteContext } from './types.ts';

const BASE = '/api/v1/api-marketplace';

export function catalogRoutes(app: App, { services, guards }: RouteContext): void {
  const { catalog } = services;

  app.get(`${BASE}/products`, {
    schema: {
      tags: ['catalog'],
      summary: 'List products with their plans',
      querystring: ListProductsQuerySchema,
      response: { 200: Type.Object({ products: Type.Array(ProductSchema), pagination: PaginationSchema }), ...errorResponses },
    },
  }, async (request) => {
    const page = request.query.page ?? 1;
    const limit = request.query.limit ?? 50;
    const { items, total } = await catalog.listProducts({
      page,
      limit,
      ...(request.query.category !== undefined ? { category: request.query.category } : {}),
      ...(request.query.active !== undefined ? { active: request.query.active } : {}),
    });
    return { products: items.map(productView), pagination: pagination(page, limit, total) };
  });

  app.get(`${BASE}/products/:slug`, {
    schema: { tags: ['catalog'], summary: 'One product by slug or ID', params: Type.Object({ slug: Type.String({ maxLength: 100 }) }), response: { 200: ProductSchema, ...errorResponses } },
  }, async (request) => productView(await catalog.getProduct(request.params.slug)));

  app.get(`${BASE}/plans`, {
    schema: { tags: ['catalog'], summary: 'All active plans', response: { 200: Type.Array(PlanSchema) } },
  }, async () => (await catalog.listPlans()).map(planView));

  app.get(`${BASE}/products/:productId/plans`, {
    schema: { tags: ['catalog'], summary: "A product's active plans", params: Type.Object({ productId: Type.String({ maxLength: 100 }) }), response: { 200: Type.Array(PlanSchema), ...errorResponses } },
  }, async (request) => (await catalog.listPlans(request.params.productId)).map(planView));

  // ---- admin ----
  const admin = { onRequest: guards.requireAdmin };

  app.post(`${BASE}/products`, {
    ...admin,
    schema: { tags: ['admin'], summary: 'Create a product', body: CreateProductBodySchema, response: { 201: ProductSchema, ...errorResponses } },
  }, async (request, reply) => {
    const product = await catalog.createProduct(request.body);
    reply.code(201);
    return productView({ product, plans: [], routes: [] });
  });

  app.patch(`${BASE}/products/:id`, {
    ...admin,
    schema: { tags: ['admin'], summary: 'Update a product', params: IdParams, body: UpdateProductBodySchema, response: { 200: ProductSchema, ...errorResponses } },
  }, async (request) => {
    const product = await catalog.updateProduct(request.params.id, request.body);
    return productView(await catalog.getProduct(product.id));
  });

  app.post(`${BASE}/products/:id/deactivate`, {
    ...admin,
    schema: { tags: ['admin'], summary: 'Deactivate a product: hidden from the active catalog, its routes closed', params: IdParams, response: { 200: ProductSchema, ...errorResponses } },
  }, async (request) => {
    const product = await catalog.updateProduct(request.params.id, { isActive: false });
    return productView(await catalog.getProduct(product.id));
  });

  app.post(`${BASE}/products/:id/routes`, {
    ...admin,
    schema: { tags: ['admin'], summary: 'Add a route to a product', params: IdParams, body: CreateRouteBodySchema, response: { 201: ProductRouteSchema, ...errorResponses } },
  }, async (request, reply) => {
    reply.code(201);
    return routeView(await catalog.createRoute(request.params.id, request.body));
  });

  app.patch(`${BASE}/routes/:id`, {
    ...admin,
    schema: { tags: ['admin'], summary: 'Update a route (isActive: false closes it)', params: IdParams, body: UpdateRouteBodySchema, response: { 200: ProductRouteSchema, ...errorResponses } },
  }, async (request) => routeView(await catalog.updateRoute(request.params.id, request.body)));

  app.post(`${BASE}/products/:id/plans`, {
    ...admin,
    schema: { tags: ['admin'], summary: 'Add a plan to a product', params: IdParams, body: CreatePlanBodySchema, response: { 201: PlanSchema, ...errorResponses } },
  }, async (request, reply) => {
    reply.code(201);
    return planView(await catalog.createPlan(request.params.id, request.body));
  });

  app.patch(`${BASE}/plans/:id`, {
    ...admin,
    schema: { tags: ['admin'], summary: "Update a plan; its keys get the new limits on their next call", params: IdParams, body: UpdatePlanBodySchema, response: { 200: PlanSchema, ...errorResponses } },
  }, async (request) => planView(await catalog.updatePlan(request.params.id, request.body)));

  app.post(`${BASE}/plans/:id/deactivate`, {
    ...admin,
    schema: { tags: ['admin'], summary: 'Deactivate a plan: no new subscriptions or keys', params: IdParams, response: { 200: PlanSchema, ...errorResponses } },
  }, async (request) => planView(await catalog.updatePlan(request.params.id, { isActive: false })));
}
