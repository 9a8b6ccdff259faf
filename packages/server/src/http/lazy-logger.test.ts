import { describe, expect, it } from 'vitest';
import { capturedLog } from '../testing/captured-log.ts';
import { lazyChildLogger } from './lazy-logger.ts';

describe('lazyChildLogger', () => {
  it('logs with the request binding, as a pino child would', async () => {
    const { lines, log: logger } = capturedLog();
    const child = lazyChildLogger(logger, { reqId: 'req_1' }, {});
    child.warn({ upstream: 'http://x' }, 'upstream timed out');
    child.info('second line');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toMatchObject([
      { reqId: 'req_1', upstream: 'http://x', msg: 'upstream timed out', level: 40 },
      { reqId: 'req_1', msg: 'second line', level: 30 },
    ]);
  });

  it('creates no pino child until something is logged, and honours the level', async () => {
    const { lines, log: logger } = capturedLog();
    let children = 0;
    const child = logger.child.bind(logger);
    logger.child = ((...args: Parameters<typeof logger.child>) => {
      children++;
      return child(...args);
    }) as typeof logger.child;
    const lazy = lazyChildLogger(logger, { reqId: 'req_2' }, {});
    expect(lazy.level).toBe('info');
    expect(children).toBe(0);
    lazy.debug('below the level');
    lazy.level = 'debug';
    lazy.debug('now logged');
    await new Promise((resolve) => setImmediate(resolve));
    expect(children).toBe(1);
    expect(lines.map((l) => l.msg)).toEqual(['now logged']);
  });
});
