import { and, count, eq, gt, sql } from 'drizzle-orm';
import type { UserRole } from '@tollgate/contracts';
import type { User } from '@tollgate/core';
import type { Db } from './database.ts';
import { rethrowUnique } from './errors.ts';
import { newId } from './ids.ts';
import { sessions, users } from './schema.ts';

type UserRow = typeof users.$inferSelect;

function toUser(row: UserRow): User {
  return { id: row.id, email: row.email, role: row.role as UserRole, createdAt: row.createdAt };
}

export class UserRepository {
  constructor(private readonly db: Db) {}

  async create(input: { email: string; passwordHash: string; role: UserRole }): Promise<User> {
    try {
      const [row] = await this.db
        .insert(users)
        .values({ id: newId('user'), email: input.email, passwordHash: input.passwordHash, role: input.role })
        .returning();
      return toUser(row as UserRow);
    } catch (error) {
      rethrowUnique(error);
    }
  }

  /** Emails are matched without regard to case. */
  async findCredentials(email: string): Promise<{ user: User; passwordHash: string } | null> {
    const [row] = await this.db.select().from(users).where(sql`lower(${users.email}) = lower(${email})`);
    return row ? { user: toUser(row), passwordHash: row.passwordHash } : null;
  }

  async findById(id: string): Promise<User | null> {
    const [row] = await this.db.select().from(users).where(eq(users.id, id));
    return row ? toUser(row) : null;
  }

  async findByEmail(email: string): Promise<User | null> {
    return (await this.findCredentials(email))?.user ?? null;
  }

  async update(id: string, change: { role?: UserRole; passwordHash?: string }): Promise<User | null> {
    const [row] = await this.db
      .update(users)
      .set({ ...change, updatedAt: new Date() })
      .where(eq(users.id, id))
      .returning();
    return row ? toUser(row) : null;
  }

  async countByRole(role: UserRole): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(users).where(eq(users.role, role));
    return Number(row?.n ?? 0);
  }
}

export class SessionRepository {
  constructor(private readonly db: Db) {}

  async create(userId: string, tokenHash: string, expiresAt: Date): Promise<void> {
    await this.db.insert(sessions).values({ id: newId('session'), userId, tokenHash, expiresAt });
  }

  async findUser(tokenHash: string, now: Date): Promise<User | null> {
    const [row] = await this.db
      .select({ user: users })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(and(eq(sessions.tokenHash, tokenHash), gt(sessions.expiresAt, now)));
    return row ? toUser(row.user) : null;
  }

  async delete(tokenHash: string): Promise<void> {
    await this.db.delete(sessions).where(eq(sessions.tokenHash, tokenHash));
  }
}
