// The simulator's agenda: a binary min-heap of events ordered by virtual time, ties
// broken by insertion order so that a run is a pure function of its seed.

export interface Scheduled<E> {
  readonly time: number;
  readonly sequence: number;
  readonly event: E;
}

export class EventQueue<E> {
  readonly #heap: Scheduled<E>[] = [];
  #sequence = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(time: number, event: E): void {
    if (!Number.isFinite(time)) {
      throw new Error(`EventQueue.push: time must be finite, got ${time}`);
    }
    const heap = this.#heap;
    heap.push({ time, sequence: this.#sequence++, event });
    let child = heap.length - 1;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (!before(heap[child]!, heap[parent]!)) break;
      swap(heap, child, parent);
      child = parent;
    }
  }

  pop(): Scheduled<E> | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    heap[0] = last;
    let parent = 0;
    for (;;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let smallest = parent;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === parent) break;
      swap(heap, parent, smallest);
      parent = smallest;
    }
    return top;
  }
}

function before<E>(a: Scheduled<E>, b: Scheduled<E>): boolean {
  return a.time < b.time || (a.time === b.time && a.sequence < b.sequence);
}

function swap<T>(items: T[], i: number, j: number): void {
  const item = items[i]!;
  items[i] = items[j]!;
  items[j] = item;
}
