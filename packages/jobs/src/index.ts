export * from './queue.ts';
export * from './usage-retention.ts';
export * from './usage-compaction.ts';
export * from './webhook-deliverer.ts';
export * from './quota-reset.ts';
export * from './webhook-cleanup.ts';
