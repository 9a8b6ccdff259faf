export * from './key-cache.ts';
export * from './memory-admission-store.ts';
export * from './memory-event-bus.ts';
export * from './system-clock.ts';
export * from './attempt-limiter.ts';
export * from './redis-admission-store.ts';
export * from './redis-event-bus.ts';
export * from './resilient-admission-store.ts';
