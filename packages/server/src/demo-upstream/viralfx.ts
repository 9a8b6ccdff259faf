import { clamp, DAY_MS, iso, MINUTE_MS, Rng, round, seedOf, unit } from './random.ts';
import { invalid, notFound, paginate, queryPage, querySearch, requiredQuery } from './validate.ts';

/*
 * ViralFX products (blueprint "Available Products"): Social Mood Index, VTS symbol feed and
 * ViralScore, over one fixed universe of VTS symbols `V:<REGION>:<SECTOR>:<TICKER>`. The mood
 * score is a closed-form function of (symbol, minute), so GET /smi/v1/score (benchmarked) is a map
 * lookup plus a handful of sines, and "1 h ago" or "in 6 h" costs one more evaluation.
 */

const REGIONS: Record<string, string> = { GLB: 'Global', US: 'United States', ZA: 'South Africa', UK: 'United Kingdom', EU: 'European Union', NG: 'Nigeria', IN: 'India', BR: 'Brazil', JP: 'Japan', KE: 'Kenya' };
const SECTORS: Record<string, string> = { POL: 'Politics', TEC: 'Technology', CRY: 'Crypto', FIN: 'Finance', SPT: 'Sports', MUS: 'Music', ENT: 'Entertainment', CUL: 'Culture', CLM: 'Climate', HLT: 'Health' };

// [symbol, name]: the fixed demo universe.
const SYMBOLS: readonly (readonly [string, string])[] = [
  ['V:GLB:POL:TRMPTAX', 'Trump tariff tax'], ['V:US:POL:ELECT28', 'US 2028 presidential race'], ['V:ZA:POL:GNU', 'Government of National Unity'],
  ['V:ZA:POL:ESKOM', 'Eskom load-shedding'], ['V:UK:POL:BREXIT', 'Brexit aftermath'], ['V:EU:POL:AIACT', 'EU AI Act'], ['V:NG:POL:NAIRA', 'Naira devaluation'],
  ['V:IN:POL:MODI', 'Modi approval'], ['V:GLB:TEC:OPENAI', 'OpenAI'], ['V:GLB:TEC:NVDA', 'AI chip rally'], ['V:US:TEC:TSLA', 'Tesla'], ['V:GLB:TEC:APPLE', 'Apple launches'],
  ['V:ZA:TEC:STRLNK', 'Starlink in South Africa'], ['V:GLB:TEC:QUANTUM', 'Quantum computing'], ['V:GLB:CRY:BTC', 'Bitcoin'], ['V:GLB:CRY:ETH', 'Ethereum'],
  ['V:GLB:CRY:SOL', 'Solana'], ['V:GLB:CRY:MEMECOIN', 'Memecoin season'], ['V:US:CRY:BTCETF', 'Bitcoin ETF flows'], ['V:GLB:FIN:FEDRATE', 'Fed rate decisions'],
  ['V:ZA:FIN:ZARUSD', 'Rand vs dollar'], ['V:ZA:FIN:SARB', 'SARB repo rate'], ['V:GLB:FIN:GOLD', 'Gold price'], ['V:US:FIN:RECESS', 'US recession fears'],
  ['V:GLB:FIN:OIL', 'Oil price'], ['V:KE:FIN:MPESA', 'M-Pesa'], ['V:ZA:SPT:BOKKE', 'Springboks'], ['V:ZA:SPT:BAFANA', 'Bafana Bafana'], ['V:GLB:SPT:FIFA26', 'FIFA World Cup 2026'],
  ['V:UK:SPT:EPL', 'Premier League'], ['V:US:SPT:NBA', 'NBA Finals'], ['V:GLB:SPT:F1', 'Formula 1'], ['V:IN:SPT:IPL', 'IPL cricket'], ['V:BR:SPT:NEYMAR', 'Neymar'],
  ['V:ZA:MUS:AMAPNO', 'Amapiano'], ['V:NG:MUS:AFROB', 'Afrobeats'], ['V:US:MUS:TSWIFT', 'Taylor Swift'], ['V:GLB:MUS:KPOP', 'K-pop'], ['V:GLB:ENT:NETFLX', 'Netflix releases'],
  ['V:US:ENT:OSCARS', 'Oscars'], ['V:ZA:ENT:BBMZANSI', 'Big Brother Mzansi'], ['V:GLB:ENT:MARVEL', 'Marvel'], ['V:JP:ENT:ANIME', 'Anime'], ['V:GLB:CUL:TIKTOK', 'TikTok trends'],
  ['V:GLB:CUL:LABUBU', 'Labubu craze'], ['V:GLB:CUL:BRAINRT', 'Brainrot memes'], ['V:GLB:CLM:COP30', 'COP30 climate summit'], ['V:ZA:CLM:WATER', 'Water crisis'],
  ['V:GLB:HLT:GLP1', 'GLP-1 weight-loss drugs'], ['V:GLB:HLT:BIRDFLU', 'Bird flu'],
];

const SOURCE_NAMES = ['x', 'reddit', 'tiktok', 'news', 'youtube'] as const;
const COMPONENTS = ['sentiment', 'engagement', 'velocity', 'reach', 'consensus'] as const;
// Wave periods in minutes: ~3 h, ~daily, ~3 days.
const P1 = 181;
const P2 = 1439;
const P3 = 4327;

interface VtsSymbol {
  symbol: string;
  name: string;
  region: string;
  sector: string;
  ticker: string;
  seed: number;
  base: number;
  amps: readonly [number, number, number];
  phases: readonly [number, number, number];
  componentOffsets: readonly number[];
  sources: Record<string, number>;
  hourlyMentions: number;
  listedAtMs: number;
}

const universes = new Map<boolean, Map<string, VtsSymbol>>();

function vtsUniverse(sandbox: boolean): Map<string, VtsSymbol> {
  let map = universes.get(sandbox);
  if (map) return map;
  map = new Map();
  for (const [symbol, name] of SYMBOLS) {
    const [, region = '', sector = '', ticker = ''] = symbol.split(':');
    const rng = Rng.of('vts', symbol, sandbox);
    const shares = SOURCE_NAMES.map(() => rng.range(0.1, 1));
    const total = shares.reduce((s, x) => s + x, 0);
    map.set(symbol, {
      symbol, name, region, sector, ticker,
      seed: seedOf('smi', symbol, sandbox),
      base: rng.range(30, 72),
      amps: [rng.range(1.5, 4), rng.range(5, 11), rng.range(6, 15)],
      phases: [rng.range(0, 6.283), rng.range(0, 6.283), rng.range(0, 6.283)],
      componentOffsets: COMPONENTS.map(() => rng.range(-15, 15)),
      sources: Object.fromEntries(SOURCE_NAMES.map((s, i) => [s, round(((shares[i] ?? 0) / total) * 100, 1)])),
      hourlyMentions: Math.round(rng.logRange(1_500, 80_000)),
      listedAtMs: Date.UTC(2024, 0, 1) + rng.int(0, 500) * DAY_MS,
    });
  }
  universes.set(sandbox, map);
  return map;
}

const SYMBOL_RE = /^V:[A-Z]{2,4}:[A-Z]{3}:[A-Z0-9]{1,12}$/;

function requireSymbol(raw: string, field: string, sandbox: boolean): VtsSymbol {
  const symbol = raw.trim().toUpperCase();
  if (!SYMBOL_RE.test(symbol)) throw invalid(field, `"${field}" must look like V:<REGION>:<SECTOR>:<TICKER>, e.g. V:GLB:POL:TRMPTAX; got "${raw}"`);
  const found = vtsUniverse(sandbox).get(symbol);
  if (!found) throw notFound('vts_symbol', symbol, `No VTS symbol ${symbol}; GET /vts/v1/symbols lists them`);
  return found;
}

/** Social mood 0-100 at an epoch minute. */
function smiAt(s: VtsSymbol, minute: number): number {
  const v =
    s.base +
    s.amps[0] * Math.sin((6.283185307 * minute) / P1 + s.phases[0]) +
    s.amps[1] * Math.sin((6.283185307 * minute) / P2 + s.phases[1]) +
    s.amps[2] * Math.sin((6.283185307 * minute) / P3 + s.phases[2]) +
    3 * (unit(s.seed, minute) - 0.5);
  return clamp(v, 0, 100);
}

function direction(change: number): 'rising' | 'falling' | 'flat' {
  return change > 0.5 ? 'rising' : change < -0.5 ? 'falling' : 'flat';
}

function mood(score: number): 'euphoric' | 'positive' | 'neutral' | 'negative' | 'fearful' {
  return score >= 80 ? 'euphoric' : score >= 60 ? 'positive' : score >= 40 ? 'neutral' : score >= 20 ? 'negative' : 'fearful';
}

function mentionsInHour(s: VtsSymbol, minute: number): number {
  return Math.round(s.hourlyMentions * (0.7 + 0.6 * unit(s.seed ^ 0x9e3779b9, Math.floor(minute / 60))));
}

export function smiScore(query: Record<string, unknown>, sandbox: boolean, nowMs: number) {
  const s = requireSymbol(requiredQuery(query, 'symbol', 'V:GLB:POL:TRMPTAX'), 'symbol', sandbox);
  const minute = Math.floor(nowMs / MINUTE_MS);
  const score = smiAt(s, minute);
  const change1h = score - smiAt(s, minute - 60);
  const components: Record<string, number> = {};
  for (let i = 0; i < COMPONENTS.length; i++) {
    components[COMPONENTS[i] as string] = round(clamp(score + (s.componentOffsets[i] ?? 0) + 4 * (unit(s.seed + i + 1, minute) - 0.5), 0, 100), 1);
  }
  const sample = mentionsInHour(s, minute);
  return {
    symbol: s.symbol,
    name: s.name,
    score: round(score, 1),
    mood: mood(score),
    components,
    momentum: { change_1h: round(change1h, 2), change_24h: round(score - smiAt(s, minute - 1440), 2), direction: direction(change1h) },
    confidence: round(clamp(0.5 + Math.log10(sample) / 10, 0, 0.98), 2),
    sample_size: sample,
    sources: { ...s.sources },
    window: '1h',
    timestamp: iso(minute * MINUTE_MS),
    next_update_at: iso((minute + 1) * MINUTE_MS),
  };
}

function listItem(s: VtsSymbol, minute: number) {
  const score = smiAt(s, minute);
  return {
    symbol: s.symbol,
    name: s.name,
    region: s.region,
    sector: s.sector,
    status: 'active',
    smi_score: round(score, 1),
    change_24h: round(score - smiAt(s, minute - 1440), 2),
  };
}

export function listSymbols(query: Record<string, unknown>, sandbox: boolean, nowMs: number) {
  const search = querySearch(query);
  const page = queryPage(query, 20, 100);
  const minute = Math.floor(nowMs / MINUTE_MS);
  const all = [...vtsUniverse(sandbox).values()].filter(
    (s) => search === undefined || s.symbol.toLowerCase().includes(search) || s.name.toLowerCase().includes(search),
  );
  return { ...paginate(all, page, (s) => listItem(s, minute)), filters: { search: search ?? null } };
}

export function symbolDetail(raw: string | undefined, sandbox: boolean, nowMs: number) {
  const s = requireSymbol(raw ?? '', 'symbol', sandbox);
  const minute = Math.floor(nowMs / MINUTE_MS);
  const score = smiAt(s, minute);
  const change1h = score - smiAt(s, minute - 60);
  const related = SYMBOLS.filter(([sym]) => sym !== s.symbol && sym.split(':')[2] === s.sector).slice(0, 4).map(([sym]) => sym);
  let mentions = 0;
  for (let h = 0; h < 24; h++) mentions += mentionsInHour(s, minute - h * 60);
  return {
    symbol: s.symbol,
    name: s.name,
    ticker: s.ticker,
    region: { code: s.region, name: REGIONS[s.region] ?? s.region },
    sector: { code: s.sector, name: SECTORS[s.sector] ?? s.sector },
    status: 'active',
    listed_at: iso(s.listedAtMs),
    smi_score: round(score, 1),
    momentum: {
      score: round(clamp(50 + change1h * 5, 0, 100), 1),
      change_1h: round(change1h, 2),
      change_24h: round(score - smiAt(s, minute - 1440), 2),
      change_7d: round(score - smiAt(s, minute - 7 * 1440), 2),
      direction: direction(change1h),
    },
    mentions_24h: mentions,
    sources: { ...s.sources },
    related_symbols: related,
    updated_at: iso(minute * MINUTE_MS),
  };
}

export function viralScore(query: Record<string, unknown>, sandbox: boolean, nowMs: number) {
  const s = requireSymbol(requiredQuery(query, 'symbol', 'V:GLB:POL:TRMPTAX'), 'symbol', sandbox);
  const minute = Math.floor(nowMs / MINUTE_MS);
  const score = smiAt(s, minute);
  const change1h = score - smiAt(s, minute - 60);
  const change24h = score - smiAt(s, minute - 1440);
  // The "forecast" is the same closed-form curve evaluated ahead: consistent with later SMI calls.
  const forecast = Array.from({ length: 6 }, (_, i) => {
    const m = minute + (i + 1) * 240;
    return { t: iso(m * MINUTE_MS), score: round(smiAt(s, m), 1) };
  });
  let peakMinute = minute;
  let peak = score;
  for (let h = 1; h <= 24; h++) {
    const v = smiAt(s, minute + h * 60);
    if (v > peak) { peak = v; peakMinute = minute + h * 60; }
  }
  const viral = clamp(score * 0.55 + change1h * 3 + change24h * 0.8 + Math.log10(s.hourlyMentions) * 6, 0, 100);
  // Stage from level and slope: near the 24 h peak → peaking; clearly falling → decaying.
  const stage =
    score < 25 && change1h <= 1 ? 'dormant'
      : peak - score < 2 ? 'peaking'
        : change1h < -1 ? 'decaying'
          : change1h > 1 && score >= 45 ? 'accelerating'
            : 'emerging';
  return {
    symbol: s.symbol,
    name: s.name,
    viral_score: round(viral, 1),
    probability_viral_24h: round(clamp((viral - 30) / 70, 0.01, 0.99), 3),
    stage,
    growth_rate_pct_per_hour: round((change1h / Math.max(1, score)) * 100, 2),
    predicted_peak_at: iso(peakMinute * MINUTE_MS),
    predicted_peak_score: round(peak, 1),
    predicted_reach_24h: Math.round(s.hourlyMentions * 24 * (40 + viral * 4)),
    confidence: round(clamp(0.55 + Math.log10(s.hourlyMentions) / 15 - Math.abs(change1h) / 40, 0.3, 0.95), 2),
    forecast,
    drivers: [
      { factor: 'mention_velocity', weight: round(clamp(0.3 + change1h / 20, 0.05, 0.6), 2) },
      { factor: 'cross_platform_spread', weight: round(Math.max(...Object.values(s.sources)) < 35 ? 0.3 : 0.15, 2) },
      { factor: 'mood_level', weight: round(score / 250, 2) },
    ],
    model_version: 'viralscore-demo-1',
    timestamp: iso(minute * MINUTE_MS),
    horizon_hours: 24,
    next_update_at: iso((minute + 1) * MINUTE_MS),
  };
}
