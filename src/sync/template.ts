import { SecretbindError } from '../core/index.js';
import { formatReference } from '../core/index.js';

/**
 * Name templates for sync destinations: the subset of Go templates Vault secrets sync uses. Text with
 * `{{ .Placeholder }}` actions, each optionally piped through `uppercase`, `lowercase` or `replace "old" "new"`:
 * `sync/{{ .SecretPath | replace "/" "_" | uppercase }}`.
 */

/** The placeholders a template may use. */
export const TEMPLATE_PLACEHOLDERS = ['DestinationType', 'DestinationName', 'SourceName', 'SourceType', 'SecretPath', 'SecretBaseName', 'SecretKey', 'MountPath'] as const;

/** The placeholders of migration's entry template (`secretbind migrate --entry`). */
export const MIGRATION_PLACEHOLDERS = ['Account', 'Store'] as const;

/** One of {@link TEMPLATE_PLACEHOLDERS} or {@link MIGRATION_PLACEHOLDERS}. */
export type TemplatePlaceholder = (typeof TEMPLATE_PLACEHOLDERS)[number] | (typeof MIGRATION_PLACEHOLDERS)[number];

/** The values a template is rendered with; a placeholder left undefined is an error where the template uses it. */
export type TemplateValues = Partial<Record<TemplatePlaceholder, string>>;

type Pipe = { name: 'uppercase' } | { name: 'lowercase' } | { name: 'replace'; from: string; to: string };
type Part = { text: string } | { placeholder: TemplatePlaceholder; pipes: Pipe[]; column: number };

/** A parsed template, rendered many times. */
export interface NameTemplate {
  /** The template as written. */
  readonly source: string;
  /** The placeholders it uses. */
  readonly placeholders: ReadonlySet<TemplatePlaceholder>;
  /** The text before its first action: what every rendered name starts with. */
  readonly fixedPrefix: string;
  render(values: TemplateValues): string;
}

/**
 * Parses a name template. Throws `CONFIG_INVALID` naming the 1-based column of the problem: an unclosed action, an
 * unknown placeholder or pipe, a malformed `replace`.
 *
 * @example
 * ```ts
 * parseTemplate('sync/{{ .SecretPath | replace "/" "_" }}').render({ SecretPath: 'apps/db' }) // 'sync/apps_db'
 * ```
 */
export function parseTemplate(source: string, known: readonly TemplatePlaceholder[] = TEMPLATE_PLACEHOLDERS): NameTemplate {
  if (typeof source !== 'string' || source.length === 0) throw invalid(source, 'the template is empty', 1);
  const parts: Part[] = [];
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf('{{', at);
    if (open === -1) {
      parts.push({ text: source.slice(at) });
      break;
    }
    if (open > at) parts.push({ text: source.slice(at, open) });
    const close = source.indexOf('}}', open + 2);
    if (close === -1) throw invalid(source, 'an action "{{" is never closed with "}}"', open + 1);
    parts.push(parseAction(source, open + 2, close, known));
    at = close + 2;
  }
  for (const part of parts) if ('text' in part && part.text.includes('}}')) throw invalid(source, 'a "}}" closes no action', source.indexOf('}}') + 1);
  const placeholders = new Set(parts.flatMap((part) => ('placeholder' in part ? [part.placeholder] : [])));
  const first = parts[0];
  const fixedPrefix = first && 'text' in first ? first.text : '';
  return {
    source,
    placeholders,
    fixedPrefix,
    render(values) {
      return parts
        .map((part) => {
          if ('text' in part) return part.text;
          const value = values[part.placeholder];
          if (value === undefined) throw invalid(source, `.${part.placeholder} has no value here${part.placeholder === 'SecretKey' ? ' (it exists only with granularity secret-key)' : part.placeholder === 'MountPath' ? ' (it exists only for vault sources)' : ''}`, part.column);
          return part.pipes.reduce((text, pipe) => applyPipe(text, pipe), value);
        })
        .join('');
    },
  };
}

function applyPipe(text: string, pipe: Pipe): string {
  if (pipe.name === 'uppercase') return text.toUpperCase();
  if (pipe.name === 'lowercase') return text.toLowerCase();
  return text.split(pipe.from).join(pipe.to);
}

/** `{{ .Name | pipe | replace "a" "b" }}` between `start` and `end` (exclusive). */
function parseAction(source: string, start: number, end: number, known: readonly TemplatePlaceholder[]): Part {
  const tokens = tokenize(source, start, end);
  const [head, ...rest] = tokens;
  if (!head) throw invalid(source, 'an empty action "{{ }}"', start - 1);
  if (!head.text.startsWith('.') || head.quoted) throw invalid(source, `expected a placeholder such as .SecretPath, found ${JSON.stringify(head.text)}`, head.column);
  const name = head.text.slice(1);
  if (!(known as readonly string[]).includes(name)) {
    throw invalid(source, `unknown placeholder .${name} (known: ${known.map((placeholder) => `.${placeholder}`).join(', ')})`, head.column);
  }
  const pipes: Pipe[] = [];
  for (let index = 0; index < rest.length; ) {
    const bar = rest[index]!;
    if (bar.text !== '|' || bar.quoted) throw invalid(source, `expected "|" before ${JSON.stringify(bar.text)}`, bar.column);
    const pipe = rest[index + 1];
    if (!pipe || pipe.quoted) throw invalid(source, 'a "|" is not followed by uppercase, lowercase or replace', bar.column);
    if (pipe.text === 'uppercase' || pipe.text === 'lowercase') {
      pipes.push(pipe.text === 'uppercase' ? { name: 'uppercase' } : { name: 'lowercase' });
      index += 2;
    } else if (pipe.text === 'replace') {
      const [from, to] = [rest[index + 2], rest[index + 3]];
      if (!from?.quoted || !to?.quoted) throw invalid(source, 'replace takes two quoted strings: replace "old" "new"', pipe.column);
      if (from.text.length === 0) throw invalid(source, 'replace cannot replace the empty string', from.column);
      pipes.push({ name: 'replace', from: from.text, to: to.text });
      index += 4;
    } else {
      throw invalid(source, `unknown function ${JSON.stringify(pipe.text)} (known: uppercase, lowercase, replace)`, pipe.column);
    }
  }
  return { placeholder: name as TemplatePlaceholder, pipes, column: head.column };
}

interface Token {
  text: string;
  quoted: boolean;
  /** 1-based column in the template. */
  column: number;
}

/** Words, `|` and Go-style double-quoted strings (with `\"` and `\\` escapes) between two offsets. */
function tokenize(source: string, start: number, end: number): Token[] {
  const tokens: Token[] = [];
  let at = start;
  while (at < end) {
    const char = source[at]!;
    if (char === ' ' || char === '\t') {
      at++;
    } else if (char === '|') {
      tokens.push({ text: '|', quoted: false, column: at + 1 });
      at++;
    } else if (char === '"') {
      let text = '';
      let index = at + 1;
      for (; index < end && source[index] !== '"'; index++) {
        if (source[index] === '\\' && index + 1 < end) text += source[++index];
        else text += source[index];
      }
      if (index >= end) throw invalid(source, 'a quoted string is never closed', at + 1);
      tokens.push({ text, quoted: true, column: at + 1 });
      at = index + 1;
    } else {
      let index = at;
      while (index < end && !' \t|"'.includes(source[index]!)) index++;
      tokens.push({ text: source.slice(at, index), quoted: false, column: at + 1 });
      at = index;
    }
  }
  return tokens;
}

function invalid(source: unknown, problem: string, column: number): SecretbindError {
  return new SecretbindError('CONFIG_INVALID', `Invalid name template ${JSON.stringify(source)} at column ${column}: ${problem}.`);
}

/** A rendered name as a reference path: `/` separates segments, everything else is escaped; no empty segment. */
export function renderedReference(rendered: string, template: 'name template' | 'entry template'): string {
  const segments = rendered.split('/');
  if (segments.some((segment) => segment === '')) throw new SecretbindError('REFERENCE_INVALID', `The ${template} made ${JSON.stringify(rendered)}, which has an empty path segment.`);
  return formatReference(segments);
}
