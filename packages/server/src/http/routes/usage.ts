import { UsageQuerySchema, UsageStatsSchema } from '@tollgate/contracts';
import { currentUser } from '../authenticate.ts';
import { errorResponses } from './common.ts';
import type { App, RouteContext } from './types.ts';

export function usageRoutes(app: App, { services, guards }: RouteContext): void {
  app.get('/api/v1/api-marketplace/usage', {
    onRequest: guards.requireUser,
    schema: {
      tags: ['usage'],
      summary: 'Usage analytics of your keys (refused calls included)',
      querystring: UsageQuerySchema,
      response: { 200: UsageStatsSchema, ...errorResponses },
    },
  }, async (request) => services.usage.stats(currentUser(request), request.query));
}
