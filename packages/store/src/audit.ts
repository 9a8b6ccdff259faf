import { createHash } from 'node:crypto';
import { asc, desc, sql } from 'drizzle-orm';
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
      const row = { id, actorId: entry.actorId, action: entry.action, resourceType: entry.resourceType, resourceId: entry.resourceId, data, createdAt };
      await tx.insert(auditEvents).values({ ...row, prevHash, hash: hashEntry(prevHash, row) });
    });
  }

  /** Recomputes the chain from the stored rows; returns the first row that does not match, if any. */
  async verify(): Promise<{ ok: true; rows: number } | { ok: false; brokenAt: string }> {
    const rows = await this.db.select().from(auditEvents).orderBy(asc(auditEvents.seq));
    let prev = GENESIS;
    for (const row of rows) {
      if (row.prevHash !== prev || row.hash !== hashEntry(prev, row)) return { ok: false, brokenAt: row.id };
      prev = row.hash;
    }
    return { ok: true, rows: rows.length };
  }

  async list(limit = 100): Promise<(typeof auditEvents.$inferSelect)[]> {
    return this.db.select().from(auditEvents).orderBy(desc(auditEvents.seq)).limit(limit);
  }
}

type HashedFields = Pick<typeof auditEvents.$inferSelect, 'id' | 'actorId' | 'action' | 'resourceType' | 'resourceId' | 'data' | 'createdAt'>;

function hashEntry(prevHash: string, row: HashedFields): string {
  return createHash('sha256')
    .update(canonicalJson([prevHash, row.id, row.actorId, row.action, row.resourceType, row.resourceId, row.data, row.createdAt.toISOString()]))
    .digest('hex');
}

/** JSON with object keys sorted: jsonb does not keep key order, and the hash must survive a round trip. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
