import { BASE58, DAY_MS, fnv1a, Rng } from './random.ts';

/*
 * The fixed CryptoMeme universe: 200 memes, their tokens and family tree. Identities (ids, names,
 * symbols, mints, lineage, verification state) are the same for live and sandbox keys, so an id
 * copied from sandbox output works with a live key; only the numbers (popularity, prices, scores)
 * use the sandbox seed. Built once, on first use.
 */

export const MEME_CATEGORIES = ['animals', 'reaction', 'politics', 'gaming', 'ai', 'celebrity', 'food', 'sports', 'finance'] as const;
export type MemeCategory = (typeof MEME_CATEGORIES)[number];

export const MEME_COUNT = 200;

export type LineageRelation = 'remix' | 'parody' | 'derivative' | 'format_shift' | 'crossover';

export interface Meme {
  id: string;
  index: number;
  name: string;
  symbol: string;
  category: MemeCategory;
  mint: string | null;
  parentId: string | null;
  relation: LineageRelation | null;
  verified: boolean;
  /** Unverified memes with an open verification request. */
  pending: boolean;
  createdAtMs: number;
  originPlatform: string;
  creator: string;
}

// [name, symbol, category, parent index (1-based) or 0, first seen (year), origin platform] for the well-known head.
const FAMOUS: readonly [string, string, MemeCategory, number, number, string][] = [
  ['Doge', 'DOGE', 'animals', 0, 2013, 'tumblr'],
  ['Pepe the Frog', 'PEPE', 'reaction', 0, 2008, '4chan'],
  ['Wojak', 'WOJAK', 'reaction', 0, 2010, '4chan'],
  ['Nyan Cat', 'NYAN', 'animals', 0, 2011, 'youtube'],
  ['Dogwifhat', 'WIF', 'animals', 1, 2023, 'x'],
  ['Bonk', 'BONK', 'animals', 1, 2022, 'x'],
  ['Popcat', 'POPCAT', 'animals', 0, 2020, 'reddit'],
  ['Grumpy Cat', 'GRUMPY', 'animals', 0, 2012, 'reddit'],
  ['Harambe', 'HARAMBE', 'animals', 0, 2016, 'x'],
  ['Stonks', 'STONKS', 'finance', 0, 2017, 'reddit'],
  ['Chad', 'CHAD', 'reaction', 3, 2017, '4chan'],
  ['Shiba Inu', 'SHIB', 'animals', 1, 2020, 'x'],
  ['Moo Deng', 'MOODENG', 'animals', 0, 2024, 'tiktok'],
  ['Trollface', 'TROLL', 'reaction', 0, 2008, '4chan'],
  ['Rickroll', 'RICK', 'reaction', 0, 2007, '4chan'],
  ['Distracted Boyfriend', 'DBF', 'reaction', 0, 2017, 'x'],
  ['This Is Fine', 'FINE', 'reaction', 0, 2013, 'tumblr'],
  ['Gigachad', 'GIGA', 'reaction', 11, 2018, 'reddit'],
  ['Brett', 'BRETT', 'reaction', 2, 2023, 'x'],
  ['Mog Cat', 'MOG', 'animals', 7, 2023, 'x'],
];

const ADJECTIVES = ['Based', 'Cyber', 'Tiny', 'Angry', 'Sleepy', 'Golden', 'Quantum', 'Degen', 'Laser', 'Rich', 'Sad', 'Smug', 'Turbo', 'Baby', 'Mega', 'Pixel', 'Cosmic', 'Frozen', 'Honest', 'Feral', 'Wholesome', 'Cursed', 'Retro', 'Sigma'];
const NOUNS: Record<MemeCategory, readonly string[]> = {
  animals: ['Frog', 'Shiba', 'Cat', 'Hamster', 'Penguin', 'Goose', 'Capybara', 'Otter', 'Monke', 'Pug', 'Hippo', 'Raccoon'],
  reaction: ['Wojak', 'NPC', 'Boomer', 'Zoomer', 'Doomer', 'Soyjak', 'Gigabrain', 'Cope'],
  politics: ['Senator', 'Tariff', 'Ballot', 'Filibuster', 'Lobbyist', 'Debate'],
  gaming: ['Speedrun', 'Noob', 'Lootbox', 'Creeper', 'Respawn', 'Hitbox'],
  ai: ['Bot', 'GPT', 'Neural', 'Prompt', 'Agent', 'Tensor'],
  celebrity: ['Rapper', 'Influencer', 'Streamer', 'Popstar', 'Billionaire'],
  food: ['Taco', 'Nugget', 'Ramen', 'Pickle', 'Waffle', 'Burrito'],
  sports: ['Goat', 'Striker', 'Dunk', 'Underdog', 'Referee'],
  finance: ['Bagholder', 'Candle', 'Diamond Hands', 'Rugpull', 'Whale', 'Ape'],
};
const PLATFORMS = ['4chan', 'reddit', 'x', 'tiktok', 'tumblr', 'youtube', 'telegram', 'discord'];
const RELATIONS: readonly LineageRelation[] = ['remix', 'parody', 'derivative', 'format_shift', 'crossover'];
const FIRST_SEEN_MIN = Date.UTC(2014, 0, 1);
const FIRST_SEEN_MAX = Date.UTC(2025, 5, 1);

export function memeId(index: number): string {
  return `meme_${String(index).padStart(4, '0')}`;
}

/** Token mint of a meme: a base58 string that only depends on the meme id. */
function mintFor(id: string): string {
  const rng = new Rng(fnv1a(`mint|${id}`));
  // Real Solana mints are 43-44 chars; the first char is never '1' (that would mean a zero byte).
  return rng.chars(BASE58.slice(1), 1) + rng.chars(BASE58, rng.chance(0.5) ? 42 : 43);
}

function symbolFor(name: string, taken: Set<string>): string {
  const words = name.toUpperCase().replace(/[^A-Z ]/g, '').split(' ');
  const base = ((words[0] ?? '').charAt(0) + words.slice(1).join('')).slice(0, 6);
  let symbol = base;
  for (let n = 2; taken.has(symbol); n++) symbol = `${base.slice(0, 5)}${n}`;
  taken.add(symbol);
  return symbol;
}

export interface Universe {
  memes: readonly Meme[];
  byId: ReadonlyMap<string, Meme>;
  byMint: ReadonlyMap<string, Meme>;
  bySymbol: ReadonlyMap<string, Meme>;
  children: ReadonlyMap<string, readonly Meme[]>;
}

function build(): Universe {
  const rng = new Rng(fnv1a('universe|cryptomeme|v1'));
  const memes: Meme[] = [];
  const names = new Set<string>();
  const symbols = new Set<string>();
  for (let index = 1; index <= MEME_COUNT; index++) {
    const id = memeId(index);
    const famous = FAMOUS[index - 1];
    let name: string;
    let symbol: string;
    let category: MemeCategory;
    let parentId: string | null = null;
    let createdAtMs: number;
    let originPlatform: string;
    if (famous) {
      [name, symbol, category] = famous;
      symbols.add(symbol);
      if (famous[3] > 0) parentId = memeId(famous[3]);
      createdAtMs = Date.UTC(famous[4], rng.int(0, 11), rng.int(1, 28), rng.int(0, 23), rng.int(0, 59));
      originPlatform = famous[5];
    } else {
      category = rng.pick(MEME_CATEGORIES);
      do name = `${rng.pick(ADJECTIVES)} ${rng.pick(NOUNS[category])}`;
      while (names.has(name));
      symbol = symbolFor(name, symbols);
      createdAtMs = Math.floor(rng.range(FIRST_SEEN_MIN, FIRST_SEEN_MAX) / 60_000) * 60_000;
      originPlatform = rng.pick(PLATFORMS);
      if (rng.chance(0.65)) {
        // Prefer an earlier meme of the same category as the parent, so families make sense.
        const sameCategory = memes.filter((m) => m.category === category && m.createdAtMs < createdAtMs);
        const pool = sameCategory.length > 0 && rng.chance(0.7) ? sameCategory : memes.filter((m) => m.createdAtMs < createdAtMs);
        if (pool.length > 0) parentId = rng.pick(pool).id;
      }
    }
    names.add(name);
    const verified = famous !== undefined ? index <= 12 || rng.chance(0.5) : rng.chance(0.35);
    memes.push({
      id,
      index,
      name,
      symbol,
      category,
      mint: famous !== undefined || rng.chance(0.85) ? mintFor(id) : null,
      parentId,
      relation: parentId === null ? null : rng.pick(RELATIONS),
      verified,
      pending: !verified && rng.chance(0.3),
      createdAtMs,
      originPlatform,
      creator: rng.chance(0.6) ? `anon_${rng.chars('abcdefghijklmnopqrstuvwxyz0123456789', 6)}` : 'unknown',
    });
  }
  const byId = new Map(memes.map((m) => [m.id, m]));
  const byMint = new Map<string, Meme>();
  const bySymbol = new Map<string, Meme>();
  const children = new Map<string, Meme[]>();
  for (const meme of memes) {
    if (meme.mint !== null) byMint.set(meme.mint, meme);
    bySymbol.set(meme.symbol, meme);
    if (meme.parentId !== null) {
      const list = children.get(meme.parentId) ?? [];
      list.push(meme);
      children.set(meme.parentId, list);
    }
  }
  return { memes, byId, byMint, bySymbol, children };
}

let cached: Universe | undefined;

export function universe(): Universe {
  cached ??= build();
  return cached;
}

/** Popularity 0-100 per mode: well-known memes rank high, the long tail low. Cached per mode. */
const popularityCache = new Map<boolean, Float64Array>();

export function popularity(meme: Meme, sandbox: boolean): number {
  let table = popularityCache.get(sandbox);
  if (!table) {
    table = new Float64Array(MEME_COUNT + 1);
    for (const m of universe().memes) {
      const rng = Rng.of('popularity', m.id, sandbox);
      const head = m.index <= FAMOUS.length ? 55 + (FAMOUS.length - m.index) * 1.5 : 8;
      table[m.index] = Math.min(99.5, Math.round((head + rng.range(0, 40) * (m.verified ? 1 : 0.6)) * 10) / 10);
    }
    popularityCache.set(sandbox, table);
  }
  return table[meme.index] ?? 0;
}

/** Days since first seen, for "longevity" style metrics. */
export function ageDays(meme: Meme, nowMs: number): number {
  return Math.max(0, Math.floor((nowMs - meme.createdAtMs) / DAY_MS));
}
