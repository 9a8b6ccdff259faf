import { readFileSync } from 'node:fs';

/*
 * Summarizes a V8 CPU profile (`BENCH_CPU_PROF=1 npm run bench` writes one per gateway run to
 * bench/results/profiles/): where the server's time went, by code owner (self time of the
 * innermost frame), by gateway component (any frame on the stack), and the hottest functions.
 *
 *   npx tsx bench/profile-summary.ts bench/results/profiles/gateway-1-keys.cpuprofile
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Who owns a frame's code: a package, a Tollgate file, Node itself, or V8's pseudo-frames. */
export function owner(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url.startsWith('wasm://')) return '@electric-sql/pglite (WASM: PostgreSQL itself)';
  if (!url) {
    if (functionName === '(garbage collector)') return 'V8: garbage collector';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8: (program) native/unattributed';
    return `native: ${functionName || '(anonymous)'}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/')[0]}`;
  const pkg = /\/packages\/([^/]+)\/src\/(.+)$/.exec(url);
  if (pkg) return `tollgate ${pkg[1]}: ${pkg[2]}`;
  const bench = /\/bench\/(.+)$/.exec(url);
  if (bench) return `bench: ${bench[1]}`;
  return url;
}

const isDb = (f: CallFrame) => f.url.includes('/drizzle-orm/') || f.url.includes('@electric-sql/pglite') || f.url.startsWith('wasm://');
const isGateway = (f: CallFrame) => /gateway\/pipeline\.ts$/.test(f.url) && f.functionName === 'gateway';

/** Exclusive buckets, first match wins (checked against the whole stack): they add up to 100 %. */
const BUCKETS: [string, (stack: CallFrame[]) => boolean][] = [
  ['database, loading a key (KeyResolver.fetch: drizzle + PGlite)', (st) => st.some((f) => /key-resolver\.ts$/.test(f.url)) && st.some(isDb)],
  ['database, everything else = usage flush (drizzle + PGlite)', (st) => st.some(isDb)],
  ['gateway handler (pipeline.ts `gateway` and what it calls)', (st) => st.some(isGateway)],
  ['garbage collector', (st) => st[0]?.functionName === '(garbage collector)'],
  ['HTTP serving outside the handler (Fastify, Node http/net, hooks)', (st) => st.some((f) => f.url.includes('/fastify/') || /^node:/.test(f.url) || f.functionName === 'writev')],
  ['other', () => true],
];

/** Components of the gateway: a sample counts for each whose frame is on its stack. */
const COMPONENTS: [string, (f: CallFrame) => boolean][] = [
  ['PGlite (any call into the embedded database)', (f) => f.url.includes('@electric-sql/pglite')],
  ['drizzle-orm (query building, parameters, row mapping)', (f) => f.url.includes('/drizzle-orm/')],
  ['key load from the store (KeyResolver.fetch)', (f) => /key-resolver\.ts$/.test(f.url) && f.functionName === 'fetch'],
  ['gateway handler (pipeline.ts, all of it)', (f) => /gateway\/pipeline\.ts$/.test(f.url)],
  ['  demo upstream (handleDemoRequest)', (f) => f.functionName === 'handleDemoRequest'],
  ['  usage.record (the buffered append)', (f) => /usage-writer\.ts$/.test(f.url) && f.functionName === 'record'],
  ['  record() in the pipeline (building the usage record)', (f) => /gateway\/pipeline\.ts$/.test(f.url) && f.functionName === 'record'],
  ['  sha256Hex', (f) => f.functionName === 'sha256Hex'],
  ['  parseApiKey (format + CRC-32)', (f) => f.functionName === 'parseApiKey'],
  ['  admission (rate limit + quota)', (f) => /admission/.test(f.url) && f.functionName === 'admit'],
  ['  route match', (f) => /route-table\.ts$/.test(f.url)],
  ['request ids (newId)', (f) => f.functionName === 'newId'],
  ['fastify (routing, hooks, reply)', (f) => f.url.includes('/fastify/')],
  ['node http/net (parsing, sockets, writes)', (f) => /^node:(_http|http|net|stream|internal\/(http|streams|stream_base))/.test(f.url)],
];

function summarize(file: string): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfUs = new Map<number, number>();
  const n = profile.samples.length;
  for (let i = 0; i < n; i++) {
    // A sample's time is the gap to the next one.
    const dt = i + 1 < n ? (profile.timeDeltas[i + 1] as number) : 0;
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const idleUs = [...selfUs.entries()].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, us]) => a + us, 0);
  const busyUs = totalUs - idleUs;

  const byOwner = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const byComponent = new Map<string, number>();
  const byBucket = new Map<string, number>();
  const underGateway = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id) as ProfileNode;
    const o = owner(node.callFrame);
    byOwner.set(o, (byOwner.get(o) ?? 0) + us);
    const fn = `${node.callFrame.functionName || '(anonymous)'}  ${o}${node.callFrame.url ? `:${node.callFrame.lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const stack: CallFrame[] = []; // leaf first
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) stack.push((byId.get(cur) as ProfileNode).callFrame);
    if (node.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (const frame of stack) for (const [name, match] of COMPONENTS) if (!seen.has(name) && match(frame)) seen.add(name);
    for (const name of seen) byComponent.set(name, (byComponent.get(name) ?? 0) + us);
    const bucket = (BUCKETS.find(([, match]) => match(stack)) as [string, unknown])[0];
    byBucket.set(bucket, (byBucket.get(bucket) ?? 0) + us);
    // Inside the handler: charge the sample to the function the handler called (or to its own code).
    const g = stack.findIndex(isGateway);
    if (g !== -1 && !stack.some(isDb)) {
      const callee = g === 0 ? null : stack[g - 1];
      const name = callee ? `${callee.functionName || '(anonymous)'}  ${owner(callee)}` : 'gateway itself (incl. JSON.stringify, header writes inlined)';
      underGateway.set(name, (underGateway.get(name) ?? 0) + us);
    }
  }

  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const share = (us: number) => `${((us / busyUs) * 100).toFixed(1).padStart(5)} %`;
  const top = (m: Map<string, number>, k: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, k);
  const out = [
    `${file}: ${(totalUs / 1e6).toFixed(1)} s profiled, ${(busyUs / 1e6).toFixed(1)} s busy (${((busyUs / totalUs) * 100).toFixed(0)} %), ${n} samples; shares are of busy time`,
    '',
    'exclusive buckets (each sample once, first match wins):',
    ...BUCKETS.map(([name]) => `  ${ms(byBucket.get(name) ?? 0)} ${share(byBucket.get(name) ?? 0)}  ${name}`),
    '',
    'inside the gateway handler, by the function it called:',
    ...top(underGateway, 15).map(([f, us]) => `  ${ms(us)} ${share(us)}  ${f}`),
    '',
    'by component (a sample counts for every component on its stack, so these overlap):',
    ...COMPONENTS.map(([name]) => `  ${ms(byComponent.get(name) ?? 0)} ${share(byComponent.get(name) ?? 0)}  ${name}`),
    '',
    'self time by code owner:',
    ...top(byOwner, 18).filter(([o]) => o !== 'idle').map(([o, us]) => `  ${ms(us)} ${share(us)}  ${o}`),
    '',
    'hottest functions (self time):',
    ...top(byFunction, 25).filter(([f]) => !f.startsWith('(idle)')).map(([f, us]) => `  ${ms(us)} ${share(us)}  ${f}`),
  ];
  return out.join('\n');
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: npx tsx bench/profile-summary.ts <file.cpuprofile>...');
  process.exit(2);
}
for (const file of files) console.log(summarize(file) + '\n');
