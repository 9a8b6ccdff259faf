import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

/**
 * A real HTTP receiver on 127.0.0.1 for webhook tests and the bench. `respond` decides each
 * answer's status (200 by default); every request is kept in `received`.
 */
export async function startWebhookReceiver(respond: (hook: ReceivedWebhook) => number | Promise<number> = () => 200) {
  const received: ReceivedWebhook[] = [];
  let answer = respond;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const hook = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), receivedAt: Date.now() };
      received.push(hook);
      const status = await answer(hook);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `failing with ${status}`);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path = '/hooks') => `http://127.0.0.1:${port}${path}`,
    received,
    /** Changes how later requests are answered. */
    setResponder(next: (hook: ReceivedWebhook) => number | Promise<number>) {
      answer = next;
    },
    /** Requests to one path, parsed. */
    bodies(path = '/hooks') {
      return received.filter((r) => r.path === path).map((r) => JSON.parse(r.body) as { webhookId: string; eventId: string; event: string; timestamp: string; payload: Record<string, unknown> });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
