/** A child for the stale-lock race: on each `go`, appends its id to the file under withFileLock, then says done. */
import { readFile } from 'node:fs/promises';
import { withFileLock, writeFileAtomic } from 'secretbind';

const [path, id] = process.argv.slice(2) as [string, string];
process.on('message', (message) => {
  if (message !== 'go') return;
  void withFileLock(path, async () => {
    const before = await readFile(path, 'utf8').catch(() => '');
    await new Promise((resolve) => setImmediate(resolve)); // widen the window a second holder would write in
    await writeFileAtomic(path, `${before}${id}\n`);
  }).then(
    () => process.send?.('done'),
    (error: unknown) => process.send?.(`error ${String(error)}`),
  );
});
process.send?.('ready');
