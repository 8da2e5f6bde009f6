/** Small helpers for benchmarks that compare ours with a baseline in the same run. */

/** Nanoseconds per call of `run`, over `iterations` sequential awaited calls. */
export async function nanosPerCall(run: () => unknown, iterations: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await run();
  return Number(process.hrtime.bigint() - started) / iterations;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Runs `rounds` alternating measurements of baseline and candidate, so drift hits both alike. */
export async function compare(baseline: () => unknown, candidate: () => unknown, options: { iterations: number; rounds: number; warmup?: number }) {
  for (let i = 0; i < (options.warmup ?? options.iterations); i++) {
    await baseline();
    await candidate();
  }
  const base: number[] = [];
  const ours: number[] = [];
  const added: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const b = await nanosPerCall(baseline, options.iterations);
    const o = await nanosPerCall(candidate, options.iterations);
    base.push(b);
    ours.push(o);
    added.push(o - b);
  }
  return { baselineNs: median(base), candidateNs: median(ours), addedNs: median(added), ratio: median(ours) / median(base) };
}

export function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(58)} ${value}\n`);
}
