import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_STATUS } from './errors.ts';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

describe('error catalog', () => {
  it.each(ERROR_CODES)('%s has a status and a section in docs/errors.md stating it', (code) => {
    const status = ERROR_STATUS[code];
    expect(status).toBeGreaterThanOrEqual(400);
    const section = doc.split(/^## /m).find((s) => s.startsWith(`${code}\n`));
    expect(section, `docs/errors.md lacks "## ${code}"`).toBeDefined();
    expect(section).toContain(`**${status}.**`);
  });

  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/^## (\w+)$/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...ERROR_CODES].sort());
  });

  it("keeps the HLD's codes with their statuses", () => {
    expect(ERROR_STATUS).toMatchObject({
      invalid_api_key: 401,
      rate_limit_exceeded: 429,
      insufficient_tier: 403,
      invalid_request: 400,
      resource_not_found: 404,
      internal_error: 500,
    });
  });
});
