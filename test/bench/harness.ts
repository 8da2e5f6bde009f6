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
  const ratios: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    // Alternate which goes first, so neither always runs on a warmer (or colder) process.
    const first = round % 2 === 0;
    const b = first ? await nanosPerCall(baseline, options.iterations) : 0;
    const o = await nanosPerCall(candidate, options.iterations);
    const b2 = first ? b : await nanosPerCall(baseline, options.iterations);
    base.push(b2);
    ours.push(o);
    added.push(o - b2);
    ratios.push(o / b2);
  }
  return { baselineNs: median(base), candidateNs: median(ours), addedNs: median(added), ratio: median(ours) / median(base), roundRatio: median(ratios), rounds: options.rounds };
}

export function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(58)} ${value}\n`);
}
