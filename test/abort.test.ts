import { describe, expect, it } from 'vitest';
import { abortableDelay, untilAborted } from 'secretbind';

describe('Functions: abortableDelay and untilAborted', () => {
  it('waits the delay when nothing aborts', async () => {
    const started = performance.now();
    await abortableDelay(20, new AbortController().signal);
    expect(performance.now() - started).toBeGreaterThanOrEqual(18);
  });

  it('rejects with the reason as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('deadline');
    const started = performance.now();
    const waiting = abortableDelay(10_000, controller.signal);
    setTimeout(() => controller.abort(reason), 10);
    await expect(waiting).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1_000);
    await expect(untilAborted(Promise.resolve(1), controller.signal)).rejects.toBe(reason);
  });

  it('passes the work’s own outcome through', async () => {
    const signal = new AbortController().signal;
    expect(await untilAborted(Promise.resolve('value'), signal)).toBe('value');
    await expect(untilAborted(Promise.reject(new Error('failed')), signal)).rejects.toThrow('failed');
  });
});
