import Router from 'find-my-way';
import type { ProductRoute } from '@tollgate/core';

export interface MatchedRoute {
  route: ProductRoute;
  params: Record<string, string>;
}

type HTTPMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const METHODS: HTTPMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * The gateway's own router over the catalog's routes (`/v1/tokens/{mint}/price`), rebuilt whenever
 * the catalog changes. It uses Fastify's radix-tree router, so matching stays O(path length).
 */
export class RouteTable {
  private router = Router();

  load(routes: readonly ProductRoute[]): void {
    const router = Router({ ignoreTrailingSlash: true, caseSensitive: true });
    for (const route of routes) {
      const pattern = route.path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
      router.on(route.method as HTTPMethod, pattern, () => undefined, route);
    }
    this.router = router;
  }

  /** Methods served at a path, for a 405's `Allow` header when the method is wrong. */
  allowedMethods(path: string): string[] {
    return METHODS.filter((method) => this.router.find(method, path) !== null);
  }

  match(method: string, path: string): MatchedRoute | null {
    const found = this.router.find(method as HTTPMethod, path);
    if (!found) return null;
    return { route: found.store as ProductRoute, params: found.params as Record<string, string> };
  }
}
