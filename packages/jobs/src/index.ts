export * from './queue.ts';
export * from './usage-retention.ts';
