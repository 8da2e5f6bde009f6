import { SecretbindError } from '../core/index.js';
import { parseTemplate, type NameTemplate } from './template.js';

/**
 * A sync definition: which source entries go to which destination, under which names. Either `source` with
 * `entries`, `prefix` or `folder`, or `map` (ksm style: destination `KEY` or `KEY+JSON_KEY` to `store:reference`).
 */
export interface SyncDefinition {
  /** Unique; names the association group in statuses, events and metrics. */
  name: string;
  /** A writable store. */
  destination: string;
  source?: string;
  /** Entries of the source, as references (`apps/checkmk`). */
  entries?: readonly string[];
  /** Every entry under this path of the source, recursively. */
  prefix?: string;
  /** Every entry in this group of a KeePass source (its sub-groups included). */
  folder?: string;
  /** Destination `KEY` (one value) or `KEY+JSON_KEY` (one key of a JSON secret) to `store:reference`. */
  map?: Readonly<Record<string, string>>;
  /** Destination names; default `secretbind/{{ .SourceName }}/{{ .SecretPath }}` (`{{ .SecretPath }}` for dotenv... see docs/sync.md). */
  name_template?: string;
  /** `secret-path` (default): one destination entry per source entry; `secret-key`: one per field. */
  granularity?: 'secret-path' | 'secret-key';
  /** Take over destination entries that exist without secretbind's owner mark. Default: false. */
  adopt?: boolean;
  /** A destination entry changed by someone else: `overwrite` it (default, as Vault does) or `report` it. */
  on_drift?: 'overwrite' | 'report';
  /** Most removals one pass may make before it stops and asks for `--allow-deletes N`. Default: 10% of the associations, at least 1. */
  max_deletes?: number;
  /** Changes within this long of the last write are coalesced into one later write (`10m`, `90s`, or seconds). Default: 0. */
  min_update_interval?: string | number;
}

/** A definition checked and with its template parsed. */
export interface CheckedDefinition extends SyncDefinition {
  template: NameTemplate;
  /** For `map`: destination key to its sources, one per JSON key (`undefined` for a plain `KEY`). */
  mapped?: Map<string, Array<{ jsonKey: string | undefined; store: string; reference: string }>>;
  /** `min_update_interval` in milliseconds (0 when not set). */
  minUpdateIntervalMs: number;
}

export const DEFAULT_NAME_TEMPLATE = 'secretbind/{{ .SourceName }}/{{ .SecretPath }}';

/** Checks definitions (as read from a configuration file), naming the place of each problem: `sync[2].map`. */
export function checkDefinitions(definitions: readonly unknown[], place = 'sync'): CheckedDefinition[] {
  const names = new Set<string>();
  return definitions.map((raw, index) => {
    const at = `${place}[${index}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(at, 'expected an object');
    const definition = raw as Record<string, unknown>;
    const known = ['name', 'destination', 'source', 'entries', 'prefix', 'folder', 'map', 'name_template', 'granularity', 'adopt', 'on_drift', 'max_deletes', 'min_update_interval'];
    for (const key of Object.keys(definition)) if (!known.includes(key)) throw invalid(`${at}.${key}`, `unknown field (known: ${known.join(', ')})`);
    for (const key of ['name', 'destination'] as const) if (typeof definition[key] !== 'string' || !(definition[key] as string).trim()) throw invalid(`${at}.${key}`, 'required: a non-empty string');
    const name = definition.name as string;
    if (names.has(name)) throw invalid(`${at}.name`, `${JSON.stringify(name)} is used twice; sync names are unique`);
    names.add(name);
    const forms = ['entries', 'prefix', 'folder'].filter((key) => definition[key] !== undefined);
    if (definition.map !== undefined) {
      if (definition.source !== undefined || forms.length > 0) throw invalid(`${at}.map`, 'a map definition names its sources in the map; leave out source, entries, prefix and folder');
    } else {
      if (typeof definition.source !== 'string' || !definition.source) throw invalid(`${at}.source`, 'required unless map is given');
      if (forms.length === 0) throw invalid(at, 'name what to sync: entries, prefix or folder');
    }
    if (definition.entries !== undefined && (!Array.isArray(definition.entries) || definition.entries.some((entry) => typeof entry !== 'string' || !entry))) throw invalid(`${at}.entries`, 'expected a list of references');
    for (const key of ['prefix', 'folder'] as const) if (definition[key] !== undefined && typeof definition[key] !== 'string') throw invalid(`${at}.${key}`, 'expected a string');
    if (definition.granularity !== undefined && definition.granularity !== 'secret-path' && definition.granularity !== 'secret-key') throw invalid(`${at}.granularity`, 'expected "secret-path" or "secret-key"');
    if (definition.on_drift !== undefined && definition.on_drift !== 'overwrite' && definition.on_drift !== 'report') throw invalid(`${at}.on_drift`, 'expected "overwrite" or "report"');
    if (definition.adopt !== undefined && typeof definition.adopt !== 'boolean') throw invalid(`${at}.adopt`, 'expected true or false');
    let template: NameTemplate;
    try {
      template = parseTemplate(typeof definition.name_template === 'string' ? definition.name_template : definition.map !== undefined ? '{{ .SecretPath }}' : DEFAULT_NAME_TEMPLATE);
    } catch (error) {
      throw invalid(`${at}.name_template`, (error as Error).message);
    }
    if (definition.name_template !== undefined && typeof definition.name_template !== 'string') throw invalid(`${at}.name_template`, 'expected a string');
    if (template.placeholders.has('SecretKey') && definition.granularity !== 'secret-key') throw invalid(`${at}.name_template`, '.SecretKey needs granularity "secret-key"');
    if (definition.max_deletes !== undefined && (!Number.isInteger(definition.max_deletes) || (definition.max_deletes as number) < 0)) throw invalid(`${at}.max_deletes`, 'expected a whole number (0 or more)');
    const minUpdateIntervalMs = definition.min_update_interval === undefined ? 0 : durationMs(definition.min_update_interval);
    if (Number.isNaN(minUpdateIntervalMs)) throw invalid(`${at}.min_update_interval`, 'expected a duration such as 10m, 90s, or a number of seconds');
    const checked: CheckedDefinition = { ...(definition as unknown as SyncDefinition), template, minUpdateIntervalMs };
    if (definition.map !== undefined) checked.mapped = checkMap(definition.map, `${at}.map`);
    return checked;
  });
}

function checkMap(map: unknown, at: string): Map<string, Array<{ jsonKey: string | undefined; store: string; reference: string }>> {
  if (typeof map !== 'object' || map === null || Array.isArray(map) || Object.keys(map).length === 0) throw invalid(at, 'expected an object of KEY or KEY+JSON_KEY to store:reference');
  const mapped = new Map<string, Array<{ jsonKey: string | undefined; store: string; reference: string }>>();
  for (const [target, source] of Object.entries(map as Record<string, unknown>)) {
    const plus = target.indexOf('+');
    const key = plus === -1 ? target : target.slice(0, plus);
    const jsonKey = plus === -1 ? undefined : target.slice(plus + 1);
    if (!key || jsonKey === '') throw invalid(`${at}.${target}`, 'expected KEY or KEY+JSON_KEY');
    const colon = typeof source === 'string' ? source.indexOf(':') : -1;
    if (typeof source !== 'string' || colon <= 0 || colon === source.length - 1) throw invalid(`${at}.${target}`, 'expected store:reference');
    const list = mapped.get(key) ?? [];
    if ((jsonKey === undefined) !== (list[0]?.jsonKey === undefined) && list.length > 0) throw invalid(`${at}.${target}`, `${key} is mapped both whole and by JSON key`);
    if (jsonKey === undefined && list.length > 0) throw invalid(`${at}.${target}`, `${key} is mapped twice`);
    list.push({ jsonKey, store: source.slice(0, colon), reference: source.slice(colon + 1) });
    mapped.set(key, list);
  }
  return mapped;
}

/** `10m`, `90s`, `500ms`, `1h` or a number of seconds, in milliseconds; NaN when it is none of these. */
function durationMs(value: unknown): number {
  if (typeof value === 'number') return value >= 0 ? value * 1000 : Number.NaN;
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim()) : null;
  if (!match) return Number.NaN;
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
}

function invalid(place: string, problem: string): SecretbindError {
  return new SecretbindError('CONFIG_INVALID', `${place}: ${problem}`);
}
