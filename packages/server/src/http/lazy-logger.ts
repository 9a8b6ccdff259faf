import type { FastifyBaseLogger } from 'fastify';

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1];

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

function call(logger: FastifyBaseLogger, level: Level, args: unknown[]): void {
  (logger[level] as (...values: unknown[]) => void).apply(logger, args);
}

/**
 * Fastify gives every request a child logger bound to its request id. Creating a pino child
 * costs more than the rest of a gateway call's bookkeeping, and almost every call logs nothing:
 * this one creates the child the first time something is logged.
 */
class LazyChildLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildOptions,
  ) {}

  private get logger(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  fatal(...args: unknown[]): void {
    call(this.logger, 'fatal', args);
  }

  error(...args: unknown[]): void {
    call(this.logger, 'error', args);
  }

  warn(...args: unknown[]): void {
    call(this.logger, 'warn', args);
  }

  info(...args: unknown[]): void {
    call(this.logger, 'info', args);
  }

  debug(...args: unknown[]): void {
    call(this.logger, 'debug', args);
  }

  trace(...args: unknown[]): void {
    call(this.logger, 'trace', args);
  }

  silent(...args: unknown[]): void {
    call(this.logger, 'silent', args);
  }

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }
}

/** Fastify's `childLoggerFactory`: the request's logger, created when first used. */
export function lazyChildLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildOptions): FastifyBaseLogger {
  return new LazyChildLogger(parent, bindings, options);
}
