import { SecretbindError } from './errors.js';

/**
 * A parsed entry reference (`path#field`). Providers receive this, never the raw string alone.
 */
export interface EntryReference {
  /** The reference as written in the binding. */
  readonly raw: string;
  /** The path split on unescaped `/`, escapes removed: `Root/Infra/web\#1` gives `['Root', 'Infra', 'web#1']`. */
  readonly segments: readonly string[];
  /** The unescaped text after the last unescaped `#`, or undefined when there is none (the provider's default). */
  readonly field: string | undefined;
}

const ESCAPABLE = new Set(['#', '/', '\\']);

/**
 * Parses `path#field`: the part after the last unescaped `#` names a field; `\#`, `\/` and `\\` escape.
 * Throws `REFERENCE_INVALID`, with the 1-based column, for an empty reference, an empty path segment, an empty
 * field after `#`, an unknown escape or a dangling backslash.
 *
 * @example
 * ```ts
 * parseReference('Root/Infrastructure/web\\#1#UserName')
 * // { raw, segments: ['Root', 'Infrastructure', 'web#1'], field: 'UserName' }
 * ```
 */
export function parseReference(raw: string): EntryReference {
  if (typeof raw !== 'string' || raw.length === 0) throw invalid(raw, 'the reference is empty', 1);

  // First pass: find the last unescaped '#' and validate escapes.
  let fieldMark = -1;
  for (let i = 0; i < raw.length; i++) {
    const char = raw[i];
    if (char === '\\') {
      const next = raw[i + 1];
      if (next === undefined) throw invalid(raw, 'a backslash at the end escapes nothing (write \\\\ for a backslash)', i + 1);
      if (!ESCAPABLE.has(next)) throw invalid(raw, `unknown escape \\${next} (only \\#, \\/ and \\\\ escape)`, i + 1);
      i++;
    } else if (char === '#') {
      fieldMark = i;
    }
  }

  const pathEnd = fieldMark === -1 ? raw.length : fieldMark;
  const segments: string[] = [];
  let current = '';
  let segmentStart = 0;
  for (let i = 0; i < pathEnd; i++) {
    const char = raw[i] as string;
    if (char === '\\') {
      current += raw[++i];
    } else if (char === '/') {
      if (current.length === 0) throw invalid(raw, 'empty path segment', segmentStart + 1);
      segments.push(current);
      current = '';
      segmentStart = i + 1;
    } else {
      current += char;
    }
  }
  if (current.length === 0) throw invalid(raw, pathEnd === 0 ? 'the path before # is empty' : 'empty path segment', segmentStart + 1);
  segments.push(current);

  let field: string | undefined;
  if (fieldMark !== -1) {
    field = unescape(raw.slice(fieldMark + 1));
    if (field.length === 0) throw invalid(raw, 'empty field after #', fieldMark + 2);
  }
  return { raw, segments, field };
}

/**
 * Builds a reference string from path segments and an optional field, escaping `#`, `/` and `\`.
 * `parseReference(formatReference(segments, field))` gives the same segments and field back.
 *
 * @example
 * ```ts
 * formatReference(['Root', 'ldap/bind'], 'UserName') // 'Root/ldap\\/bind#UserName'
 * ```
 */
export function formatReference(segments: readonly string[], field?: string): string {
  if (segments.length === 0) throw new SecretbindError('REFERENCE_INVALID', 'A reference needs at least one path segment.');
  const path = segments
    .map((segment, index) => {
      if (segment.length === 0) throw new SecretbindError('REFERENCE_INVALID', `Path segment ${index + 1} is empty.`);
      return escape(segment);
    })
    .join('/');
  if (field === undefined) return path;
  if (field.length === 0) throw new SecretbindError('REFERENCE_INVALID', 'The field name is empty.');
  return `${path}#${escape(field)}`;
}

/** The path part of a reference joined with `/`, escapes removed; what most stores call the entry's name. */
export function referencePath(ref: EntryReference): string {
  return ref.segments.join('/');
}

const NEEDS_ESCAPE = /[\\#/]/;

function escape(text: string): string {
  return NEEDS_ESCAPE.test(text) ? text.replace(/[\\#/]/g, (char) => `\\${char}`) : text;
}

function unescape(text: string): string {
  return text.replace(/\\([\\#/])/g, '$1');
}

function invalid(raw: unknown, problem: string, column: number): SecretbindError {
  // The reference is configuration, not a secret, so it may be quoted.
  const shown = typeof raw === 'string' ? JSON.stringify(raw) : String(raw);
  return new SecretbindError('REFERENCE_INVALID', `Invalid entry reference ${shown} at column ${column}: ${problem}.`);
}
