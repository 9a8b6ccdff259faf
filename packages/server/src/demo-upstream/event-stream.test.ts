import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { WEBHOOK_EVENT_CATALOG } from '@tollgate/contracts';
import { DEMO_EVENT_INTERVAL_MS, demoEventsBetween, type DemoDataEvent, type DemoDataEventType } from './event-stream.ts';
import { requireMeme } from './memes.ts';
import { Rng } from './random.ts';
import { sealOf } from './seals.ts';
import { securityReport, tokenProfile } from './tokens.ts';
import { universe } from './universe.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 5, 15); // a multiple of the 60 s interval
const TYPES: readonly DemoDataEventType[] = ['meme.created', 'meme.verified', 'token.security_changed', 'token.rug_detected'];
const day = demoEventsBetween(T0, T0 + DAY);

const ofType = (events: DemoDataEvent[], type: DemoDataEventType) => events.filter((e) => e.type === type);

describe('demoEventsBetween: payloads', () => {
  it('produces a day of events (1440 slots), each payload valid against its catalog schema', () => {
    expect(day).toHaveLength(1440);
    for (const type of TYPES) expect(ofType(day, type).length).toBeGreaterThan(0);
    for (const event of day) {
      const schema = WEBHOOK_EVENT_CATALOG[event.type].payload;
      const ok = Value.Check(schema, event.payload);
      if (!ok) throw new Error(`${event.type} payload fails its schema: ${JSON.stringify(event.payload)} ${JSON.stringify([...Value.Errors(schema, event.payload)].slice(0, 3))}`);
      expect(event.payload['timestamp']).toBe(event.occurredAt.toISOString());
    }
  });

  it('meme events name memes the demo upstream serves, with their real name, mint and seal', () => {
    for (const event of ofType(day, 'meme.created')) {
      const id = event.payload['meme_id'] as string;
      const meme = requireMeme(id, 'id'); // throws for an id the /v1/memes endpoints do not serve
      expect(event.payload['name']).toBe(meme.name);
      expect(event.payload['token_mint']).toBe(meme.mint);
    }
    const verified = ofType(day, 'meme.verified');
    for (const event of verified) {
      const meme = requireMeme(event.payload['meme_id'] as string, 'id');
      expect(meme.verified).toBe(true);
      const seal = sealOf(meme, false);
      expect(event.payload['seal_score']).toBe(seal?.seal_score);
      expect(event.payload['seal_token']).toBe(seal?.seal_token);
      expect(event.payload['seal_score']).toBeGreaterThanOrEqual(0);
      expect(event.payload['seal_score']).toBeLessThanOrEqual(100);
    }
    // Not always the same meme: the picks spread over the universe.
    expect(new Set(ofType(day, 'meme.created').map((e) => e.payload['meme_id'])).size).toBeGreaterThan(50);
    expect(new Set(verified.map((e) => e.payload['meme_id'])).size).toBeGreaterThan(10);
    // Memes without a token occur, and their token_mint is null.
    expect(ofType(day, 'meme.created').some((e) => e.payload['token_mint'] === null)).toBe(true);
  });

  it('token events name universe mints; security scores match /security and differ from the old score', () => {
    const { byMint } = universe();
    for (const event of ofType(day, 'token.security_changed')) {
      const mint = event.payload['mint'] as string;
      expect(byMint.has(mint)).toBe(true);
      const report = securityReport(tokenProfile(mint, false), event.occurredAt.getTime());
      const oldScore = event.payload['old_score'] as number;
      expect(event.payload['new_score']).toBe(report.score);
      expect(event.payload['alerts']).toEqual(report.alerts);
      expect(oldScore).not.toBe(report.score);
      expect(oldScore).toBeGreaterThanOrEqual(1);
      expect(oldScore).toBeLessThanOrEqual(100);
    }
    for (const event of ofType(day, 'token.rug_detected')) {
      const mint = event.payload['mint'] as string;
      expect(byMint.has(mint)).toBe(true);
      expect(['low', 'medium', 'high', 'critical']).toContain(event.payload['severity']);
      // Rugs concern tokens whose security report already shows risk.
      expect(securityReport(tokenProfile(mint, false), 0).risk_level).not.toBe('low');
      const indicators = event.payload['indicators'] as string[];
      expect(indicators.length).toBeGreaterThan(0);
      for (const indicator of indicators) expect(indicator).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
    }
    for (const event of ofType(day, 'token.security_changed')) {
      for (const alert of event.payload['alerts'] as string[]) expect(alert).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
    }
  });
});

describe('demoEventsBetween: determinism and windows', () => {
  it('returns identical events for the same window, computed twice', () => {
    const again = demoEventsBetween(T0, T0 + DAY);
    expect(again).toEqual(day);
    // …and the events are not all alike: the slot drives type, offset and payload.
    expect(new Set(day.map((e) => JSON.stringify(e.payload))).size).toBe(day.length);
    expect(new Set(day.map((e) => e.occurredAt.getTime() - e.slot * DEMO_EVENT_INTERVAL_MS)).size).toBeGreaterThan(1000);
  });

  it('[a, c) equals [a, b) followed by [b, c) for arbitrary boundaries', () => {
    const rng = new Rng(12345);
    for (let trial = 0; trial < 200; trial++) {
      const a = T0 + rng.int(-DAY, DAY) + rng.next(); // fractional and misaligned boundaries too
      const c = a + rng.int(0, 300) * rng.pick([1, 1_000, 60_000]);
      const b = a + (c - a) * rng.next();
      const whole = demoEventsBetween(a, c);
      expect([...demoEventsBetween(a, b), ...demoEventsBetween(b, c)]).toEqual(whole);
      for (const event of whole) {
        expect(event.occurredAt.getTime()).toBeGreaterThanOrEqual(a);
        expect(event.occurredAt.getTime()).toBeLessThan(c);
      }
    }
    // Emitting a day window by window (sub-slot windows included) reproduces the day exactly.
    const pieces: DemoDataEvent[] = [];
    for (let from = T0; from < T0 + DAY; from += 37_000) pieces.push(...demoEventsBetween(from, Math.min(from + 37_000, T0 + DAY)));
    expect(pieces).toEqual(day);
    // An event sits exactly at its occurredAt: [t, t+1) holds it, [t+1, …) does not.
    const first = day[0] as DemoDataEvent;
    const t = first.occurredAt.getTime();
    expect(demoEventsBetween(t, t + 1)).toEqual([first]);
    expect(demoEventsBetween(t + 1, (first.slot + 1) * DEMO_EVENT_INTERVAL_MS)).toEqual([]);
    expect(demoEventsBetween(t - 1, t)).toEqual([]);
  });

  it('has exactly one event per slot, oldest first, with occurredAt inside its slot', () => {
    for (const interval of [DEMO_EVENT_INTERVAL_MS, 1_000, 7]) {
      const from = Math.ceil(T0 / interval) * interval; // slot-aligned
      const events = demoEventsBetween(from, from + 1440 * interval, interval);
      expect(events).toHaveLength(1440);
      events.forEach((event, i) => {
        expect(event.slot).toBe(from / interval + i);
        expect(event.slot).toBe(Math.floor(event.occurredAt.getTime() / interval));
        if (i > 0) expect(event.occurredAt.getTime()).toBeGreaterThan((events[i - 1] as DemoDataEvent).occurredAt.getTime());
      });
    }
    expect(demoEventsBetween(T0, T0)).toEqual([]);
    expect(demoEventsBetween(T0 + 1, T0)).toEqual([]);
  });

  it('chooses types in proportion to the weights (40/30/20/10 %) over 10,000 slots', () => {
    const events = demoEventsBetween(T0, T0 + 10_000 * DEMO_EVENT_INTERVAL_MS);
    expect(events).toHaveLength(10_000);
    const share = (type: DemoDataEventType) => ofType(events, type).length / events.length;
    expect(share('meme.created')).toBeCloseTo(0.4, 1); // |diff| < 0.05
    expect(share('token.security_changed')).toBeCloseTo(0.3, 1);
    expect(share('meme.verified')).toBeCloseTo(0.2, 1);
    expect(share('token.rug_detected')).toBeCloseTo(0.1, 1);
    for (const [type, weight] of [['meme.created', 0.4], ['token.security_changed', 0.3], ['meme.verified', 0.2], ['token.rug_detected', 0.1]] as const) {
      expect(Math.abs(share(type) - weight)).toBeLessThan(0.02);
    }
  });

  it('refuses more than 10,000 slots and malformed arguments with a RangeError', () => {
    expect(demoEventsBetween(T0, T0 + 10_000 * DEMO_EVENT_INTERVAL_MS)).toHaveLength(10_000);
    expect(() => demoEventsBetween(T0, T0 + 10_001 * DEMO_EVENT_INTERVAL_MS)).toThrow(RangeError);
    // A misaligned window of 10,000 intervals touches 10,001 slots.
    expect(() => demoEventsBetween(T0 + 1, T0 + 1 + 10_000 * DEMO_EVENT_INTERVAL_MS)).toThrow(RangeError);
    expect(() => demoEventsBetween(T0, T0 + DAY, 1)).toThrow(RangeError);
    expect(() => demoEventsBetween(T0, T0 + 1000, 0)).toThrow(RangeError);
    expect(() => demoEventsBetween(T0, T0 + 1000, 2.5)).toThrow(RangeError);
    expect(() => demoEventsBetween(Number.NaN, T0)).toThrow(RangeError);
    expect(() => demoEventsBetween(T0, Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});
