/**
 * A `.env` file as the `dotenv` package reads it (its quoting rules, checked against the package in the tests), kept
 * as spans of the original text so that a write changes one binding and leaves every comment, blank line and the
 * order of the others as they were.
 */

/** One `KEY=value` binding and where it sits in the text. */
export interface DotenvBinding {
  key: string;
  value: string;
  /** Offsets of the binding's text, from its line start to the end of its line (newline excluded). */
  start: number;
  end: number;
  /** The owner named by a trailing `# managed-by: <owner>` comment, if any. */
  owner: string | undefined;
}

const KEY_CHAR = /[\w.-]/;
const OWNER_MARK = /#\s*managed-by:\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*$/;

/** The bindings of a file, in order; a key bound twice appears twice (reads take the last, as dotenv does). */
export function parseDotenv(source: string): DotenvBinding[] {
  const text = source.replace(/\r\n?/g, '\n');
  const bindings: DotenvBinding[] = [];
  let position = 0;
  while (position < text.length) {
    const lineStart = position;
    const lineEnd = endOfLine(text, position);
    const parsed = parseBinding(text, lineStart, lineEnd);
    if (parsed) {
      bindings.push(parsed);
      position = parsed.end + 1;
    } else {
      position = lineEnd + 1;
    }
  }
  return bindings;
}

function endOfLine(text: string, from: number): number {
  const at = text.indexOf('\n', from);
  return at === -1 ? text.length : at;
}

function parseBinding(text: string, lineStart: number, lineEnd: number): DotenvBinding | undefined {
  const lineFirst = skipBlanks(text, lineStart, lineEnd);
  let at = lineFirst;
  if (text.startsWith('export', at) && /[ \t]/.test(text[at + 6] ?? '')) {
    at = skipBlanks(text, at + 6, lineEnd);
    // "export =" binds the key "export": the prefix only counts when a key follows it.
    if (!KEY_CHAR.test(text[at] ?? '')) at = lineFirst;
  }
  const keyStart = at;
  while (at < lineEnd && KEY_CHAR.test(text[at]!)) at++;
  if (at === keyStart) return undefined;
  const key = text.slice(keyStart, at);
  // The separator: "=" after any white space (line breaks included, as dotenv's pattern allows), or ":" followed
  // by one white-space character.
  const beforeEquals = skipSpace(text, at);
  let valueStart: number;
  if (text[beforeEquals] === '=') valueStart = beforeEquals + 1;
  else if (text[at] === ':' && /\s/.test(text[at + 1] ?? '')) valueStart = at + 2;
  else return undefined;

  // A quoted value may begin after white space, line breaks included; the longest one wins whose closing quote is
  // followed only by blanks or a comment.
  const quoteAt = skipSpace(text, valueStart);
  const quote = text[quoteAt];
  if (quote === "'" || quote === '"' || quote === '`') {
    for (const close of closingQuotes(text, quoteAt + 1, quote).reverse()) {
      const restEnd = endOfLine(text, close);
      const rest = text.slice(close + 1, restEnd);
      if (/^[ \t]*(#.*)?$/.test(rest)) {
        let value = text.slice(quoteAt + 1, close);
        if (quote === '"') value = value.replace(/\\n/g, '\n').replace(/\\r/g, '\r');
        return { key, value, start: lineStart, end: restEnd, owner: OWNER_MARK.exec(rest)?.[1] };
      }
    }
  }
  // Otherwise the value is the rest of its line up to a comment (empty when the line ends or a comment starts).
  const valueLineEnd = endOfLine(text, valueStart);
  const comment = text.indexOf('#', valueStart);
  const valueEnd = comment !== -1 && comment < valueLineEnd ? comment : valueLineEnd;
  return { key, value: unquoted(text.slice(valueStart, valueEnd).trim()), start: lineStart, end: valueLineEnd, owner: OWNER_MARK.exec(text.slice(valueEnd, valueLineEnd))?.[1] };
}

/**
 * Every quote that can close a value opened before `from`. Inside a quoted value a quote must follow a backslash;
 * such an escaped quote may itself be the closing one (the backslash then being part of the value). So the
 * candidates are the escaped quotes up to, and the first unescaped quote.
 */
function closingQuotes(text: string, from: number, quote: string): number[] {
  const candidates: number[] = [];
  for (let at = from; at < text.length; at++) {
    if (text[at] !== quote) continue;
    candidates.push(at);
    if (at - 1 < from || text[at - 1] !== '\\') break;
  }
  return candidates;
}

function skipBlanks(text: string, from: number, end: number): number {
  let at = from;
  while (at < end && (text[at] === ' ' || text[at] === '\t')) at++;
  return at;
}

function skipSpace(text: string, from: number): number {
  let at = from;
  while (at < text.length && /\s/.test(text[at]!)) at++;
  return at;
}

/** dotenv's rule for a value its quoted forms did not take: matching outer quotes still go, and a leading `"` expands. */
function unquoted(raw: string): string {
  const quote = raw[0];
  let value = raw;
  if (raw.length >= 2 && (quote === '"' || quote === "'" || quote === '`') && raw.endsWith(quote)) value = raw.slice(1, -1);
  return quote === '"' ? value.replace(/\\n/g, '\n').replace(/\\r/g, '\r') : value;
}

/**
 * One binding line that reads back as exactly `value`, with the owner mark; undefined when no quoting the dotenv
 * rules allow can hold the value (single quotes keep everything but a `'`, backticks everything but a backtick,
 * double quotes turn `\n` and `\r` into line breaks).
 */
export function formatBinding(key: string, value: string, owner: string): string | undefined {
  const mark = ` # managed-by: ${owner}`;
  // Every quoting dotenv could read; the first that reads back exactly wins.
  const candidates = [`'${value}'`, `\`${value}\``, `"${value.replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`, `"${value}"`];
  for (const quoted of candidates) {
    const line = `${key}=${quoted}${mark}`;
    const [parsed] = parseDotenv(line);
    if (parsed && parsed.key === key && parsed.value === value && parsed.owner === owner) return line;
  }
  return undefined;
}
