import { parentPort, workerData } from 'node:worker_threads';
import { WebhookHttpClient } from './webhook-http.ts';
import { sendSignedRun, type WebhookRequest, type WebhookSenderThreadOptions } from './webhook-sender.ts';

/* A sender thread of ThreadedWebhookSender: sends each run it is given, answers its results. */

const port = parentPort;
if (!port) throw new Error('webhook-sender-thread runs as a worker thread');
const client = new WebhookHttpClient(workerData as WebhookSenderThreadOptions);

port.on('message', (run: { id: number; url: string; secrets: string[]; requests: WebhookRequest[]; deadline?: number }) => {
  void sendSignedRun(client, run.url, run.secrets, run.requests, run.deadline).then((results) => port.postMessage({ id: run.id, results }));
});
