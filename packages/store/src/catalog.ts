import { and, asc, count, eq, inArray, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { PlanLimits, RateLimitAlgorithm } from '@tollgate/contracts';
import type { Plan, Product, ProductRoute } from '@tollgate/core';
import type { Db } from './database.ts';
import { rethrowUnique } from './errors.ts';
import { newId } from './ids.ts';
import { plans, productRoutes, products } from './schema.ts';

type ProductRow = typeof products.$inferSelect;
type PlanRow = typeof plans.$inferSelect;
type RouteRow = typeof productRoutes.$inferSelect;

const toProduct = (row: ProductRow): Product => ({ ...row });
const toRoute = (row: RouteRow): ProductRoute => ({ ...row });
export const toPlanRecord = (row: PlanRow): Plan => ({
  ...row,
  rateLimitAlgorithm: row.rateLimitAlgorithm as RateLimitAlgorithm,
  limits: row.limits as PlanLimits,
});

export type NewProduct = Omit<Product, 'id' | 'createdAt' | 'updatedAt'>;
export type NewPlan = Omit<Plan, 'id' | 'createdAt' | 'updatedAt' | 'customerId'> & { customerId?: string | null };
export type NewRoute = Omit<ProductRoute, 'id' | 'createdAt' | 'updatedAt'>;

export interface ProductFilter {
  category?: string;
  active?: boolean;
  page: number;
  limit: number;
}

export class CatalogRepository {
  constructor(private readonly db: Db) {}

  async listProducts(filter: ProductFilter): Promise<{ items: Product[]; total: number }> {
    const conditions: SQL[] = [];
    if (filter.category !== undefined) conditions.push(eq(products.category, filter.category));
    if (filter.active !== undefined) conditions.push(eq(products.isActive, filter.active));
    const where = conditions.length ? and(...conditions) : undefined;
    const [rows, totals] = await Promise.all([
      this.db
        .select()
        .from(products)
        .where(where)
        .orderBy(asc(products.createdAt), asc(products.slug))
        .limit(filter.limit)
        .offset((filter.page - 1) * filter.limit),
      this.db.select({ n: count() }).from(products).where(where),
    ]);
    return { items: rows.map(toProduct), total: Number(totals[0]?.n ?? 0) };
  }

  /** By ID or slug, so URLs can use either. */
  async findProduct(idOrSlug: string): Promise<Product | null> {
    const [row] = await this.db
      .select()
      .from(products)
      .where(or(eq(products.id, idOrSlug), eq(products.slug, idOrSlug)));
    return row ? toProduct(row) : null;
  }

  async createProduct(input: NewProduct, id = newId('product')): Promise<Product> {
    try {
      const [row] = await this.db.insert(products).values({ ...input, id }).returning();
      return toProduct(row as ProductRow);
    } catch (error) {
      rethrowUnique(error);
    }
  }

  async updateProduct(id: string, change: Partial<NewProduct>): Promise<Product | null> {
    const [row] = await this.db
      .update(products)
      .set({ ...change, updatedAt: new Date() })
      .where(eq(products.id, id))
      .returning();
    return row ? toProduct(row) : null;
  }

  /** Public plans only: a plan made for one customer's custom terms is theirs alone. */
  async listPlans(filter: { productIds?: string[]; activeOnly?: boolean } = {}): Promise<Plan[]> {
    const conditions: SQL[] = [isNull(plans.customerId)];
    if (filter.productIds) {
      if (filter.productIds.length === 0) return [];
      conditions.push(inArray(plans.productId, filter.productIds));
    }
    if (filter.activeOnly) conditions.push(eq(plans.isActive, true));
    const rows = await this.db
      .select()
      .from(plans)
      .where(conditions.length ? and(...conditions) : undefined)
      // As a pricing page lists them: by monthly fee, custom pricing last. The creation time
      // alone left plans made within one clock tick (PGlite's is a millisecond) in code order.
      .orderBy(asc(plans.productId), sql`${plans.monthlyFeeMinor} asc nulls last`, asc(plans.createdAt), asc(plans.code));
    return rows.map(toPlanRecord);
  }

  /** By ID or code, so a key can be created with `"planId": "cm-free"`. */
  async findPlan(idOrCode: string): Promise<Plan | null> {
    const [row] = await this.db
      .select()
      .from(plans)
      .where(or(eq(plans.id, idOrCode), eq(plans.code, idOrCode)));
    return row ? toPlanRecord(row) : null;
  }

  async createPlan(input: NewPlan, id = newId('plan')): Promise<Plan> {
    try {
      const [row] = await this.db.insert(plans).values({ ...input, id }).returning();
      return toPlanRecord(row as PlanRow);
    } catch (error) {
      rethrowUnique(error);
    }
  }

  async updatePlan(id: string, change: Partial<NewPlan>): Promise<Plan | null> {
    const [row] = await this.db
      .update(plans)
      .set({ ...change, updatedAt: new Date() })
      .where(eq(plans.id, id))
      .returning();
    return row ? toPlanRecord(row) : null;
  }

  async listRoutes(filter: { productIds?: string[]; activeOnly?: boolean } = {}): Promise<ProductRoute[]> {
    const conditions: SQL[] = [];
    if (filter.productIds) {
      if (filter.productIds.length === 0) return [];
      conditions.push(inArray(productRoutes.productId, filter.productIds));
    }
    if (filter.activeOnly) conditions.push(eq(productRoutes.isActive, true));
    const rows = await this.db
      .select()
      .from(productRoutes)
      .where(conditions.length ? and(...conditions) : undefined)
      .orderBy(asc(productRoutes.productId), asc(productRoutes.path), asc(productRoutes.method));
    return rows.map(toRoute);
  }

  async findRoute(id: string): Promise<ProductRoute | null> {
    const [row] = await this.db.select().from(productRoutes).where(eq(productRoutes.id, id));
    return row ? toRoute(row) : null;
  }

  async createRoute(input: NewRoute, id = newId('route')): Promise<ProductRoute> {
    try {
      const [row] = await this.db.insert(productRoutes).values({ ...input, id }).returning();
      return toRoute(row as RouteRow);
    } catch (error) {
      rethrowUnique(error);
    }
  }

  async updateRoute(id: string, change: Partial<NewRoute>): Promise<ProductRoute | null> {
    const [row] = await this.db
      .update(productRoutes)
      .set({ ...change, updatedAt: new Date() })
      .where(eq(productRoutes.id, id))
      .returning();
    return row ? toRoute(row) : null;
  }
}
