import { eq, sql } from 'drizzle-orm';
import type { Db } from './database.ts';
import { settings } from './schema.ts';

export class SettingsRepository {
  constructor(private readonly db: Db) {}

  async get<T>(key: string): Promise<T | undefined> {
    const [row] = await this.db.select().from(settings).where(eq(settings.key, key));
    return row?.value as T | undefined;
  }

  /** Sets the value only if the key is absent; returns whether this call set it. */
  async setIfAbsent(key: string, value: unknown): Promise<boolean> {
    const rows = await this.db
      .insert(settings)
      .values({ key, value })
      .onConflictDoNothing()
      .returning({ key: settings.key });
    return rows.length > 0;
  }

  async set(key: string, value: unknown): Promise<void> {
    await this.db
      .insert(settings)
      .values({ key, value })
      .onConflictDoUpdate({ target: settings.key, set: { value, updatedAt: sql`now()` } });
  }
}
