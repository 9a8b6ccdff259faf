import type {} from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { User } from '@tollgate/core';
import { AppError } from './app-error.ts';
import type { AccountService } from '../services/accounts.ts';

export const SESSION_COOKIE = 'tg_session';

declare module 'fastify' {
  interface FastifyRequest {
    user: User | null;
  }
}

/** The session token from the HttpOnly cookie (portal) or `Authorization: Bearer` (tools). */
export function sessionToken(request: FastifyRequest): string | null {
  const auth = request.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim() || null;
  return request.cookies?.[SESSION_COOKIE] ?? null;
}

export function createAuthGuards(accounts: AccountService) {
  // Guards run at onRequest, before the body is parsed and validated: an anonymous caller learns
  // nothing about a route's schema.
  async function requireUser(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const token = sessionToken(request);
    if (!token) throw new AppError('authentication_required', 'Log in first: send a session cookie or Authorization: Bearer <token>');
    const user = await accounts.authenticate(token);
    if (!user) throw new AppError('authentication_required', 'The session has expired or is not valid; log in again');
    request.user = user;
  }

  async function requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    await requireUser(request, reply);
    if (request.user?.role !== 'admin') throw new AppError('forbidden', 'This action needs an administrator');
  }

  return { requireUser, requireAdmin };
}

/** The signed-in user; only called behind a guard. */
export function currentUser(request: FastifyRequest): User {
  if (!request.user) throw new AppError('authentication_required', 'Log in first');
  return request.user;
}
