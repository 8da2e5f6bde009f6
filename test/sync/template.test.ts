import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SecretbindError } from 'secretbind';
import { parseTemplate, TEMPLATE_PLACEHOLDERS } from '../../src/sync/template.js';
import { thrown } from '../helpers.js';

const VALUES = { DestinationType: 'aws_secrets', DestinationName: 'prod-aws', SourceName: 'central-vault', SourceType: 'vault', SecretPath: 'apps/checkmk', SecretBaseName: 'checkmk', SecretKey: 'password', MountPath: 'secret' };

describe('Function: parseTemplate', () => {
  it.each([
    ['secretbind/{{ .SourceName }}/{{ .SecretPath }}', 'secretbind/central-vault/apps/checkmk'],
    ['sync/{{ .SecretPath | replace "/" "_" }}', 'sync/apps_checkmk'],
    ['{{.SecretBaseName|uppercase}}', 'CHECKMK'],
    ['{{ .DestinationType | lowercase }}-{{ .DestinationName | uppercase }}', 'aws_secrets-PROD-AWS'],
    ['{{ .SourceType }}:{{ .MountPath }}/{{ .SecretKey }}', 'vault:secret/password'],
    ['{{ .SecretPath | replace "/" "-" | replace "apps" "a" | uppercase }}', 'A-CHECKMK'],
    ['{{ .SecretPath | replace "\\"" "q" }}', 'apps/checkmk'],
    ['plain-text', 'plain-text'],
  ])('renders %s', (template, expected) => {
    expect(parseTemplate(template).render(VALUES)).toBe(expected);
  });

  it('knows every placeholder Vault secrets sync offers', () => {
    expect([...TEMPLATE_PLACEHOLDERS].sort()).toEqual(['DestinationName', 'DestinationType', 'MountPath', 'SecretBaseName', 'SecretKey', 'SecretPath', 'SourceName', 'SourceType']);
    const all = parseTemplate(TEMPLATE_PLACEHOLDERS.map((name) => `{{ .${name} }}`).join('/'));
    expect(all.placeholders.size).toBe(8);
    expect(all.render(VALUES)).toBe(TEMPLATE_PLACEHOLDERS.map((name) => VALUES[name]).join('/'));
  });

  it.each([
    ['{{ .SecretPath', 1, 'never closed'],
    ['a/{{ .Nope }}', 6, 'unknown placeholder .Nope'],
    ['{{ SecretPath }}', 4, 'expected a placeholder'],
    ['{{ .SecretPath | shout }}', 18, 'unknown function "shout"'],
    ['{{ .SecretPath | replace "/" }}', 18, 'two quoted strings'],
    ['{{ .SecretPath | replace "/ "_" }}', 31, 'never closed'],
    ['{{ }}', 1, 'empty action'],
    ['{{ .SecretPath uppercase }}', 16, 'expected "|"'],
    ['a }} b', 3, 'closes no action'],
    ['', 1, 'empty'],
  ])('refuses %j with CONFIG_INVALID at column %i', (template, column, problem) => {
    const error = thrown(() => parseTemplate(template));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(`column ${column}`);
    expect(error.message).toContain(problem);
  });

  it('names the placeholder that has no value where it is rendered', () => {
    const template = parseTemplate('x/{{ .SecretKey }}');
    expect(thrown(() => template.render({ SecretPath: 'a' })).message).toMatch(/\.SecretKey has no value here \(it exists only with granularity secret-key\)/);
  });

  it('exposes the fixed prefix every name starts with', () => {
    expect(parseTemplate('secretbind/{{ .SourceName }}/x').fixedPrefix).toBe('secretbind/');
    expect(parseTemplate('{{ .SourceName }}').fixedPrefix).toBe('');
  });

  it('renders or refuses any text, never throwing anything but CONFIG_INVALID (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('{', '}', ' ', '.', '|', '"', '\\', 'a', 'SecretPath', 'replace', 'uppercase', '/') }), (text) => {
        try {
          const template = parseTemplate(text);
          expect(typeof template.render(VALUES)).toBe('string');
        } catch (error) {
          expect(error).toBeInstanceOf(SecretbindError);
          expect((error as SecretbindError).code).toBe('CONFIG_INVALID');
        }
      }),
      { numRuns: 3000 },
    );
  });
});
