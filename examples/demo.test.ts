import { describe, expect, it } from 'vitest';
import { runDemo } from './demo.js';

const DEMO_MASTER_TEXT = 'demo master password';

describe('Example: demo', () => {
  it('shows each source, the rotation and the log, and prints no secret value', async () => {
    const lines: string[] = [];
    await runDemo((line) => lines.push(line));
    const output = lines.join('\n');
    expect(output).toMatch(/checkmk-prod\s+store .*keepass store "ops-keepass"/);
    expect(output).toMatch(/netbox\s+store .*envvar/);
    expect(output).toMatch(/grafana\s+store .*memory/);
    expect(output).toMatch(/legacy-ftp\s+local/);
    // The edited KeePass value is longer: the change was picked up.
    expect(output).toMatch(/changes checkmk-prod[^\n]*\n\s+checkmk-prod\s+store\s+\*+ \(29 chars\)/);
    expect(output).toContain('Secrets resolution account=checkmk-prod store=ops-keepass type=keepass');
    for (const secret of ['demo-env-secret', 'demo-keepass-secret', 'demo-store-secret', 'demo-local-secret', 'stale-local-copy', DEMO_MASTER_TEXT]) expect(output).not.toContain(secret);
  });
});
