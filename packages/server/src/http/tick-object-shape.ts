import { createHook } from 'node:async_hooks';

let kept: object | undefined;

/**
 * Keeps one of `process.nextTick`'s queue entries alive for the life of the process, so that
 * every later entry finds its shape still known to V8. Node builds each entry as an object
 * literal with computed keys (its async ids), several times a call (the response's end, the
 * request's end, the socket's write). V8 drops an object shape's transitions when no object of
 * that shape is left at a full collection; a process that had one such collection while its
 * tick queue was empty (after its start, or idle) met a new shape for the same literal later,
 * and the literal's inline cache then stayed generic for good: every entry was built in V8's
 * runtime, 5–6 CPU µs more a gateway call (~25 µs), in 22 of 34 gateway processes measured; with
 * one entry kept, in none of 18 (docs/benchmarks.md, 2026-12-07).
 *
 * Returns the entry kept (tests). It is taken through an async hook enabled only for the one
 * `nextTick` below.
 */
export function keepTickObjectShape(): object | undefined {
  if (kept !== undefined) return kept;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject') kept ??= resource;
    },
  });
  hook.enable();
  try {
    process.nextTick(() => {});
  } finally {
    hook.disable();
  }
  return kept;
}
