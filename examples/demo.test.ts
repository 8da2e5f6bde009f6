import { describe, expect, it } from 'vitest';
import { runDemo } from './demo.js';

describe('Example: demo', () => {
  it('shows each source, the rotation and the log, and prints no secret value', async () => {
    const lines: string[] = [];
    await runDemo((line) => lines.push(line));
    const output = lines.join('\n');
    expect(output).toMatch(/checkmk-prod\s+store/);
    expect(output).toMatch(/legacy-ftp\s+local/);
    expect(output).toContain('(27 chars)');
    expect(output).toContain('Secrets resolution account=checkmk-prod');
    for (const secret of ['demo-env-secret', 'demo-store-secret', 'demo-local-secret', 'stale-local-copy']) expect(output).not.toContain(secret);
  });
});
