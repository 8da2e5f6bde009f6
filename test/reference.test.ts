import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatReference, parseReference, SecretbindError } from 'secretbind';

function failure(raw: string): SecretbindError {
  try {
    parseReference(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(SecretbindError);
    return error as SecretbindError;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be refused`);
}

describe('Function: parseReference', () => {
  it.each([
    ['Root/Infrastructure/checkmk-prod', ['Root', 'Infrastructure', 'checkmk-prod'], undefined],
    ['kv/prod/checkmk#password', ['kv', 'prod', 'checkmk'], 'password'],
    ['CMK_PROD_PASSWORD', ['CMK_PROD_PASSWORD'], undefined],
    ['Root/Infrastructure/web\\#1', ['Root', 'Infrastructure', 'web#1'], undefined],
    ['Root/Infrastructure/ldap\\/bind#UserName', ['Root', 'Infrastructure', 'ldap/bind'], 'UserName'],
    ['a\\\\b', ['a\\b'], undefined],
    ['a#b#c', ['a#b'], 'c'],
    ['arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/checkmk-a1B2c3#password', ['arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod', 'checkmk-a1B2c3'], 'password'],
    ['entry#field/with/slashes', ['entry'], 'field/with/slashes'],
    ['entry#f\\#x', ['entry'], 'f#x'],
  ])('parses %s', (raw, segments, field) => {
    expect(parseReference(raw)).toEqual({ raw, segments, field });
  });

  it.each([
    ['', 1, 'empty'],
    ['Root/Infrastructure/', 21, 'empty path segment'],
    ['/Root', 1, 'empty path segment'],
    ['a//b', 3, 'empty path segment'],
    ['#field', 1, 'path before # is empty'],
    ['entry#', 7, 'empty field'],
    ['entry\\', 6, 'escapes nothing'],
    ['en\\try', 3, 'unknown escape'],
  ])('refuses %j with REFERENCE_INVALID at column %i', (raw, column, problem) => {
    const error = failure(raw);
    expect(error.code).toBe('REFERENCE_INVALID');
    expect(error.message).toContain(`column ${column}`);
    expect(error.message).toContain(problem);
  });
});

describe('Function: formatReference', () => {
  it('escapes #, / and backslash', () => {
    expect(formatReference(['Root', 'ldap/bind', 'web#1', 'a\\b'], 'User#Name')).toBe('Root/ldap\\/bind/web\\#1/a\\\\b#User\\#Name');
  });

  it('refuses empty segments and fields', () => {
    expect(() => formatReference([])).toThrow(SecretbindError);
    expect(() => formatReference(['a', ''])).toThrow(/empty/);
    expect(() => formatReference(['a'], '')).toThrow(/empty/);
  });

  it('gives back any segments and field after parsing (property)', () => {
    const text = fc.string({ minLength: 1, unit: fc.constantFrom('a', 'Z', '0', '#', '/', '\\', ' ', 'ä', '🔑', '-', '.') });
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 6 }), fc.option(text, { nil: undefined }), (segments, field) => {
        const parsed = parseReference(formatReference(segments, field));
        expect(parsed.segments).toEqual(segments);
        expect(parsed.field).toBe(field);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts only what it could have produced, or refuses with REFERENCE_INVALID (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '#', '/', '\\') }), (raw) => {
        try {
          const parsed = parseReference(raw);
          expect(parseReference(formatReference(parsed.segments, parsed.field))).toEqual({ ...parsed, raw: formatReference(parsed.segments, parsed.field) });
        } catch (error) {
          expect((error as SecretbindError).code).toBe('REFERENCE_INVALID');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
