import { ageDays, MEME_CATEGORIES, popularity, universe, type Meme, type MemeCategory } from './universe.ts';
import { HOUR_MS, iso, Rng, seedOf, unit } from './random.ts';
import { sealOf } from './seals.ts';
import { tokenPrice, tokenProfile } from './tokens.ts';
import { invalid, notFound, paginate, queryBool, queryEnum, queryInt, queryPage, querySearch } from './validate.ts';

/*
 * Meme data (HLD §7.1 "Meme Data"). §6.2 sells `/memes` in two depths: Free plans see the basic
 * fields, Developer+ (entitlement `memes:full`) also see market, origin and social data.
 */

export type Detail = 'basic' | 'full';

export function detailFor(entitlements: ReadonlySet<string>): Detail {
  return entitlements.has('memes:full') ? 'full' : 'basic';
}

export function requireMeme(id: string | undefined, field: string): Meme {
  const meme = id === undefined ? undefined : universe().byId.get(id);
  if (!meme) {
    if (id === undefined || !/^meme_\d{4}$/.test(id)) throw invalid(field, `"${field}" must be a meme id like meme_0001; got "${id ?? ''}"`);
    throw notFound('meme', id, `No meme with id ${id}`);
  }
  return meme;
}

function imageUrl(meme: Meme): string {
  return `https://cdn.cryptomeme.org/memes/${meme.id}.webp`;
}

function basicView(meme: Meme) {
  return {
    id: meme.id,
    name: meme.name,
    symbol: meme.symbol,
    category: meme.category,
    image_url: imageUrl(meme),
    token_mint: meme.mint,
    verified: meme.verified,
  };
}

function marketCap(meme: Meme, sandbox: boolean, nowMs: number): number | null {
  return meme.mint === null ? null : tokenPrice(tokenProfile(meme.mint, sandbox), nowMs).market_cap;
}

const CATEGORY_ADJECTIVE: Record<MemeCategory, string> = { animals: 'animal', reaction: 'reaction', politics: 'political', gaming: 'gaming', ai: 'AI', celebrity: 'celebrity', food: 'food', sports: 'sports', finance: 'finance' };

function description(meme: Meme): string {
  const lineage = meme.parentId === null ? 'an original format' : `a ${meme.relation?.replace('_', ' ')} of ${universe().byId.get(meme.parentId)?.name ?? meme.parentId}`;
  const kind = CATEGORY_ADJECTIVE[meme.category];
  return `${meme.name} is ${/^[aeiouAEIOU]/.test(kind) ? 'an' : 'a'} ${kind} meme first seen on ${meme.originPlatform} in ${new Date(meme.createdAtMs).getUTCFullYear()}, ${lineage}.`;
}

function fullView(meme: Meme, sandbox: boolean, nowMs: number) {
  const rng = Rng.of('meme-social', meme.id, sandbox);
  const pop = popularity(meme, sandbox);
  // Social counts scale with popularity and breathe over the day (hour buckets keep them stable within an hour).
  const hourly = 0.85 + 0.3 * unit(seedOf('meme-hourly', meme.id, sandbox), Math.floor(nowMs / HOUR_MS));
  const reach = 10 ** (1.5 + pop / 25);
  const seal = sealOf(meme, sandbox);
  const holders = meme.mint === null ? null : Math.round(reach * rng.range(0.3, 1.2));
  return {
    ...basicView(meme),
    description: description(meme),
    tags: [meme.category, meme.originPlatform, ...(meme.parentId === null ? ['original'] : [meme.relation ?? 'derivative'])],
    popularity_score: pop,
    market_cap: marketCap(meme, sandbox, nowMs),
    holders_count: holders,
    origin: {
      platform: meme.originPlatform,
      first_seen_at: iso(meme.createdAtMs),
      creator: meme.creator,
      parent_id: meme.parentId,
      age_days: ageDays(meme, nowMs),
    },
    social: {
      x_mentions_24h: Math.round(reach * rng.range(0.5, 2) * hourly),
      reddit_posts_24h: Math.round((reach / 40) * rng.range(0.3, 1.5) * hourly),
      tiktok_views_24h: Math.round(reach * rng.range(20, 120) * hourly),
      telegram_members: meme.mint === null ? null : Math.round(reach * rng.range(0.1, 0.8)),
    },
    culture_seal: seal === null ? null : { seal_score: seal.seal_score, tier: seal.tier, issued_at: seal.issued_at },
    verification_status: meme.verified ? 'verified' : meme.pending ? 'pending' : 'unverified',
    created_at: iso(meme.createdAtMs),
    updated_at: iso(Math.floor(nowMs / HOUR_MS) * HOUR_MS),
  };
}

export function memeView(meme: Meme, detail: Detail, sandbox: boolean, nowMs: number) {
  return detail === 'full' ? fullView(meme, sandbox, nowMs) : basicView(meme);
}

const SORTS = ['popularity', 'recent', 'market_cap'] as const;

export function listMemes(query: Record<string, unknown>, detail: Detail, sandbox: boolean, nowMs: number) {
  const search = querySearch(query);
  const category = queryEnum(query, 'category', MEME_CATEGORIES, undefined);
  const verifiedOnly = queryBool(query, 'verified_only');
  const sort = queryEnum(query, 'sort', SORTS, 'popularity');
  const page = queryPage(query, 20, 100);
  let memes = universe().memes.filter(
    (m) =>
      (category === undefined || m.category === category) &&
      (!verifiedOnly || m.verified) &&
      (search === undefined || m.name.toLowerCase().includes(search) || m.symbol.toLowerCase().includes(search) || m.id === search),
  );
  if (sort === 'popularity') {
    memes = memes.sort((a, b) => popularity(b, sandbox) - popularity(a, sandbox) || a.index - b.index);
  } else if (sort === 'recent') {
    memes = memes.sort((a, b) => b.createdAtMs - a.createdAtMs || a.index - b.index);
  } else {
    // Memes without a token have no market cap: they sort last.
    const caps = new Map(memes.map((m) => [m.id, marketCap(m, sandbox, nowMs) ?? -1]));
    memes = memes.sort((a, b) => (caps.get(b.id) ?? -1) - (caps.get(a.id) ?? -1) || a.index - b.index);
  }
  return {
    detail,
    ...paginate(memes, page, (m) => memeView(m, detail, sandbox, nowMs)),
    filters: { search: search ?? null, category: category ?? null, verified_only: verifiedOnly, sort },
  };
}

interface GraphNode {
  id: string;
  name: string;
  symbol: string;
  category: string;
  generation: number;
  relation: 'self' | 'ancestor' | 'descendant';
}

const MAX_NODES = 100;

/** GenealogyGraph: the ancestor chain up to the root, the meme, and its descendants to `depth`. */
export function genealogy(meme: Meme, query: Record<string, unknown>) {
  const depth = queryInt(query, 'depth', 3, 1, 5);
  const { byId, children } = universe();
  const ancestors: Meme[] = [];
  for (let cur = meme; cur.parentId !== null; ) {
    const parent = byId.get(cur.parentId);
    if (!parent) break;
    ancestors.unshift(parent);
    cur = parent;
  }
  const node = (m: Meme, generation: number, relation: GraphNode['relation']): GraphNode => ({ id: m.id, name: m.name, symbol: m.symbol, category: m.category, generation, relation });
  const nodes: GraphNode[] = ancestors.map((m, i) => node(m, i - ancestors.length, 'ancestor'));
  nodes.push(node(meme, 0, 'self'));
  const edges: { source: string; target: string; relation: string }[] = [];
  const edge = (m: Meme) => { if (m.parentId !== null) edges.push({ source: m.parentId, target: m.id, relation: m.relation ?? 'derivative' }); };
  ancestors.slice(1).forEach(edge);
  if (ancestors.length > 0) edge(meme);
  let frontier = [meme];
  let truncated = false;
  for (let generation = 1; generation <= depth && frontier.length > 0; generation++) {
    const next: Meme[] = [];
    for (const parent of frontier) {
      for (const child of children.get(parent.id) ?? []) {
        if (nodes.length >= MAX_NODES) { truncated = true; break; }
        nodes.push(node(child, generation, 'descendant'));
        edge(child);
        next.push(child);
      }
    }
    frontier = next;
  }
  return {
    meme_id: meme.id,
    root_id: (ancestors[0] ?? meme).id,
    depth,
    nodes,
    edges,
    stats: { ancestors: ancestors.length, descendants: nodes.length - ancestors.length - 1, truncated },
  };
}

/** WikiContent: a templated article, consistent with the meme's facts. */
export function wiki(meme: Meme, sandbox: boolean, nowMs: number) {
  const rng = Rng.of('wiki', meme.id, sandbox);
  const kids = universe().children.get(meme.id) ?? [];
  const year = new Date(meme.createdAtMs).getUTCFullYear();
  const sections = [
    { heading: 'Origin', body: `${meme.name} first appeared on ${meme.originPlatform} in ${year}${meme.creator === 'unknown' ? ', posted by an unknown author' : `, posted by ${meme.creator}`}. ${description(meme)}` },
    { heading: 'Spread', body: `The format spread through ${meme.category} communities and peaked ${rng.int(2, 30)} weeks after its first post, with reposts across ${rng.int(3, 12)} platforms.` },
    { heading: 'Variants', body: kids.length === 0 ? 'No recorded variants yet.' : `Known variants: ${kids.slice(0, 5).map((k) => `${k.name} (${k.relation?.replace('_', ' ')})`).join(', ')}.` },
    { heading: 'On-chain', body: meme.mint === null ? 'No token is associated with this meme.' : `The ${meme.symbol} token (mint ${meme.mint}) is tracked by CryptoMeme.${meme.verified ? ' The meme holds a culture seal.' : ''}` },
  ];
  const body = sections.map((s) => s.body).join(' ');
  return {
    meme_id: meme.id,
    title: meme.name,
    summary: description(meme),
    sections,
    infobox: { category: meme.category, origin_platform: meme.originPlatform, first_seen: iso(meme.createdAtMs).slice(0, 10), token_symbol: meme.mint === null ? null : meme.symbol, verified: meme.verified },
    references: [
      { title: `${meme.name} on Know Your Meme`, url: `https://knowyourmeme.com/memes/${meme.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}` },
      { title: `${meme.name} – CryptoMeme archive`, url: `https://cryptomeme.org/memes/${meme.id}` },
    ],
    revision: rng.int(3, 250),
    contributors: rng.int(1, 60),
    word_count: body.split(/\s+/).length,
    last_edited_at: iso(Math.floor(nowMs / 86_400_000) * 86_400_000 - rng.int(0, 90) * 86_400_000),
  };
}

