import { arweaveTx, base58Address, clamp, DAY_MS, HOUR_MS, iso, Rng } from './random.ts';
import { popularity, universe, type Meme } from './universe.ts';
import { notFound, paginate, queryInt, queryPage } from './validate.ts';

/*
 * Verification data (HLD §7.1): culture seals of verified memes and the queue of pending
 * verifications. Seal facts (score, token, Arweave tx, issue date) are fixed per meme and mode;
 * the pending queue is anchored to the current hour so it looks live yet stays reproducible.
 */

export type SealTier = 'bronze' | 'silver' | 'gold' | 'platinum';

export interface CultureSeal {
  meme_id: string;
  meme_name: string;
  seal_score: number;
  tier: SealTier;
  status: 'active';
  seal_token: string;
  arweave_tx: string;
  criteria: { longevity: number; reach: number; originality: number; community_consensus: number };
  verifier_count: number;
  issued_at: string;
}

const cache = new Map<string, CultureSeal>();

export function sealOf(meme: Meme, sandbox: boolean): CultureSeal | null {
  if (!meme.verified) return null;
  const key = `${sandbox ? 's' : 'l'}:${meme.id}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const rng = Rng.of('seal', meme.id, sandbox);
  // Seals exist since the seal program started (2024), never before the meme itself.
  const issuedMs = Math.max(meme.createdAtMs + 30 * DAY_MS, Date.UTC(2024, 2, 1)) + rng.int(0, 300) * DAY_MS + rng.int(0, 23) * HOUR_MS;
  const ageYears = (issuedMs - meme.createdAtMs) / (365 * DAY_MS);
  const criteria = {
    longevity: Math.round(clamp(35 + ageYears * 6 + rng.range(-8, 8), 0, 100)),
    reach: Math.round(clamp(popularity(meme, sandbox) + rng.range(-10, 10), 0, 100)),
    originality: meme.parentId === null ? rng.int(70, 100) : rng.int(30, 85),
    community_consensus: rng.int(50, 100),
  };
  const score = Math.round(criteria.longevity * 0.25 + criteria.reach * 0.3 + criteria.originality * 0.2 + criteria.community_consensus * 0.25);
  const seal: CultureSeal = {
    meme_id: meme.id,
    meme_name: meme.name,
    seal_score: score,
    tier: score >= 90 ? 'platinum' : score >= 80 ? 'gold' : score >= 65 ? 'silver' : 'bronze',
    status: 'active',
    seal_token: base58Address(`seal|${meme.id}`),
    arweave_tx: arweaveTx(`seal|${meme.id}`),
    criteria,
    verifier_count: rng.int(5, 40),
    issued_at: iso(issuedMs),
  };
  cache.set(key, seal);
  return seal;
}

/** Seals are cached; callers get copies so a caller mutating a body cannot corrupt the cache. */
function copySeal(seal: CultureSeal): CultureSeal {
  return { ...seal, criteria: { ...seal.criteria } };
}

export function listSeals(query: Record<string, unknown>, sandbox: boolean) {
  const minScore = queryInt(query, 'min_score', 0, 0, 100);
  const page = queryPage(query, 20, 100);
  const seals = universe()
    .memes.map((m) => sealOf(m, sandbox))
    .filter((s): s is CultureSeal => s !== null && s.seal_score >= minScore)
    .sort((a, b) => b.seal_score - a.seal_score || a.meme_id.localeCompare(b.meme_id));
  return { ...paginate(seals, page, copySeal), filters: { min_score: minScore } };
}

export function sealDetail(meme: Meme, sandbox: boolean) {
  const seal = sealOf(meme, sandbox);
  if (seal === null) throw notFound('culture_seal', meme.id, `${meme.id} (${meme.name}) has no culture seal${meme.pending ? '; its verification is pending' : ''}`);
  return copySeal(seal);
}

const STAGES = ['evidence_review', 'community_vote', 'curator_review'] as const;

export function pendingVerifications(query: Record<string, unknown>, sandbox: boolean, nowMs: number) {
  const page = queryPage(query, 20, 100);
  const hour = Math.floor(nowMs / HOUR_MS) * HOUR_MS;
  const pending = universe().memes.filter((m) => m.pending);
  const items = pending.map((meme) => {
    const rng = Rng.of('verification', meme.id, sandbox);
    const requestedMs = hour - rng.int(2, 24 * 14) * HOUR_MS;
    const quorum = rng.pick([15, 25, 50]);
    const votesFor = rng.int(0, quorum);
    return {
      verification_id: `ver_${meme.id.slice(5)}`,
      meme_id: meme.id,
      meme_name: meme.name,
      stage: rng.pick(STAGES),
      requested_at: iso(requestedMs),
      votes: { for: votesFor, against: rng.int(0, Math.max(1, Math.floor(votesFor / 2))), quorum },
      evidence_count: rng.int(1, 12),
      estimated_decision_at: iso(hour + rng.int(6, 24 * 7) * HOUR_MS),
    };
  });
  items.sort((a, b) => a.requested_at.localeCompare(b.requested_at) || a.meme_id.localeCompare(b.meme_id));
  return paginate(items, page, (v) => v);
}
