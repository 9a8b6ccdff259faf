export * from './queue.ts';
export * from './usage-retention.ts';
export * from './usage-compaction.ts';
