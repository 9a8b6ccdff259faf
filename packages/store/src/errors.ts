/** Thrown by a repository when a unique constraint refuses a write (e.g. a taken slug or email). */
export class UniqueViolationError extends Error {
  constructor(readonly constraint: string | undefined, options?: { cause?: unknown }) {
    super(`unique constraint violated: ${constraint ?? 'unknown'}`, options);
  }
}

/** Both drivers report PostgreSQL's SQLSTATE as `code`; drizzle may wrap it in `cause`. */
export function rethrowUnique(error: unknown): never {
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current; depth++) {
    const e = current as { code?: string; constraint?: string; cause?: unknown };
    if (e.code === '23505') throw new UniqueViolationError(e.constraint, { cause: error });
    current = e.cause;
  }
  throw error;
}
