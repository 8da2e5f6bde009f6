import { describe, expect, it } from 'vitest';
import { checkDefinitions, SecretbindError, type AssociationRecord, type EntryInfo } from 'secretbind';
import { decide, type Desired, type Observation } from '../../src/sync/plan.js';

// The planner on its own: observations built by hand, no store, no provider, no state repository.
const [definition] = checkDefinitions([{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst' }]);
const MARKS = { mine: 'secretbind_apps', legacy: 'secretbind' };
const KEY_ID = 'key-1';

function seen(parts: Partial<Omit<Observation, 'records'>> & { listed?: EntryInfo[]; records?: AssociationRecord[] } = {}): Observation {
  const { listed = [], records = [], ...rest } = parts;
  return {
    definition: definition!,
    records: new Map(records.map((record) => [record.entry, record])),
    marks: MARKS,
    keyId: KEY_ID,
    allowDeletes: undefined,
    wants: [],
    failures: [],
    nameProblems: new Map(),
    listedEmpty: false,
    listing: { ok: true, entries: new Map(listed.map((info) => [info.name, info])) },
    lookedAt: new Map(),
    ...rest,
  };
}

const want = (entry: string, hmac = 'h1'): Desired => ({ entry, value: 'v', hmac, source: 'src', sourceEntry: `apps/${entry}` });
const synced = (entry: string, extra: Partial<AssociationRecord> = {}): AssociationRecord => ({ sync: 'apps', destination: 'dst', entry, status: 'SYNCED', changedAt: '2026-01-01T00:00:00.000Z', valueHmac: 'h1', hmacKeyId: KEY_ID, destinationVersion: '1', sourceEntry: `apps/${entry}`, ...extra });
const actions = (observation: Observation) => decide(observation).items.map((item) => [item.entry, item.action, item.code]);

describe('sync planning (pure)', () => {
  it('creates what is missing, leaves what the records vouch for, updates what the source changed', () => {
    const observation = seen({
      wants: [want('new'), want('same'), want('changed', 'h2')],
      listed: [{ name: 'same', version: '1', owner: MARKS.mine }, { name: 'changed', version: '1', owner: MARKS.mine }],
      records: [synced('same'), synced('changed')],
    });
    expect(actions(observation)).toEqual([
      ['new', 'create', undefined],
      ['same', 'unchanged', undefined],
      ['changed', 'update', undefined],
    ]);
  });

  it('never plans a write over an entry without this definition\'s mark, unless adopt', () => {
    const observation = seen({ wants: [want('theirs')], listed: [{ name: 'theirs', version: '7', owner: 'someone-else' }] });
    expect(actions(observation)).toEqual([['theirs', 'not-owned', 'ENTRY_NOT_OWNED']]);
    const [adopting] = checkDefinitions([{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst', adopt: true }]);
    expect(decide({ ...observation, definition: adopting! }).items.map((item) => item.action)).toEqual(['update']);
  });

  it('reports drift as a conflict with on_drift: report, and overwrites it by default', () => {
    const base = { wants: [want('db')], listed: [{ name: 'db', version: '2', owner: MARKS.mine }], records: [synced('db')], lookedAt: new Map([['db', { hmac: 'edited', matches: false }]]) };
    expect(actions(seen(base))).toEqual([['db', 'update', undefined]]);
    const [reporting] = checkDefinitions([{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst', on_drift: 'report' }]);
    expect(actions(seen({ ...base, definition: reporting! }))).toEqual([['db', 'conflict', 'CONFLICT']]);
    expect(actions(seen({ ...base, lookedAt: new Map([['db', { hmac: 'h1', matches: true }]]) }))).toEqual([['db', 'unchanged', undefined]]);
  });

  it('removes entries gone from the source only where it owns them, and stops at the delete guard', () => {
    const records = Array.from({ length: 10 }, (_, index) => synced(`e${index}`));
    const listed = records.map((record) => ({ name: record.entry, version: '1', owner: MARKS.mine }));
    // One of ten gone: within the default guard (a tenth).
    expect(actions(seen({ wants: records.slice(1).map((record) => want(record.entry)), records, listed })).filter(([, action]) => action === 'delete')).toEqual([['e0', 'delete', undefined]]);
    // All gone because the source listed nothing: nothing removed until confirmed.
    const emptied = seen({ records, listed, listedEmpty: true });
    expect(new Set(actions(emptied).map(([, action, code]) => `${action}:${code}`))).toEqual(new Set(['error:DELETE_GUARD']));
    expect(decide({ ...emptied, allowDeletes: 10 }).items.every((item) => item.action === 'delete')).toBe(true);
  });

  it('keeps the associations of a source entry that failed, and never reads the failure as a deletion', () => {
    const observation = seen({ records: [synced('db')], listed: [{ name: 'db', version: '1', owner: MARKS.mine }], failures: [{ sourceEntry: 'apps/db', entry: 'db', error: new SecretbindError('TIMEOUT', 'slow') }] });
    expect(actions(observation)).toEqual([['db', 'error', 'TIMEOUT']]);
  });

  it('fails every wanted entry when the destination cannot be listed, and everything when it cannot be used', () => {
    const listingFailed = seen({ wants: [want('a'), want('b')], listing: { ok: false, error: new SecretbindError('BACKEND_UNAVAILABLE', 'down') } });
    expect(actions(listingFailed)).toEqual([
      ['a', 'error', 'BACKEND_UNAVAILABLE'],
      ['b', 'error', 'BACKEND_UNAVAILABLE'],
    ]);
    expect(actions(seen({ unusable: { error: new SecretbindError('STORE_NOT_FOUND', 'no dst') } }))).toEqual([['*', 'error', 'STORE_NOT_FOUND']]);
  });

  it('refuses two sources landing on one name, naming both, and a name the destination cannot hold', () => {
    const observation = seen({ wants: [want('db'), { ...want('db'), sourceEntry: 'apps/other' }, want('bad name')], nameProblems: new Map([['bad name', new SecretbindError('REFERENCE_INVALID', 'no spaces')]]) });
    const items = decide(observation).items;
    expect(items.map((item) => [item.entry, item.code])).toEqual([
      ['db', 'REFERENCE_INVALID'],
      ['bad name', 'REFERENCE_INVALID'],
    ]);
    expect(items[0]!.reason).toContain('src:apps/db and src:apps/other');
  });
});
