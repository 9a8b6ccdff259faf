import type { Clock } from '@tollgate/core';
import { randomBase62 } from '@tollgate/core';
import type { Repositories } from '@tollgate/store';
import { randomBytes, UniqueViolationError } from '@tollgate/store';
import type { MemoryAttemptLimiter } from '@tollgate/runtime';
import type { User } from '@tollgate/core';
import { AppError } from '../http/app-error.ts';
import { DUMMY_HASH_PROMISE, hashPassword, verifyPassword } from './passwords.ts';
import { sha256Hex } from './hash.ts';

export interface Session {
  token: string;
  user: User;
  expiresAt: Date;
}

export class AccountService {
  constructor(
    private readonly repos: Repositories,
    private readonly clock: Clock,
    private readonly loginLimiter: MemoryAttemptLimiter,
    private readonly sessionTtlMs: number,
  ) {}

  async signup(email: string, password: string): Promise<Session> {
    const passwordHash = await hashPassword(password);
    let user: User;
    try {
      user = await this.repos.users.create({ email: email.trim(), passwordHash, role: 'customer' });
    } catch (error) {
      if (error instanceof UniqueViolationError) {
        throw new AppError('conflict', 'An account with this email already exists; log in instead', { details: { field: 'body.email' } });
      }
      throw error;
    }
    await this.repos.audit.append({ actorId: user.id, action: 'user.signup', resourceType: 'user', resourceId: user.id });
    return this.startSession(user);
  }

  /** Wrong email and wrong password answer alike; repeated failures from one client are slowed. */
  async login(email: string, password: string, clientIp: string): Promise<Session> {
    const now = this.clock.now();
    const throttleKey = `${clientIp}|${email.toLowerCase()}`;
    const waitMs = this.loginLimiter.blockedForMs(throttleKey, now);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      throw new AppError('rate_limit_exceeded', `Too many failed logins; try again in ${seconds} s`, {
        headers: { 'retry-after': String(seconds) },
        details: { retryAfter: seconds },
      });
    }
    const found = await this.repos.users.findCredentials(email.trim());
    const ok = await verifyPassword(password, found?.passwordHash ?? (await DUMMY_HASH_PROMISE));
    if (!found || !ok) {
      this.loginLimiter.recordFailure(throttleKey, now);
      throw new AppError('invalid_credentials', 'Email or password is incorrect');
    }
    return this.startSession(found.user);
  }

  async logout(token: string): Promise<void> {
    await this.repos.sessions.delete(sha256Hex(token));
  }

  async authenticate(token: string): Promise<User | null> {
    return this.repos.sessions.findUser(sha256Hex(token), new Date(this.clock.now()));
  }

  private async startSession(user: User): Promise<Session> {
    const token = `tgs_${randomBase62(43, randomBytes)}`;
    const expiresAt = new Date(this.clock.now() + this.sessionTtlMs);
    await this.repos.sessions.create(user.id, sha256Hex(token), expiresAt);
    return { token, user, expiresAt };
  }
}

/** Creates the admin named by ADMIN_EMAIL/ADMIN_PASSWORD, or promotes that account; idempotent. */
export async function ensureAdminAccount(repos: Repositories, email: string, password: string): Promise<User> {
  const existing = await repos.users.findByEmail(email);
  if (existing) {
    if (existing.role === 'admin') return existing;
    const promoted = await repos.users.update(existing.id, { role: 'admin' });
    await repos.audit.append({ actorId: null, action: 'user.promote', resourceType: 'user', resourceId: existing.id });
    return promoted ?? existing;
  }
  try {
    const user = await repos.users.create({ email, passwordHash: await hashPassword(password), role: 'admin' });
    await repos.audit.append({ actorId: null, action: 'user.create-admin', resourceType: 'user', resourceId: user.id });
    return user;
  } catch (error) {
    // Another instance created it at the same moment.
    if (error instanceof UniqueViolationError) return ensureAdminAccount(repos, email, password);
    throw error;
  }
}
