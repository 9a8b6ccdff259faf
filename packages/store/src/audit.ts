import { createHash } from 'node:crypto';
import { desc, sql } from 'drizzle-orm';
import type { Db } from './database.ts';
import { newId } from './ids.ts';
import { auditEvents } from './schema.ts';

export interface AuditEntry {
  actorId: string | null;
  action: string;
  resourceType: string;
  resourceId: string | null;
  data?: Record<string, unknown>;
}

const GENESIS = '0'.repeat(64);
// Serialises appends so each row's prev_hash is the one really before it.
const AUDIT_LOCK_ID = 7_311_042_002;

export class AuditRepository {
  constructor(private readonly db: Db) {}

  async append(entry: AuditEntry): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${AUDIT_LOCK_ID})`);
      const [last] = await tx.select({ hash: auditEvents.hash }).from(auditEvents).orderBy(desc(auditEvents.seq)).limit(1);
      const prevHash = last?.hash ?? GENESIS;
      const id = newId('audit');
      const createdAt = new Date();
      const data = entry.data ?? {};
      const hash = createHash('sha256')
        .update(JSON.stringify([prevHash, id, entry.actorId, entry.action, entry.resourceType, entry.resourceId, data, createdAt.toISOString()]))
        .digest('hex');
      await tx.insert(auditEvents).values({ id, ...entry, data, prevHash, hash, createdAt });
    });
  }

  async list(limit = 100): Promise<(typeof auditEvents.$inferSelect)[]> {
    return this.db.select().from(auditEvents).orderBy(desc(auditEvents.seq)).limit(limit);
  }
}
