/**
 * Fills in what some writers leave out of a KeePass file, before kdbxweb saves it. pykeepass makes groups with only
 * UUID, Times and Name (entries without an auto-type block); kdbxweb writes the missing values as empty elements,
 * and KeePassXC refuses the file ("Invalid EnableSearching value", then "Invalid number value"). The values filled in
 * are the ones KeePass and KeePassXC write for a new group or entry, so nothing changes in what a reader shows.
 */
import type * as Kdbxweb from 'kdbxweb';

/** KeePass's folder icon, what KeePass and KeePassXC give a new group. */
const GROUP_ICON = 48;

export function completeForKeePassXC(kdbxweb: typeof Kdbxweb, db: Kdbxweb.Kdbx): void {
  const zero = new kdbxweb.KdbxUuid();
  const times = (item: { times: Kdbxweb.KdbxTimes }): void => {
    item.times.expires ??= false;
    item.times.usageCount ??= 0;
  };
  const entry = (one: Kdbxweb.KdbxEntry): void => {
    times(one);
    one.autoType.enabled ??= true;
    for (const old of one.history) entry(old);
  };
  const group = (one: Kdbxweb.KdbxGroup): void => {
    one.icon ??= GROUP_ICON;
    one.expanded ??= true;
    // "null": inherit from the parent, as KeePass writes it for a group that sets neither.
    if (one.enableAutoType === undefined) one.enableAutoType = null;
    if (one.enableSearching === undefined) one.enableSearching = null;
    one.lastTopVisibleEntry ??= zero;
    times(one);
    for (const child of one.entries) entry(child);
    for (const child of one.groups) group(child);
  };
  for (const root of db.groups) group(root);
}
