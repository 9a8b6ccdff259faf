import { CredentialsBodySchema, SessionResponseSchema, UserSchema } from '@tollgate/contracts';
import type { FastifyReply } from 'fastify';
import { SESSION_COOKIE, currentUser, sessionToken } from '../authenticate.ts';
import { userView } from '../views.ts';
import { errorResponses } from './common.ts';
import type { Session } from '../../services/accounts.ts';
import type { App, RouteContext } from './types.ts';

export function authRoutes(app: App, { services, guards, config }: RouteContext): void {
  const setCookie = (reply: FastifyReply, session: Session) =>
    reply.setCookie(SESSION_COOKIE, session.token, {
      httpOnly: true,
      sameSite: 'lax',
      secure: config.cookieSecure,
      path: '/',
      expires: session.expiresAt,
    });

  app.post('/api/v1/auth/signup', {
    schema: { tags: ['auth'], summary: 'Create an account', body: CredentialsBodySchema, response: { 201: SessionResponseSchema, ...errorResponses } },
  }, async (request, reply) => {
    const session = await services.accounts.signup(request.body.email, request.body.password);
    setCookie(reply, session).code(201);
    return { token: session.token, user: userView(session.user) };
  });

  app.post('/api/v1/auth/login', {
    schema: { tags: ['auth'], summary: 'Log in', body: CredentialsBodySchema, response: { 200: SessionResponseSchema, ...errorResponses } },
  }, async (request, reply) => {
    const session = await services.accounts.login(request.body.email, request.body.password, request.ip);
    setCookie(reply, session);
    return { token: session.token, user: userView(session.user) };
  });

  app.post('/api/v1/auth/logout', { schema: { tags: ['auth'], summary: 'End the session' } }, async (request, reply) => {
    const token = sessionToken(request);
    if (token) await services.accounts.logout(token);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(204).send();
  });

  app.get('/api/v1/auth/me', {
    onRequest: guards.requireUser,
    schema: { tags: ['auth'], summary: 'The signed-in user', response: { 200: UserSchema, ...errorResponses } },
  }, async (request) => userView(currentUser(request)));
}
