/**
 * One timer for many deadlines. A `setTimeout` per lookup costs more than the rest of a cached lookup
 * together, so pending deadlines sit in a list ordered by time and a single timer serves its head.
 * With one `timeoutMs` per resolver, deadlines arrive in order and insertion is O(1) at the tail.
 * The list is intrusive: a pending call is its own node, so a lookup allocates nothing extra for it.
 *
 * The timer never holds the process open (toggling ref/unref per lookup is a native call each way). A read
 * that is really in progress holds the event loop through its own socket, process or file, so the deadline
 * still fires; a provider waiting on nothing at all lets the process exit, which is what it would do anyway.
 */

/** Milliseconds on the monotonic clock (`performance.now()`). */
export type MonotonicMs = number;

/** Something with a deadline. Subclass it; the queue owns the link fields. */
export abstract class DeadlineNode {
  /** @internal */ deadlineAt = 0;
  /** @internal */ prevDeadline: DeadlineNode | undefined = undefined;
  /** @internal */ nextDeadline: DeadlineNode | undefined = undefined;
  /** @internal */ queued = false;
  /** Called once when the deadline passes while the node is still queued. */
  abstract expire(): void;
}

export class DeadlineQueue {
  #head: DeadlineNode | undefined;
  #tail: DeadlineNode | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  readonly #now: () => MonotonicMs;

  constructor(now: () => MonotonicMs = () => performance.now()) {
    this.#now = now;
  }

  /** Queues `node` to expire after `timeoutMs`, unless cancelled first. */
  add(node: DeadlineNode, timeoutMs: number): void {
    const at = this.#now() + timeoutMs;
    node.deadlineAt = at;
    let after = this.#tail;
    while (after && after.deadlineAt > at) after = after.prevDeadline;
    this.#linkAfter(node, after);
    if (this.#timer === undefined || at < this.#timerAt) this.#arm(at);
  }

  cancel(node: DeadlineNode): void {
    // The timer stays armed: clearing and re-arming per lookup is the cost this class exists to avoid.
    if (node.queued) this.#unlink(node);
  }

  #arm(at: MonotonicMs): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#fire, Math.max(0, Math.ceil(at - this.#now())));
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    // setTimeout counts whole milliseconds; allow for it rather than re-arming for a fraction.
    const now = this.#now() + 1;
    while (this.#head && this.#head.deadlineAt <= now) {
      const node = this.#head;
      this.#unlink(node);
      try {
        node.expire();
      } catch {
        // A node that throws must not strand the nodes behind it, leave the timer unarmed, or crash the host
        // from a timer callback. Nodes report their own failures (ProviderCall does, through the event hook).
      }
    }
    if (this.#head) this.#arm(this.#head.deadlineAt);
  };

  #linkAfter(node: DeadlineNode, after: DeadlineNode | undefined): void {
    node.queued = true;
    node.prevDeadline = after;
    node.nextDeadline = after ? after.nextDeadline : this.#head;
    if (node.nextDeadline) node.nextDeadline.prevDeadline = node;
    else this.#tail = node;
    if (after) after.nextDeadline = node;
    else this.#head = node;
  }

  #unlink(node: DeadlineNode): void {
    if (node.prevDeadline) node.prevDeadline.nextDeadline = node.nextDeadline;
    else this.#head = node.nextDeadline;
    if (node.nextDeadline) node.nextDeadline.prevDeadline = node.prevDeadline;
    else this.#tail = node.prevDeadline;
    node.prevDeadline = node.nextDeadline = undefined;
    node.queued = false;
  }
}
