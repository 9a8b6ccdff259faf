import os from 'node:os';
import type { LoadResult } from './load.ts';

/* Machine facts and the table the bench prints (and docs/benchmarks.md pastes). */

export interface Machine {
  cpuModel: string;
  cores: number;
  node: string;
  platform: string;
  memoryGb: number;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    memoryGb: Math.round(os.totalmem() / 1e9),
  };
}

export interface Row {
  scenario: string;
  kind: 'bare' | 'gateway';
  keys: number;
  /** Where the gateway's limits live (gateway rows). */
  mode?: 'embedded' | 'redis';
  result: LoadResult;
  /** The bare run this row is compared with (same keys, same request stream). */
  baseline: LoadResult | null;
  serverCpu: number | null;
  loadgenCpu: number;
}

export const ratio = (row: Row) => (row.baseline ? row.result.rps / row.baseline.rps : null);
export const p99Delta = (row: Row) =>
  row.baseline?.latencyMs && row.result.latencyMs ? row.result.latencyMs.p99 - row.baseline.latencyMs.p99 : null;

const fmt = (n: number | null | undefined, digits = 2) => (n === null || n === undefined ? '–' : n.toFixed(digits));
const thousands = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (n: number | null) => (n === null ? '–' : `${(n * 100).toFixed(1)} %`);
export const signed = (n: number | null) => (n === null ? '–' : `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(2)}`);

/** A Markdown table (readable on a terminal as well). */
export function table(rows: Row[]): string {
  const head = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'req/s vs bare', 'p99 − bare p99 (ms)', 'server CPU', 'load-gen CPU'];
  const body = rows.map((row) => [
    row.scenario,
    thousands(row.result.rps),
    fmt(row.result.latencyMs?.p50),
    fmt(row.result.latencyMs?.p99),
    row.kind === 'bare' ? '(baseline)' : pct(ratio(row)),
    row.kind === 'bare' ? '' : signed(p99Delta(row)),
    row.serverCpu === null ? '–' : pct(row.serverCpu),
    pct(row.loadgenCpu),
  ]);
  return markdown(head, body);
}

/** A Markdown table, first column left-aligned, the others right-aligned. */
function markdown(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(head), rule, ...body.map(line)].join('\n');
}

interface SameLoadRun {
  result: LoadResult;
  serverCpu: number | null;
}

/** The gateway's p99 over the bare route's, both at one rate (ms); null where either was not timed. */
export const sameLoadP99Over = ({ gateway, bare }: { gateway: SameLoadRun; bare: SameLoadRun }) =>
  gateway.result.latencyMs && bare.result.latencyMs ? gateway.result.latencyMs.p99 - bare.result.latencyMs.p99 : null;

/** Latency and server CPU per call with both servers at one request rate. */
export function sameLoadTable(records: { keys: number; mode: 'embedded' | 'redis'; sameLoad: { rate: number; bare: SameLoadRun; gateway: SameLoadRun } }[]): string {
  const head = ['gateway', 'rate req/s', 'bare p50', 'bare p99', 'gateway p50', 'gateway p99', 'p99 − bare p99 (ms)', 'bare CPU µs/call', 'gateway CPU µs/call'];
  const perCall = (run: SameLoadRun) => (run.serverCpu === null ? null : (run.serverCpu * 1e6) / run.result.rps);
  const body = records.map(({ keys, mode, sameLoad: { rate, bare, gateway } }) => {
    const delta = sameLoadP99Over({ gateway, bare });
    return [`${mode}, ${thousands(keys)} key${keys > 1 ? 's' : ''}`, thousands(rate), fmt(bare.result.latencyMs?.p50), fmt(bare.result.latencyMs?.p99), fmt(gateway.result.latencyMs?.p50), fmt(gateway.result.latencyMs?.p99), signed(delta), fmt(perCall(bare), 1), fmt(perCall(gateway), 1)];
  });
  return markdown(head, body);
}
