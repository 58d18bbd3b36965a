// A tiny in-test network for driving RawNodes by hand: no timers, no randomness beyond
// a seeded PRNG. Messages are queued and delivered only when the test says so, so each
// test controls exactly which messages arrive, in which order, and which are lost.

import { createConfig, RawNode } from '../lib/raft/raw-node.js';
import { createPrng } from '../lib/raft/prng.js';
import { describeMessage } from '../lib/raft/describe.js';
import type { Config, Entry, HardState, Message, NodeId, ReadState, Snapshot } from '../lib/raft/types.js';

export interface Disk {
  hardState: HardState;
  /** The newest snapshot; `entries` follow it. */
  snapshot: Snapshot | null;
  entries: Entry[];
}

export interface HarnessOptions {
  readonly seed?: number;
  readonly config?: Partial<Omit<Config, 'id' | 'peers' | 'random'>>;
  /** Per-node overrides, e.g. test-only bugs on one node. */
  readonly configFor?: (id: NodeId) => Partial<Omit<Config, 'id' | 'peers' | 'random'>>;
  readonly trace?: boolean;
  /** Give every node an entryLoader reading its disk (the cluster's host does the same with its WAL). */
  readonly entryLoader?: boolean;
  /** The bootstrap voters (Config.peers) of every node; default: all of them. The others start outside the configuration, as nodes added later do. */
  readonly bootstrap?: readonly NodeId[];
}

export class Harness {
  readonly ids: readonly NodeId[];
  readonly seed: number;
  readonly nodes = new Map<NodeId, RawNode>();
  readonly disks = new Map<NodeId, Disk>();
  readonly applied = new Map<NodeId, Entry[]>();
  /** Snapshots each node's state machine was reset from (Ready.snapshot), in order. */
  readonly restoredSnapshots = new Map<NodeId, Snapshot[]>();
  readonly readStates = new Map<NodeId, ReadState[]>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  readonly traceLines: string[] = [];
  /** Directed links that drop everything: "from->to". */
  readonly #cut = new Set<string>();
  readonly #options: HarnessOptions;
  readonly #down = new Set<NodeId>();
  /** Every message ever delivered, for assertions about what was sent. */
  readonly delivered: Message[] = [];
  /** With options.entryLoader: per node, the entries read back from its disk. */
  readonly loaded = new Map<NodeId, number>();

  constructor(size: number, options: HarnessOptions = {}) {
    this.ids = Array.from({ length: size }, (_, position) => position + 1);
    this.seed = options.seed ?? 1;
    this.#options = options;
    for (const id of this.ids) {
      this.disks.set(id, { hardState: { currentTerm: 0, votedFor: 0, commitIndex: 0 }, snapshot: null, entries: [] });
      this.applied.set(id, []);
      this.restoredSnapshots.set(id, []);
      this.readStates.set(id, []);
      this.nodes.set(id, this.#createNode(id, false));
    }
  }

  #createNode(id: NodeId, restore: boolean): RawNode {
    const disk = this.disks.get(id)!;
    const appliedEntries = this.applied.get(id)!;
    const config = createConfig({
      id,
      peers: this.#options.bootstrap ?? this.ids,
      random: createPrng(this.seed * 1000 + id + (restore ? 500 : 0)),
      ...this.#options.config,
      ...this.#options.configFor?.(id),
      entryLoader: this.#options.entryLoader === true ? (from: number, to: number) => this.#readDisk(id, from, to) : null,
      applied: restore ? Math.max(appliedEntries[appliedEntries.length - 1]?.index ?? 0, disk.snapshot?.index ?? 0) : 0,
      trace: (line: string) => {
        this.traceLines.push(line);
        if (this.#options.trace === true) console.log(line);
      },
    });
    return new RawNode(config, restore ? { hardState: disk.hardState, snapshot: disk.snapshot, entries: [...disk.entries] } : null);
  }

  /** Entries [from, to] of the disk of `id`; throws for any it does not hold. */
  #readDisk(id: NodeId, from: number, to: number): Entry[] {
    const disk = this.disks.get(id)!;
    const base = disk.snapshot?.index ?? 0;
    const out = disk.entries.slice(from - base - 1, to - base);
    if (from <= base || out.length !== to - from + 1) throw new Error(`node ${id}: entries [${from}, ${to}] are not on its disk (after snapshot ${base}, ${disk.entries.length} entries)`);
    this.loaded.set(id, (this.loaded.get(id) ?? 0) + out.length);
    return out;
  }

  node(id: NodeId): RawNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  status(id: NodeId) {
    return this.node(id).status();
  }

  /** Handle one Ready of `id` the way a host does: persist, send, apply, advance. */
  processReady(id: NodeId): boolean {
    if (this.#down.has(id)) return false;
    const node = this.node(id);
    if (!node.hasReady()) return false;
    const ready = node.ready();
    const disk = this.disks.get(id)!;
    if (ready.snapshot !== null) {
      // The core hands out a snapshot only when it discarded its whole log (§7).
      disk.snapshot = ready.snapshot;
      disk.entries = [];
      this.restoredSnapshots.get(id)!.push(ready.snapshot);
    }
    if (ready.entries.length > 0) {
      const first = ready.entries[0]!;
      disk.entries.length = first.index - 1 - (disk.snapshot?.index ?? 0);
      disk.entries.push(...ready.entries);
    }
    if (ready.hardState !== null) disk.hardState = ready.hardState;
    this.#enqueue(ready.messages);
    this.#enqueue(ready.messagesAfterPersist);
    this.applied.get(id)!.push(...ready.committedEntries);
    this.readStates.get(id)!.push(...ready.readStates);
    node.advance();
    return true;
  }

  #enqueue(messages: readonly Message[]): void {
    for (const message of messages) {
      if (this.#cut.has(`${message.from}->${message.to}`)) continue;
      this.queue.push(message);
    }
  }

  processAllReadies(): boolean {
    let any = false;
    for (const id of this.ids) if (this.processReady(id)) any = true;
    return any;
  }

  /** Deliver every queued message once (the batch sent so far) and process the resulting Readys. Returns the number delivered. */
  deliverRound(filter: (message: Message) => boolean = () => true): number {
    const batch = this.queue;
    this.queue = [];
    let delivered = 0;
    for (const message of batch) {
      if (!filter(message)) continue;
      if (this.#down.has(message.to) || this.#cut.has(`${message.from}->${message.to}`)) continue;
      this.delivered.push(message);
      this.node(message.to).step(message);
      delivered++;
    }
    this.processAllReadies();
    return delivered;
  }

  /** Process readies and deliver until no message is left; returns the number of rounds. */
  stabilize(maxRounds = 10_000): number {
    this.processAllReadies();
    let rounds = 0;
    while (this.queue.length > 0) {
      if (rounds >= maxRounds) throw new Error(`network did not settle within ${maxRounds} rounds (seed ${this.seed})`);
      this.deliverRound();
      rounds++;
    }
    return rounds;
  }

  tick(id: NodeId, times = 1): void {
    for (let count = 0; count < times; count++) {
      if (this.#down.has(id)) return;
      this.node(id).tick();
      this.processReady(id);
    }
  }

  tickAll(times = 1): void {
    for (let count = 0; count < times; count++) for (const id of this.ids) this.tick(id);
  }

  /** Campaign on `id` and run the network until it settles. */
  elect(id: NodeId): void {
    this.node(id).campaign();
    this.stabilize();
  }

  leaderIds(): NodeId[] {
    return this.ids.filter((id) => !this.#down.has(id) && this.status(id).role === 'leader');
  }

  propose(id: NodeId, text: string) {
    return this.node(id).propose(new TextEncoder().encode(text));
  }

  /** Cut both directions between every node in `a` and every node in `b`. */
  cut(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const from of a) for (const to of b) {
      this.#cut.add(`${from}->${to}`);
      this.#cut.add(`${to}->${from}`);
    }
  }

  isolate(id: NodeId): void {
    this.cut([id], this.ids.filter((other) => other !== id));
  }

  heal(): void {
    this.#cut.clear();
  }

  /** Crash: the node stops; what was on its disk survives. */
  crash(id: NodeId): void {
    this.#down.add(id);
  }

  restart(id: NodeId): void {
    this.#down.delete(id);
    this.nodes.set(id, this.#createNode(id, true));
  }

  /**
   * Replace node `id` with one restored from a hand-written disk: entries with the given
   * terms (data "i" for index i), currentTerm, votedFor, commitIndex.
   */
  load(id: NodeId, terms: readonly number[], currentTerm: number, votedFor = 0, commitIndex = 0): void {
    const entries = terms.map((term, position) => ({ index: position + 1, term, data: new TextEncoder().encode(`e${position + 1}@${term}`) }));
    this.disks.set(id, { hardState: { currentTerm, votedFor, commitIndex }, snapshot: null, entries });
    this.applied.set(id, []);
    this.restart(id);
  }

  /**
   * The host of `id` compacts: its state machine at `index` is serialized as the text
   * "state@<index>"; the snapshot goes to its disk and the entries it covers leave it.
   */
  compact(id: NodeId, index: number): Snapshot | null {
    const data = new TextEncoder().encode(`state@${index}`);
    const metadata = this.node(id).compact(index, data);
    if (metadata === null) return null;
    const disk = this.disks.get(id)!;
    const snapshot = { ...metadata, data };
    disk.entries = disk.entries.filter((entry) => entry.index > index);
    disk.snapshot = snapshot;
    return snapshot;
  }

  /** Terms of the durable log of `id` (after its snapshot, if any). */
  termsOf(id: NodeId): number[] {
    return this.disks.get(id)!.entries.map((entry) => entry.term);
  }

  /** The log of `id` as data and terms, for comparisons. */
  logOf(id: NodeId): string[] {
    return this.disks.get(id)!.entries.map((entry) => `${entry.term}:${entry.data === null ? 'noop' : new TextDecoder().decode(entry.data)}`);
  }

  describeQueue(): string {
    return this.queue.map(describeMessage).join('\n');
  }
}

export const text = (value: string): Uint8Array => new TextEncoder().encode(value);
export const decode = (entry: Entry): string => (entry.data === null ? 'noop' : new TextDecoder().decode(entry.data));

/** A lone RawNode for driving by hand, with an optional restored log (terms only). */
export function makeNode(
  id: NodeId,
  peers: readonly NodeId[],
  options: {
    readonly terms?: readonly number[];
    readonly currentTerm?: number;
    readonly votedFor?: NodeId;
    readonly commitIndex?: number;
    readonly seed?: number;
    readonly config?: Partial<Omit<Config, 'id' | 'peers' | 'random'>>;
  } = {},
): RawNode {
  const entries = (options.terms ?? []).map((term, position) => ({ index: position + 1, term, data: new TextEncoder().encode(`e${position + 1}`) }));
  const restored =
    entries.length > 0 || options.currentTerm !== undefined
      ? { hardState: { currentTerm: options.currentTerm ?? 0, votedFor: options.votedFor ?? 0, commitIndex: options.commitIndex ?? 0 }, entries }
      : null;
  return new RawNode(createConfig({ id, peers, random: createPrng(options.seed ?? id), ...options.config }), restored);
}

/** Take the pending Ready (if any) and advance; returns it, or an empty one. */
export function drain(node: RawNode) {
  if (!node.hasReady()) {
    return { softState: null, snapshot: null, hardState: null, entries: [], messages: [], messagesAfterPersist: [], committedEntries: [], readStates: [] } as const;
  }
  const ready = node.ready();
  node.advance();
  return ready;
}

/** All messages of a Ready, both lists. */
export function allMessages(ready: { readonly messages: readonly Message[]; readonly messagesAfterPersist: readonly Message[] }): Message[] {
  return [...ready.messages, ...ready.messagesAfterPersist];
}
