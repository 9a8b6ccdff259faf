import type {} from '@fastify/swagger';
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Services } from '../../services/index.ts';
import type { createAuthGuards } from '../authenticate.ts';
import type { Clock } from '@tollgate/core';
import type { Config } from '../../config.ts';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface RouteContext {
  services: Services;
  guards: ReturnType<typeof createAuthGuards>;
  clock: Clock;
  config: Config;
}
