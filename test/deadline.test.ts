import { describe, expect, it } from 'vitest';
import { DeadlineNode, DeadlineQueue } from '../src/access/deadline.js';

class Recorder extends DeadlineNode {
  constructor(
    readonly label: string,
    readonly fired: string[],
  ) {
    super();
  }
  expire(): void {
    this.fired.push(this.label);
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Class: DeadlineQueue', () => {
  it('fires expired nodes in deadline order and never fires cancelled ones', async () => {
    const queue = new DeadlineQueue();
    const fired: string[] = [];
    queue.add(new Recorder('b', fired), 30);
    const cancelled = new Recorder('cancelled', fired);
    queue.add(cancelled, 20);
    queue.add(new Recorder('a', fired), 10);
    queue.cancel(cancelled);
    await pause(60);
    expect(fired).toEqual(['a', 'b']);
  });

  it('fires a node added after an earlier one was cancelled', async () => {
    const queue = new DeadlineQueue();
    const fired: string[] = [];
    const early = new Recorder('early', fired);
    queue.add(early, 5);
    queue.cancel(early);
    queue.add(new Recorder('late', fired), 15);
    await pause(40);
    expect(fired).toEqual(['late']);
  });
});
