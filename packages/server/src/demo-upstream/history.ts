import { DAY_MS, HOUR_MS, iso, MINUTE_MS, sig, unit } from './random.ts';
import { priceAt, volumeOver, type TokenProfile } from './tokens.ts';
import { invalid, parseTimestamp, queryEnum, queryString } from './validate.ts';

/*
 * GET /v1/tokens/{mint}/history: OHLCV candles aligned to UTC interval boundaries. Only the
 * returned candles are computed, so a one-year window at 1m costs the same as a one-hour one.
 */

const INTERVALS = ['1m', '5m', '1h', '1d'] as const;
type Interval = (typeof INTERVALS)[number];
const INTERVAL_MS: Record<Interval, number> = { '1m': MINUTE_MS, '5m': 5 * MINUTE_MS, '1h': HOUR_MS, '1d': DAY_MS };
export const MAX_POINTS = 1000;
// Samples per candle for high/low: enough to look right, bounded so 1d candles stay cheap.
const SAMPLES = 6;

interface Window {
  interval: Interval;
  fromMs: number;
  toMs: number;
}

export function historyWindow(query: Record<string, unknown>, nowMs: number): Window {
  const interval = queryEnum(query, 'interval', INTERVALS, '1h');
  const rawFrom = queryString(query, 'from')?.trim();
  const rawTo = queryString(query, 'to')?.trim();
  const toMs = rawTo ? parseTimestamp(rawTo, 'to') : nowMs;
  const fromMs = rawFrom ? parseTimestamp(rawFrom, 'from') : toMs - DAY_MS;
  if (fromMs > toMs) throw invalid('from', `"from" (${iso(fromMs)}) must not be after "to" (${iso(toMs)})`, { from: iso(fromMs), to: iso(toMs) });
  if (fromMs > nowMs) throw invalid('from', `"from" (${iso(fromMs)}) is in the future; history ends now (${iso(nowMs)})`);
  // A `to` in the future is not an error: the series simply ends at the current minute.
  return { interval, fromMs, toMs: Math.min(toMs, nowMs) };
}

export function priceHistory(p: TokenProfile, window: Window, nowMs: number) {
  const step = INTERVAL_MS[window.interval];
  const stepMinutes = step / MINUTE_MS;
  const nowMinute = Math.floor(nowMs / MINUTE_MS);
  // The candle containing `from` is included, so the whole window is covered.
  const first = Math.floor(window.fromMs / step) * step;
  const last = Math.floor(window.toMs / step) * step;
  const available = last < first ? 0 : Math.floor((last - first) / step) + 1;
  const count = Math.min(available, MAX_POINTS);
  // Over the cap, keep the most recent candles: the client pages back with `to`.
  const start = last - (count - 1) * step;
  const points = [];
  for (let i = 0; i < count; i++) {
    const t = start + i * step;
    const startMinute = t / MINUTE_MS;
    const closeMinute = Math.min(startMinute + stepMinutes - 1, nowMinute);
    const open = priceAt(p, startMinute - 1);
    const close = priceAt(p, closeMinute);
    let high = Math.max(open, close);
    let low = Math.min(open, close);
    const span = closeMinute - startMinute;
    for (let s = 0; s < SAMPLES && span > 0; s++) {
      const price = priceAt(p, startMinute + Math.floor((span * (s + 0.5)) / SAMPLES));
      if (price > high) high = price;
      if (price < low) low = price;
    }
    // Wicks a little beyond the sampled extremes, like real candles.
    high *= 1 + p.noise * unit(p.seed ^ 0x1b873593, startMinute);
    low *= 1 - p.noise * unit(p.seed ^ 0xcc9e2d51, startMinute);
    points.push({
      t: iso(t),
      open: sig(open),
      high: sig(high),
      low: sig(low),
      close: sig(close),
      volume: Math.round(volumeOver(p, closeMinute, span + 1)),
    });
  }
  const truncated = available > count;
  return {
    mint: p.mint,
    symbol: p.symbol,
    interval: window.interval,
    currency: 'USD',
    from: iso(window.fromMs),
    to: iso(window.toMs),
    count,
    max_points: MAX_POINTS,
    truncated,
    ...(truncated
      ? {
          truncation: {
            available_points: available,
            omitted_points: available - count,
            message: `The window holds ${available} ${window.interval} candles; the ${MAX_POINTS} most recent are returned. Request the earlier part with to=${iso(start - step)}.`,
            next_to: iso(start - step),
          },
        }
      : {}),
    points,
  };
}
