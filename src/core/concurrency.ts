/**
 * Runs `task` over `items` with at most `limit` running at once; resolves when all have settled.
 * Tasks handle their own failures: a rejection here is a bug and propagates.
 *
 * @example
 * ```ts
 * await forEachLimit(refs, 4, async (ref) => { answers.set(ref.raw, await readOne(ref)) })
 * ```
 */
export async function forEachLimit<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
