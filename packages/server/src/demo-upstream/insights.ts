import { clamp, HOUR_MS, iso, MINUTE_MS, Rng, round, seedOf, unit } from './random.ts';
import { priceAt, securityReport, tokenPrice, tokenProfile, volumeOver, type TokenProfile } from './tokens.ts';
import { MEME_CATEGORIES, universe } from './universe.ts';
import { invalid, isMint, notFound, queryInt, queryString, requireMint } from './validate.ts';

/*
 * CryptoMeme sentiment and advanced analytics (HLD §7.1 "Sentiment Data", §6.2
 * `/analytics/advanced`). Sentiment moves per hour, prices per minute; both are closed-form in
 * time, so "24 h ago" values cost one evaluation each.
 */

const SOURCES = ['x', 'reddit', 'telegram', 'discord', 'tiktok'] as const;

/** A token path segment: a mint, or the symbol of a universe meme (DOGE, $WIF). */
export function resolveToken(raw: string | undefined, sandbox: boolean): TokenProfile {
  const value = (raw ?? '').trim();
  if (isMint(value)) return tokenProfile(value, sandbox);
  const symbol = value.replace(/^\$/, '').toUpperCase();
  if (!/^[A-Z0-9]{2,10}$/.test(symbol)) throw invalid('token', `"token" must be a mint address (32-44 base58 characters) or a token symbol such as DOGE; got "${value}"`);
  const meme = universe().bySymbol.get(symbol);
  if (!meme || meme.mint === null) throw notFound('token', symbol, `No tracked token with symbol ${symbol}`);
  return tokenProfile(meme.mint, sandbox);
}

/** Sentiment in -1..1 at an epoch hour: a token-specific bias plus two slow waves and noise. */
function sentimentAt(seed: number, hour: number): number {
  const bias = (unit(seed, -1) - 0.4) * 1.2;
  const phase = unit(seed, -2) * 6.283;
  const wave = 0.5 * Math.sin((6.283 * hour) / 29 + phase) + 0.3 * Math.sin((6.283 * hour) / 173 + phase * 2);
  return Math.tanh(bias + wave + 0.5 * (unit(seed, hour) - 0.5));
}

function mentionsAt(p: TokenProfile, seed: number, hour: number): number {
  const base = Math.sqrt(p.basePrice * p.supply) / 20;
  return Math.round(base * (0.5 + unit(seed ^ 0x3c6ef372, hour)) * (1 + 0.4 * Math.sin((6.283 * hour) / 24)));
}

function label(score: number): 'very_negative' | 'negative' | 'neutral' | 'positive' | 'very_positive' {
  return score <= -0.6 ? 'very_negative' : score <= -0.2 ? 'negative' : score < 0.2 ? 'neutral' : score < 0.6 ? 'positive' : 'very_positive';
}

function sum24(fn: (hour: number) => number, hour: number): number {
  let total = 0;
  for (let h = hour - 23; h <= hour; h++) total += fn(h);
  return total;
}

export function sentimentReport(p: TokenProfile, sandbox: boolean, nowMs: number) {
  const seed = seedOf('sentiment', p.mint, sandbox);
  const hour = Math.floor(nowMs / HOUR_MS);
  const score = sentimentAt(seed, hour);
  const rng = new Rng(seed);
  const mentions = sum24((h) => mentionsAt(p, seed, h), hour);
  const shares = SOURCES.map(() => rng.range(0.2, 1));
  const shareTotal = shares.reduce((s, x) => s + x, 0);
  const signals = [];
  if (score > 0.5) signals.push({ type: 'hype_cycle', strength: round(score, 2), description: 'Sustained positive chatter across sources' });
  if (score < -0.4) signals.push({ type: 'fud_spike', strength: round(-score, 2), description: 'Negative posts outpace positive ones' });
  if (rng.chance(0.35)) signals.push({ type: 'influencer_mention', strength: round(rng.range(0.3, 0.9), 2), description: `Mentioned by an account with ${rng.int(50, 900)}k followers` });
  if (rng.chance(0.25)) signals.push({ type: 'whale_chatter', strength: round(rng.range(0.2, 0.8), 2), description: 'Large holders discussing positions in public channels' });
  return {
    token: { mint: p.mint, symbol: p.symbol, name: p.name, meme_id: p.meme?.id ?? null },
    score: round(score, 3),
    label: label(score),
    sentiment_index: Math.round((score + 1) * 50),
    confidence: round(clamp(0.45 + Math.log10(mentions + 1) / 10, 0, 0.97), 2),
    change_24h: round(score - sentimentAt(seed, hour - 24), 3),
    mentions_24h: mentions,
    sources: SOURCES.map((source, i) => ({
      source,
      mentions: Math.round((mentions * (shares[i] ?? 0)) / shareTotal),
      score: round(clamp(score + (rng.next() - 0.5) * 0.4, -1, 1), 3),
    })),
    signals,
    hourly: Array.from({ length: 24 }, (_, i) => {
      const h = hour - 23 + i;
      return { t: iso(h * HOUR_MS), score: round(sentimentAt(seed, h), 3), mentions: mentionsAt(p, seed, h) };
    }),
    updated_at: iso(hour * HOUR_MS),
  };
}

function trendingEntries(sandbox: boolean, nowMs: number) {
  const hour = Math.floor(nowMs / HOUR_MS);
  return universe()
    .memes.filter((m) => m.mint !== null)
    .map((meme) => {
      const p = tokenProfile(meme.mint as string, sandbox);
      const seed = seedOf('sentiment', p.mint, sandbox);
      const score = sentimentAt(seed, hour);
      const mentions = mentionsAt(p, seed, hour) + mentionsAt(p, seed, hour - 1);
      const before = mentionsAt(p, seed, hour - 24) + mentionsAt(p, seed, hour - 25);
      const mentionsChange = (mentions / Math.max(1, before) - 1) * 100;
      const scoreChange = score - sentimentAt(seed, hour - 24);
      return { meme, p, score, scoreChange, mentionsChange, trend: scoreChange * 100 + mentionsChange * 0.5 + Math.log10(mentions + 1) * 5 };
    });
}

export function trending(query: Record<string, unknown>, sandbox: boolean, nowMs: number) {
  const limit = queryInt(query, 'limit', 20, 1, 50);
  const entries = trendingEntries(sandbox, nowMs).sort((a, b) => b.trend - a.trend || a.meme.index - b.meme.index);
  return {
    window: '24h',
    data: entries.slice(0, limit).map((e, i) => ({
      rank: i + 1,
      mint: e.p.mint,
      symbol: e.p.symbol,
      name: e.p.name,
      meme_id: e.meme.id,
      sentiment_score: round(e.score, 3),
      sentiment_label: label(e.score),
      sentiment_change_24h: round(e.scoreChange, 3),
      mentions_change_pct: round(e.mentionsChange, 1),
      price_change_24h: tokenPrice(e.p, nowMs).change_24h,
      trend_score: round(e.trend, 1),
    })),
    updated_at: iso(Math.floor(nowMs / HOUR_MS) * HOUR_MS),
  };
}

function tokenAnalytics(p: TokenProfile, sandbox: boolean, nowMs: number) {
  const minute = Math.floor(nowMs / MINUTE_MS);
  // Hourly closes over 7 days drive volatility, RSI and drawdown.
  const closes = Array.from({ length: 169 }, (_, i) => priceAt(p, minute - (168 - i) * 60));
  const returns = closes.slice(1).map((c, i) => Math.log(c / (closes[i] ?? c)));
  const stdev = (xs: number[]) => {
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    return Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length);
  };
  const last14 = returns.slice(-14);
  const gains = last14.reduce((s, r) => s + Math.max(0, r), 0);
  const losses = last14.reduce((s, r) => s + Math.max(0, -r), 0);
  let peak = 0;
  let drawdown = 0;
  for (const c of closes) {
    peak = Math.max(peak, c);
    drawdown = Math.max(drawdown, 1 - c / peak);
  }
  const rng = Rng.of('analytics', p.mint, sandbox);
  const price = tokenPrice(p, nowMs);
  const security = securityReport(p, nowMs);
  const sentiment = sentimentAt(seedOf('sentiment', p.mint, sandbox), Math.floor(nowMs / HOUR_MS));
  const liquidity = price.market_cap * p.liquidityRatio;
  return {
    scope: 'token',
    mint: p.mint,
    symbol: p.symbol,
    price: price.price,
    volatility_24h_pct: round(stdev(returns.slice(-24)) * Math.sqrt(24) * 100, 2),
    volatility_7d_pct: round(stdev(returns) * Math.sqrt(168) * 100, 2),
    rsi_14h: round(losses === 0 ? 100 : 100 - 100 / (1 + gains / losses), 1),
    max_drawdown_7d_pct: round(drawdown * 100, 2),
    volume_to_market_cap: round(price.volume_24h / Math.max(1, price.market_cap), 4),
    buy_sell_ratio: round(clamp(1 + price.change_24h / 50 + (rng.next() - 0.5) * 0.3, 0.2, 5), 2),
    whale_netflow_24h: Math.round(price.volume_24h * (rng.next() - 0.45) * 0.2),
    smart_money_score: Math.round(clamp(50 + sentiment * 25 + (rng.next() - 0.5) * 30, 0, 100)),
    liquidity_depth: { plus_2pct: Math.round(liquidity * 0.04), minus_2pct: Math.round(liquidity * 0.035) },
    sentiment_score: round(sentiment, 3),
    security_score: security.score,
    risk_score: Math.round(clamp(100 - security.score + drawdown * 60, 0, 100)),
    as_of: price.timestamp,
  };
}

function marketAnalytics(sandbox: boolean, nowMs: number) {
  const tokens = universe()
    .memes.filter((m) => m.mint !== null)
    .map((meme) => {
      const p = tokenProfile(meme.mint as string, sandbox);
      return { meme, p, price: tokenPrice(p, nowMs), risk: securityReport(p, nowMs).risk_level };
    });
  const totalCap = tokens.reduce((s, t) => s + t.price.market_cap, 0);
  const byChange = [...tokens].sort((a, b) => b.price.change_24h - a.price.change_24h || a.meme.index - b.meme.index);
  const mover = (t: (typeof tokens)[number]) => ({ mint: t.p.mint, symbol: t.p.symbol, price: t.price.price, change_24h: t.price.change_24h });
  const minute = Math.floor(nowMs / MINUTE_MS);
  const advancers = tokens.filter((t) => t.price.change_24h > 0).length;
  return {
    scope: 'market',
    tokens_tracked: tokens.length,
    total_market_cap: Math.round(totalCap),
    volume_24h: Math.round(tokens.reduce((s, t) => s + volumeOver(t.p, minute, 1440), 0)),
    advancers,
    decliners: tokens.length - advancers,
    greed_index: Math.round(clamp(50 + ((advancers / tokens.length) - 0.5) * 120, 0, 100)),
    top_gainers: byChange.slice(0, 5).map(mover),
    top_losers: byChange.slice(-5).reverse().map(mover),
    categories: MEME_CATEGORIES.map((category) => {
      const members = tokens.filter((t) => t.meme.category === category);
      const cap = members.reduce((s, t) => s + t.price.market_cap, 0);
      const weighted = members.reduce((s, t) => s + t.price.market_cap * t.price.change_24h, 0);
      return { category, tokens: members.length, market_cap: Math.round(cap), share_pct: round((cap / totalCap) * 100, 2), change_24h: round(cap === 0 ? 0 : weighted / cap, 2) };
    }),
    risk_distribution: {
      low: tokens.filter((t) => t.risk === 'low').length,
      medium: tokens.filter((t) => t.risk === 'medium').length,
      high: tokens.filter((t) => t.risk === 'high').length,
      critical: tokens.filter((t) => t.risk === 'critical').length,
    },
    as_of: iso(minute * MINUTE_MS),
  };
}

export function advancedAnalytics(query: Record<string, unknown>, sandbox: boolean, nowMs: number) {
  const mint = queryString(query, 'mint')?.trim();
  if (mint === undefined || mint === '') return marketAnalytics(sandbox, nowMs);
  return tokenAnalytics(tokenProfile(requireMint(mint, 'mint'), sandbox), sandbox, nowMs);
}

