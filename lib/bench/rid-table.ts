// The lean client's requests in flight, by request id. Rids are handed out in increasing
// order (1, 2, 3, ...), so a ring indexed by a rid's low bits holds them without hashing,
// and in the steady state without allocating: the ring doubles only when a new rid would
// land on a rid still in flight (one older than the ring's span), so it grows to the span
// of rids in flight at once and stays there. That span is bounded by the rids sent within
// one request timeout: the client's sweep ends every request older than that.
//
// It replaced a Map<number, number>. A Map with a set and a delete per request rebuilds
// its table every few thousand requests; at 270,000 writes/s those tables outlived
// scavenges, and V8's sampling heap profiler put 58% of what a load generator promoted to
// its old generation in Map set and delete. A promoted table is garbage a mark-compact
// must collect, and the generator's pauses delay every request it has due.

const INITIAL_CAPACITY = 1024;
/** A rid is an integer from 1 to this; 0 marks an empty place in the ring. */
const MAX_RID = Number.MAX_SAFE_INTEGER;

export class RidTable {
  /** By rid modulo capacity: the rid held there, 0 for none. */
  #rids = new Float64Array(INITIAL_CAPACITY);
  /** By the same place: the held rid's slot. */
  #slots = new Int32Array(INITIAL_CAPACITY);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get capacity(): number {
    return this.#rids.length;
  }

  /** Records that `rid`, not already held, is the request in `slot`. */
  set(rid: number, slot: number): void {
    if (!Number.isInteger(rid) || rid < 1 || rid > MAX_RID) throw new RangeError(`rid ${rid} is not an integer from 1 to ${MAX_RID}`);
    if (!Number.isInteger(slot) || slot < 0 || slot > 0x7fffffff) throw new RangeError(`slot ${slot} is not an integer from 0 to 2^31-1`);
    let place = this.#place(rid);
    while (this.#rids[place] !== 0) {
      if (this.#rids[place] === rid) throw new RangeError(`rid ${rid} is already in flight`);
      this.#grow();
      place = this.#place(rid);
    }
    this.#rids[place] = rid;
    this.#slots[place] = slot;
    this.#size++;
  }

  /** The slot of `rid`, or undefined when it is not held. */
  get(rid: number): number | undefined {
    const place = this.#place(rid);
    return this.#rids[place] === rid ? this.#slots[place] : undefined;
  }

  /** Forgets `rid`; false when it was not held. */
  delete(rid: number): boolean {
    const place = this.#place(rid);
    if (this.#rids[place] !== rid) return false;
    this.#rids[place] = 0;
    this.#size--;
    return true;
  }

  /** [rid, slot] of every rid held, oldest (lowest rid) first: a copy, so the caller may delete as it goes. */
  entries(): [number, number][] {
    return this.select(() => true);
  }

  /**
   * [rid, slot] of the rids held for which `wanted` is true, oldest first: a copy, as
   * entries(). Only those are allocated for, so a periodic sweep that usually finds
   * nothing (the client's timeouts) costs a scan of the ring and nothing more.
   */
  select(wanted: (rid: number, slot: number) => boolean): [number, number][] {
    const selected: [number, number][] = [];
    for (let place = 0; place < this.#rids.length; place++) {
      const rid = this.#rids[place]!;
      if (rid !== 0 && wanted(rid, this.#slots[place]!)) selected.push([rid, this.#slots[place]!]);
    }
    return selected.length > 1 ? selected.sort((a, b) => a[0] - b[0]) : selected;
  }

  #place(rid: number): number {
    // The capacity is a power of two, so this is rid's low bits (exact for any safe integer).
    return rid % this.#rids.length;
  }

  /** Doubles the ring until every rid held has a place of its own. */
  #grow(): void {
    const held = this.entries();
    for (let capacity = this.#rids.length * 2; ; capacity *= 2) {
      const rids = new Float64Array(capacity);
      const slots = new Int32Array(capacity);
      let clash = false;
      for (const [rid, slot] of held) {
        const place = rid % capacity;
        if (rids[place] !== 0) {
          clash = true;
          break;
        }
        rids[place] = rid;
        slots[place] = slot;
      }
      if (clash) continue;
      this.#rids = rids;
      this.#slots = slots;
      return;
    }
  }
}
