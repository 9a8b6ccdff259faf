import { clamp, fnv1a, iso, mix32, Rng } from './random.ts';
import { sealOf } from './seals.ts';
import { securityReport, tokenProfile, type RiskLevel } from './tokens.ts';
import { universe, type Meme } from './universe.ts';

/*
 * The demo upstream's event stream: the CryptoMeme data events of HLD §7.3 (`meme.created`,
 * `meme.verified`, `token.security_changed`, `token.rug_detected`), as a pure function of time.
 * Time is cut into slots of `intervalMs`; each slot holds exactly one event whose type, offset
 * inside the slot and payload derive from the slot number alone (no clock, no Math.random()), so
 * every process computes the same events for the same window and a poller that asks for
 * consecutive windows [a, b), [b, c), ... sees every event exactly once.
 *
 * Payloads point at the same universe the `/v1/memes`, `/v1/seals` and `/v1/tokens` endpoints
 * serve (live data, not the sandbox seed): a `meme.verified` event carries the meme's seal score
 * and seal token, and a `token.security_changed` event's `new_score` / `alerts` are what
 * `/v1/tokens/{mint}/security` reports for that mint.
 */

export type DemoDataEventType = 'meme.created' | 'meme.verified' | 'token.security_changed' | 'token.rug_detected';

export interface DemoDataEvent {
  type: DemoDataEventType;
  /** floor(occurredAt / intervalMs): one event per slot; with the type it identifies the event. */
  slot: number;
  occurredAt: Date;
  payload: Record<string, unknown>;
}

/** The default spacing of the stream's events. */
export const DEMO_EVENT_INTERVAL_MS = 60_000;

/** The most slots one call may cover. */
const MAX_SLOTS = 10_000;
/** The largest magnitude a JavaScript Date can hold. */
const MAX_DATE_MS = 8.64e15;

/** Relative frequency of each event type; cumulative thresholds are derived below. */
const TYPE_WEIGHTS: readonly (readonly [DemoDataEventType, number])[] = [
  ['meme.created', 0.4],
  ['token.security_changed', 0.3],
  ['meme.verified', 0.2],
  ['token.rug_detected', 0.1],
];

const STREAM_SEED = fnv1a('demo-events|cryptomeme|v1');
const TWO_POW_32 = 4_294_967_296;

/** A seed per slot that uses every bit of the slot number (slots can exceed 32 bits for tiny intervals). */
function slotSeed(slot: number): number {
  const hi = Math.floor(slot / TWO_POW_32);
  return mix32(mix32(STREAM_SEED, hi), slot - hi * TWO_POW_32);
}

function pickType(u: number): DemoDataEventType {
  let acc = 0;
  for (const [type, weight] of TYPE_WEIGHTS) {
    acc += weight;
    if (u < acc) return type;
  }
  return 'token.rug_detected';
}

interface Pools {
  memes: readonly Meme[];
  /** Memes with a culture seal (verified). */
  sealed: readonly Meme[];
  /** Token mints of the universe. */
  mints: readonly string[];
  /** Mints whose security report is not `low` risk: the plausible rug candidates. */
  risky: readonly string[];
}

let pools: Pools | undefined;

/** Built once: the candidates of each event type, in universe order (so picks are deterministic). */
function eventPools(): Pools {
  if (pools) return pools;
  const memes = universe().memes;
  const mints = memes.flatMap((m) => (m.mint === null ? [] : [m.mint]));
  // The security report does not depend on the time beyond its `analyzed_at`; 0 is as good as any.
  const risky = mints.filter((mint) => securityReport(tokenProfile(mint, false), 0).risk_level !== 'low');
  pools = {
    memes,
    sealed: memes.filter((m) => sealOf(m, false) !== null),
    mints,
    risky: risky.length > 0 ? risky : mints,
  };
  return pools;
}

const SEVERITIES: readonly RiskLevel[] = ['low', 'medium', 'high', 'critical'];

/** Live, on-chain style signals of a rug in progress (the static ones come from the security report). */
const RUG_SIGNALS = ['liquidity_removed', 'dev_wallet_sold', 'large_holder_dump', 'price_crash', 'sell_pressure_spike', 'lp_tokens_transferred'] as const;
/** Signals that make a rug near-certain: they raise the severity one step. */
const SEVERE_SIGNALS: ReadonlySet<string> = new Set(['liquidity_removed', 'lp_tokens_transferred']);

function payloadFor(type: DemoDataEventType, rng: Rng, occurredAtMs: number): Record<string, unknown> {
  const p = eventPools();
  const timestamp = iso(occurredAtMs);
  switch (type) {
    case 'meme.created': {
      const meme = rng.pick(p.memes);
      return { meme_id: meme.id, name: meme.name, token_mint: meme.mint, timestamp };
    }
    case 'meme.verified': {
      const meme = rng.pick(p.sealed);
      const seal = sealOf(meme, false);
      // The pool holds only sealed memes; the fallback keeps the payload well-formed regardless.
      return { meme_id: meme.id, seal_score: seal?.seal_score ?? 0, seal_token: seal?.seal_token ?? '', timestamp };
    }
    case 'token.security_changed': {
      const mint = rng.pick(p.mints);
      const report = securityReport(tokenProfile(mint, false), occurredAtMs);
      const newScore = report.score;
      // The score moved to what /security reports now, from a different earlier value.
      const delta = rng.int(3, 25);
      let oldScore = clamp(newScore + (rng.chance(0.5) ? delta : -delta), 1, 100);
      if (oldScore === newScore) oldScore = clamp(newScore > 50 ? newScore - delta : newScore + delta, 1, 100);
      return { mint, old_score: oldScore, new_score: newScore, alerts: [...report.alerts], timestamp };
    }
    case 'token.rug_detected': {
      const mint = rng.pick(p.risky);
      const report = securityReport(tokenProfile(mint, false), occurredAtMs);
      const signals = new Set<string>();
      const count = rng.int(1, 2);
      while (signals.size < count) signals.add(rng.pick(RUG_SIGNALS));
      const indicators = [...signals, ...report.alerts];
      const base = SEVERITIES.indexOf(report.risk_level);
      const escalate = [...signals].some((s) => SEVERE_SIGNALS.has(s)) ? 1 : 0;
      const severity = SEVERITIES[Math.min(SEVERITIES.length - 1, Math.max(1, base) + escalate)] ?? 'high';
      return { mint, indicators, severity, timestamp };
    }
  }
}

/** The event of one slot (slot numbers are relative to `intervalMs`). */
function eventOfSlot(slot: number, intervalMs: number): DemoDataEvent {
  const rng = new Rng(slotSeed(slot));
  const type = pickType(rng.next());
  const occurredAtMs = slot * intervalMs + Math.floor(rng.next() * intervalMs);
  return { type, slot, occurredAt: new Date(occurredAtMs), payload: payloadFor(type, rng, occurredAtMs) };
}

/**
 * The stream's events with occurredAt in [fromMs, toMs), oldest first: one per slot of
 * `intervalMs`, at a deterministic offset inside the slot, so every process computes the same
 * events for the same window. At most 10,000 slots per call (throw RangeError beyond).
 *
 * The slots counted are those the window touches (a window that does not start on a slot
 * boundary touches one more slot than its length in intervals). An empty or inverted window
 * yields no events.
 */
export function demoEventsBetween(fromMs: number, toMs: number, intervalMs: number = DEMO_EVENT_INTERVAL_MS): DemoDataEvent[] {
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) throw new RangeError(`demoEventsBetween: fromMs and toMs must be finite; got ${fromMs}, ${toMs}`);
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) throw new RangeError(`demoEventsBetween: intervalMs must be a positive integer; got ${intervalMs}`);
  if (Math.abs(fromMs) > MAX_DATE_MS || Math.abs(toMs) > MAX_DATE_MS) throw new RangeError(`demoEventsBetween: fromMs and toMs must be valid Date times; got ${fromMs}, ${toMs}`);
  if (toMs <= fromMs) return [];
  const firstSlot = Math.floor(fromMs / intervalMs);
  const lastSlot = Math.ceil(toMs / intervalMs) - 1;
  const slots = lastSlot - firstSlot + 1;
  if (slots > MAX_SLOTS) throw new RangeError(`demoEventsBetween: the window spans ${slots} slots of ${intervalMs} ms; at most ${MAX_SLOTS} per call`);
  const events: DemoDataEvent[] = [];
  for (let slot = firstSlot; slot <= lastSlot; slot++) {
    const event = eventOfSlot(slot, intervalMs);
    const at = event.occurredAt.getTime();
    if (at >= fromMs && at < toMs) events.push(event);
  }
  return events;
}
