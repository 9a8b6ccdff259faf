import type { Worker } from 'node:worker_threads';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingServer, type RecordingServer } from './testing-http.ts';
import { InProcessWebhookSender, ThreadedWebhookSender, type WebhookSender } from './webhook-sender.ts';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const requests = (ids: string[]) => ids.map((id) => ({ messageId: id, body: JSON.stringify({ eventId: id }) }));

// A customer's receiver: 500 for `evt_fail`, holds `evt_hang` until the test ends, 200 otherwise.
let receiver: RecordingServer;
beforeAll(async () => {
  receiver = await startRecordingServer((req, res) => {
    const { eventId } = JSON.parse(req.body) as { eventId: string };
    if (eventId === 'evt_fail') res.writeHead(500).end('down');
    else if (eventId !== 'evt_hang') res.end(`got ${eventId}`);
  });
});
afterAll(() => receiver.close());

const received = (since: number) => receiver.received.slice(since).map((r) => (JSON.parse(r.body) as { eventId: string }).eventId);

describe.each([
  ['on the caller thread', () => new InProcessWebhookSender({ allowPrivate: true, timeoutMs: 5_000 })],
  ['on a sender thread', () => new ThreadedWebhookSender({ threads: 2, allowPrivate: true, timeoutMs: 5_000 })],
])('webhook sender %s', (_name, create: () => WebhookSender) => {
  let sender: WebhookSender;
  beforeAll(() => {
    sender = create();
  });
  afterAll(() => sender.close());

  it('sends a run in order, each signed as it goes out, verifiable with the standardwebhooks package', async () => {
    const since = receiver.received.length;
    const before = Date.now();
    const results = await sender.sendRun(`${receiver.url}/hooks`, [SECRET], requests(['evt_1', 'evt_2', 'evt_3']));
    expect(received(since)).toEqual(['evt_1', 'evt_2', 'evt_3']);
    expect(results.map((r) => [r.ok, r.statusCode, r.responseExcerpt])).toEqual([
      [true, 200, 'got evt_1'],
      [true, 200, 'got evt_2'],
      [true, 200, 'got evt_3'],
    ]);
    for (const [index, result] of results.entries()) {
      expect(result.startedAt).toBeGreaterThanOrEqual(before);
      const hook = receiver.received[since + index];
      const headers = hook?.headers as Record<string, string>;
      expect(headers['webhook-timestamp']).toBe(String(Math.floor(result.startedAt / 1000)));
      expect(new Webhook(SECRET).verify(hook?.body ?? '', headers)).toEqual({ eventId: `evt_${index + 1}` });
    }
  });

  it('stops after the first attempt that fails: the rest are not sent', async () => {
    const since = receiver.received.length;
    const results = await sender.sendRun(`${receiver.url}/hooks`, [SECRET], requests(['evt_a', 'evt_fail', 'evt_b']));
    expect(received(since)).toEqual(['evt_a', 'evt_fail']);
    expect(results.map((r) => [r.ok, r.statusCode])).toEqual([
      [true, 200],
      [false, 500],
    ]);
  });

  it('starts no further attempt once the deadline has passed, but always makes the first', async () => {
    const since = receiver.received.length;
    const results = await sender.sendRun(`${receiver.url}/hooks`, [SECRET], requests(['evt_d1', 'evt_d2', 'evt_d3']), Date.now() - 1);
    expect(received(since)).toEqual(['evt_d1']);
    expect(results.map((r) => r.ok)).toEqual([true]);
  });

  it('reports a secret that cannot sign as the attempt failing, and sends nothing', async () => {
    const since = receiver.received.length;
    const results = await sender.sendRun(`${receiver.url}/hooks`, ['not-a-secret'], requests(['evt_x', 'evt_y']));
    expect(received(since)).toEqual([]);
    expect(results).toHaveLength(1);
    expect(results[0]?.ok).toBe(false);
    expect(results[0]?.error?.code).toBe('signing_failed');
  });
});

describe('threaded webhook sender', () => {
  it('fails the runs of a thread that dies, and sends the next run on a new thread', async () => {
    const sender = new ThreadedWebhookSender({ threads: 1, allowPrivate: true, timeoutMs: 30_000 });
    try {
      const since = receiver.received.length;
      const stuck = sender.sendRun(`${receiver.url}/hooks`, [SECRET], requests(['evt_hang']));
      await expect.poll(() => received(since)).toEqual(['evt_hang']);
      // The thread dies mid-run (as on an uncaught error): what it was sending is not known to be sent.
      const [thread] = (sender as unknown as { threads: ({ worker: Worker } | null)[] }).threads;
      await thread?.worker.terminate();
      await expect(stuck).rejects.toThrow(/exited/);
      const results = await sender.sendRun(`${receiver.url}/hooks`, [SECRET], requests(['evt_after']));
      expect(results.map((r) => r.statusCode)).toEqual([200]);
      expect(received(since)).toEqual(['evt_hang', 'evt_after']);
    } finally {
      await sender.close();
    }
  });

  it('refuses runs once closed', async () => {
    const sender = new ThreadedWebhookSender({ threads: 1, allowPrivate: true });
    await sender.close();
    await expect(sender.sendRun(`${receiver.url}/hooks`, [SECRET], requests(['evt_late']))).rejects.toThrow(/closed/);
  });
});
