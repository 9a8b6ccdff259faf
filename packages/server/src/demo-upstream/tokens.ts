import { base58Address, clamp, DAY_MS, iso, MINUTE_MS, fnv1a, Rng, round, seedOf, sig, unit } from './random.ts';
import { popularity, universe, type Meme } from './universe.ts';

/*
 * Token market data (HLD §7.1 "Token Data"). Any well-formed mint gets data; mints of the meme
 * universe carry their meme's name. The price is a closed-form function of (mint, minute): a few
 * mint-specific sine waves plus per-minute noise. That keeps GET /price O(1) (it is benchmarked),
 * lets /history compute any bucket without replaying a random walk, and makes the last history
 * candle close exactly at the current price.
 */

export interface TokenProfile {
  mint: string;
  meme: Meme | null;
  name: string;
  symbol: string;
  seed: number;
  decimals: number;
  supply: number;
  /** Price around which the waves oscillate, USD. */
  basePrice: number;
  amplitudes: readonly [number, number, number, number];
  phases: readonly [number, number, number, number];
  noise: number;
  turnover: number;
  liquidityRatio: number;
  createdAtMs: number;
  dex: string;
}

// Wave periods in minutes (mutually prime-ish so the sum does not visibly repeat).
const PERIODS = [47, 331, 2111, 9973] as const;
const DEXES = ['raydium', 'orca', 'meteora', 'pump.fun'];
const SUPPLIES = [1e9, 1e9, 1e10, 1e11, 1e12, 8.88e11, 4.2069e11];

const profiles = new Map<string, TokenProfile>();

export function tokenProfile(mint: string, sandbox: boolean): TokenProfile {
  const key = sandbox ? `s:${mint}` : mint;
  const hit = profiles.get(key);
  if (hit) return hit;
  const meme = universe().byMint.get(mint) ?? null;
  const rng = new Rng(seedOf('token', mint, sandbox));
  const identity = new Rng(fnv1a(`token-name|${mint}`));
  const supply = rng.pick(SUPPLIES);
  // Popular memes get bigger market caps; unlisted mints are small caps.
  const pop = meme ? popularity(meme, sandbox) / 100 : 0.05;
  const marketCap = rng.logRange(2e4, 2e6) * 10 ** (pop * 3.5);
  // Large caps swing less than the long tail.
  const vol = rng.range(0.5, 1.6) * (1.2 - pop * 0.6);
  const unlistedSymbol = identity.chars('ABCDEFGHJKLMNPQRSTUVWXYZ', identity.int(3, 5));
  const profile: TokenProfile = {
    mint,
    meme,
    name: meme ? meme.name : `Unlisted ${unlistedSymbol}`,
    symbol: meme ? meme.symbol : unlistedSymbol,
    seed: seedOf('price', mint, sandbox),
    decimals: rng.pick([6, 6, 9]),
    supply,
    basePrice: marketCap / supply,
    amplitudes: [0.01 * vol, 0.035 * vol, 0.1 * vol, 0.22 * vol],
    phases: [rng.range(0, 6.283), rng.range(0, 6.283), rng.range(0, 6.283), rng.range(0, 6.283)],
    noise: 0.004 * vol,
    turnover: rng.range(0.03, 0.6),
    liquidityRatio: rng.range(0.02, 0.15),
    createdAtMs: meme ? Math.max(meme.createdAtMs, Date.UTC(2021, 0, 1)) + rng.int(0, 400) * DAY_MS : Date.UTC(2024, 0, 1) + new Rng(fnv1a(`created|${mint}`)).int(0, 500) * DAY_MS,
    dex: rng.pick(DEXES),
  };
  // Bounded: arbitrary client mints must not grow memory without limit.
  if (profiles.size >= 20_000) profiles.clear();
  profiles.set(key, profile);
  return profile;
}

/** Price (USD) at the close of a given epoch minute. */
export function priceAt(p: TokenProfile, minute: number): number {
  const a = p.amplitudes;
  const f = p.phases;
  const wave =
    a[0] * Math.sin((6.283185307 * minute) / PERIODS[0] + f[0]) +
    a[1] * Math.sin((6.283185307 * minute) / PERIODS[1] + f[1]) +
    a[2] * Math.sin((6.283185307 * minute) / PERIODS[2] + f[2]) +
    a[3] * Math.sin((6.283185307 * minute) / PERIODS[3] + f[3]);
  return p.basePrice * Math.exp(wave + p.noise * (unit(p.seed, minute) - 0.5));
}

/** Traded volume (USD) over `minutes` ending at `minute`: turnover of market cap with hourly noise. */
export function volumeOver(p: TokenProfile, minute: number, minutes: number): number {
  const daily = priceAt(p, minute) * p.supply * p.turnover;
  return (daily * minutes) / 1440 * (0.6 + 0.8 * unit(p.seed ^ 0x5bd1e995, Math.floor(minute / 60)));
}

function pct(now: number, then: number): number {
  return round((now / then - 1) * 100, 2);
}

export function tokenPrice(p: TokenProfile, nowMs: number) {
  const minute = Math.floor(nowMs / MINUTE_MS);
  const price = priceAt(p, minute);
  return {
    mint: p.mint,
    symbol: p.symbol,
    price: sig(price),
    currency: 'USD',
    change_1h: pct(price, priceAt(p, minute - 60)),
    change_24h: pct(price, priceAt(p, minute - 1440)),
    volume_24h: Math.round(volumeOver(p, minute, 1440)),
    market_cap: Math.round(price * p.supply),
    timestamp: iso(minute * MINUTE_MS),
  };
}

export function holdersCount(p: TokenProfile, nowMs: number): number {
  const rng = new Rng(p.seed ^ 0x68e31da4);
  const base = Math.sqrt(p.basePrice * p.supply) * rng.range(2, 6);
  // Slow growth: about +0.2 % a day from a fixed epoch, so counts are reproducible for a given day.
  const days = Math.floor(nowMs / DAY_MS) - 19_000;
  return Math.max(12, Math.round(base * (1 + 0.002 * clamp(days, 0, 3650))));
}

export function tokenDetail(p: TokenProfile, nowMs: number) {
  const price = tokenPrice(p, nowMs);
  return {
    mint: p.mint,
    name: p.name,
    symbol: p.symbol,
    meme_id: p.meme?.id ?? null,
    decimals: p.decimals,
    total_supply: p.supply,
    price: price.price,
    currency: 'USD',
    market_cap: price.market_cap,
    fdv: price.market_cap,
    volume_24h: price.volume_24h,
    liquidity_usd: Math.round(price.market_cap * p.liquidityRatio),
    change_1h: price.change_1h,
    change_24h: price.change_24h,
    holders_count: holdersCount(p, nowMs),
    dex: p.dex,
    pool_address: base58Address(`pool|${p.mint}|${p.dex}`),
    created_at: iso(p.createdAtMs),
    updated_at: price.timestamp,
  };
}

export type RiskLevel = 'low' | 'medium' | 'high' | 'critical';

/** SecurityReport: rug-check style flags, and a score that follows from them. */
export function securityReport(p: TokenProfile, nowMs: number) {
  const rng = new Rng(p.seed ^ 0x2f0b3c1d);
  const established = p.meme?.verified === true;
  const mintRevoked = established || rng.chance(0.75);
  const freezeRevoked = established || rng.chance(0.8);
  const lpLockedPct = established ? rng.int(85, 100) : rng.chance(0.7) ? rng.int(40, 100) : 0;
  const top10 = round(established ? rng.range(8, 25) : rng.range(12, 70), 1);
  const mutable = rng.chance(established ? 0.1 : 0.45);
  const honeypot = !established && rng.chance(0.04);
  const transferFeeBps = rng.chance(0.9) ? 0 : rng.pick([100, 250, 500]);
  const alerts: string[] = [];
  let score = 100;
  if (!mintRevoked) { score -= 20; alerts.push('mint_authority_enabled'); }
  if (!freezeRevoked) { score -= 15; alerts.push('freeze_authority_enabled'); }
  if (lpLockedPct < 50) { score -= 20; alerts.push(lpLockedPct === 0 ? 'liquidity_unlocked' : 'liquidity_partially_locked'); }
  if (top10 > 40) { score -= Math.round((top10 - 40) / 2); alerts.push('high_holder_concentration'); }
  if (mutable) { score -= 5; alerts.push('mutable_metadata'); }
  if (transferFeeBps > 0) { score -= 8; alerts.push('transfer_fee'); }
  if (honeypot) { score -= 45; alerts.push('honeypot_suspected'); }
  score = clamp(score, 1, 100);
  const risk: RiskLevel = score >= 80 ? 'low' : score >= 60 ? 'medium' : score >= 35 ? 'high' : 'critical';
  return {
    mint: p.mint,
    symbol: p.symbol,
    score,
    risk_level: risk,
    checks: {
      mint_authority_revoked: mintRevoked,
      freeze_authority_revoked: freezeRevoked,
      lp_locked_pct: lpLockedPct,
      top10_holders_pct: top10,
      mutable_metadata: mutable,
      transfer_fee_bps: transferFeeBps,
      honeypot_suspected: honeypot,
    },
    alerts,
    analyzed_at: iso(Math.floor(nowMs / 600_000) * 600_000),
  };
}

const HOLDER_TYPES = ['exchange', 'team', 'wallet', 'wallet', 'wallet', 'whale'] as const;

/** HolderAnalysis: top 10 holders, distribution by balance band, concentration. */
export function holderAnalysis(p: TokenProfile, nowMs: number) {
  const security = securityReport(p, nowMs);
  const count = holdersCount(p, nowMs);
  const rng = new Rng(p.seed ^ 0x7a3e91c5);
  // Split top-10 share into decreasing slices (the pool first), summing to top10_holders_pct.
  const weights = Array.from({ length: 10 }, (_, i) => ((i === 0 ? 3 : 1) * rng.range(0.5, 1)) / (i + 1)).sort((a, b) => b - a);
  const total = weights.reduce((s, w) => s + w, 0);
  const topPct = security.checks.top10_holders_pct;
  const top = weights.map((w, i) => {
    const pctOfSupply = round((w / total) * topPct, 3);
    return {
      rank: i + 1,
      address: base58Address(`holder|${p.mint}|${i}`),
      type: i === 0 ? 'liquidity_pool' : rng.pick(HOLDER_TYPES),
      balance: Math.round((pctOfSupply / 100) * p.supply),
      pct_supply: pctOfSupply,
    };
  });
  const rest = 100 - topPct;
  const bands = [
    { band: '>1%', share: 0 },
    { band: '0.1%-1%', share: 0.35 },
    { band: '0.01%-0.1%', share: 0.35 },
    { band: '<0.01%', share: 0.3 },
  ];
  const holdersByBand = [top.filter((h) => h.pct_supply > 1).length, Math.round(count * 0.004), Math.round(count * 0.05)];
  return {
    mint: p.mint,
    symbol: p.symbol,
    holders_count: count,
    top_holders: top,
    distribution: bands.map((b, i) => ({
      band: b.band,
      holders: i < 3 ? (holdersByBand[i] ?? 0) : Math.max(0, count - holdersByBand.reduce((s, n) => s + n, 0)),
      pct_supply: i === 0 ? round(top.filter((h) => h.pct_supply > 1).reduce((s, h) => s + h.pct_supply, 0), 2) : round(rest * b.share, 2),
    })),
    concentration: {
      top10_pct: topPct,
      top50_pct: round(Math.min(99, topPct * rng.range(1.3, 1.7)), 1),
      gini: round(clamp(0.55 + topPct / 150, 0, 0.99), 3),
    },
    changes: {
      holders_24h: count - holdersCount(p, nowMs - DAY_MS),
      holders_7d: count - holdersCount(p, nowMs - 7 * DAY_MS),
    },
    as_of: iso(Math.floor(nowMs / 600_000) * 600_000),
  };
}
