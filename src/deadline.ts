/**
 * One timer for many deadlines. A `setTimeout` per lookup costs more than the rest of a cached lookup
 * together, so pending deadlines sit in a list ordered by time and a single timer serves its head.
 * With one `timeoutMs` per resolver, deadlines arrive in order and insertion is O(1) at the tail.
 */

/** Milliseconds on the monotonic clock (`performance.now()`). */
export type MonotonicMs = number;

export interface Deadline {
  readonly at: MonotonicMs;
  /** @internal */ prev: Deadline | undefined;
  /** @internal */ next: Deadline | undefined;
  /** @internal */ linked: boolean;
  /** @internal */ readonly expire: () => void;
}

export class DeadlineQueue {
  #head: Deadline | undefined;
  #tail: Deadline | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #timerHoldsProcess = false;
  readonly #now: () => MonotonicMs;

  constructor(now: () => MonotonicMs = () => performance.now()) {
    this.#now = now;
  }

  /** Calls `expire` once `timeoutMs` have passed, unless `cancel` is called first. */
  add(timeoutMs: number, expire: () => void): Deadline {
    const entry: Deadline = { at: this.#now() + timeoutMs, prev: undefined, next: undefined, linked: true, expire };
    let after = this.#tail;
    while (after && after.at > entry.at) after = after.prev;
    this.#linkAfter(entry, after);
    if (this.#timer === undefined || entry.at < this.#timerAt) {
      this.#arm(entry.at);
    } else if (!this.#timerHoldsProcess) {
      this.#timer.ref(); // pending work again: keep the process alive until the deadline
      this.#timerHoldsProcess = true;
    }
    return entry;
  }

  cancel(entry: Deadline): void {
    if (!entry.linked) return;
    this.#unlink(entry);
    // The timer stays armed (clearing and re-arming per lookup is the cost we avoid); it only stops
    // holding the process open while nothing is pending.
    if (!this.#head && this.#timer && this.#timerHoldsProcess) {
      this.#timer.unref();
      this.#timerHoldsProcess = false;
    }
  }

  /** Drops every pending deadline without firing it and stops the timer. */
  clear(): void {
    while (this.#head) this.#unlink(this.#head);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #arm(at: MonotonicMs): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#fire, Math.max(0, Math.ceil(at - this.#now())));
    this.#timerHoldsProcess = true;
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    // setTimeout counts whole milliseconds; allow for it rather than re-arming for a fraction.
    const now = this.#now() + 1;
    while (this.#head && this.#head.at <= now) {
      const entry = this.#head;
      this.#unlink(entry);
      entry.expire();
    }
    if (this.#head) this.#arm(this.#head.at);
  };

  #linkAfter(entry: Deadline, after: Deadline | undefined): void {
    entry.prev = after;
    entry.next = after ? after.next : this.#head;
    if (entry.next) entry.next.prev = entry;
    else this.#tail = entry;
    if (after) after.next = entry;
    else this.#head = entry;
  }

  #unlink(entry: Deadline): void {
    if (entry.prev) entry.prev.next = entry.next;
    else this.#head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.#tail = entry.prev;
    entry.prev = entry.next = undefined;
    entry.linked = false;
  }
}
