import { startWebhookReceiver } from '../../packages/server/src/testing/webhook-receiver.ts';
import { onStop, tell } from './protocol.ts';

/*
 * The customers' webhook receiver for `bench/webhooks.bench.ts`, in a process of its own so its
 * work is not counted against the product's (and does not delay its event loop). It is the
 * receiver the webhook tests use (every request answered 200 and kept, `receivedAt` =
 * Date.now() when the body has arrived); only the keeping differs: on each `stats` request it
 * hands the bench what it received since the last one, in compact form, parsing bodies then
 * rather than while requests arrive.
 */

/** One request as the bench checks it: columns, so tens of thousands travel over IPC cheaply. */
export interface ReceivedColumns {
  /** Request path: the endpoint (`/e<index>`). */
  path: string[];
  /** `webhook-id` header (the event id, the same on every retry). */
  webhookIdHeader: string[];
  /** Body `webhookId` (the endpoint id). */
  endpointId: string[];
  /** Body `eventId`. */
  eventId: string[];
  event: string[];
  /** Body `timestamp` (the event's occurredAt, ISO, ms precision) as epoch ms. */
  occurredAt: number[];
  /** The bench's own sequence number (the payload's label is `bench-<n>`), or -1. */
  n: number[];
  receivedAt: number[];
}

const receiver = await startWebhookReceiver();
/** Requests received since the start, drained or not. */
let drained = 0;
const port = Number(new URL(receiver.url('/')).port);

function drain(): ReceivedColumns {
  const hooks = receiver.received.splice(0);
  drained += hooks.length;
  const out: ReceivedColumns = { path: [], webhookIdHeader: [], endpointId: [], eventId: [], event: [], occurredAt: [], n: [], receivedAt: [] };
  for (const hook of hooks) {
    const body = JSON.parse(hook.body) as { webhookId: string; eventId: string; event: string; timestamp: string; payload: { label?: unknown } };
    out.path.push(hook.path);
    out.webhookIdHeader.push(String(hook.headers['webhook-id'] ?? ''));
    out.endpointId.push(body.webhookId);
    out.eventId.push(body.eventId);
    out.event.push(body.event);
    out.occurredAt.push(Date.parse(body.timestamp));
    const label = typeof body.payload?.label === 'string' ? /^bench-(\d+)$/.exec(body.payload.label) : null;
    out.n.push(label ? Number(label[1]) : -1);
    out.receivedAt.push(hook.receivedAt);
  }
  return out;
}

onStop(
  () => receiver.close(),
  // stats(false): only the count so far (cheap, for polling); stats(true): also the requests
  // received since the previous stats(true), which are then dropped here.
  async (reset) => (reset ? { received: drain(), total: drained } : { total: drained + receiver.received.length }),
);
tell({ type: 'ready', port, setupMs: 0, info: {} });
