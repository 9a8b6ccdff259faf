// Worker threads do not inherit the parent's module hooks: register tsx's loader, then run the
// TypeScript thread.
import { register } from 'tsx/esm/api';

register();
await import('./pglite-thread-worker.ts');
