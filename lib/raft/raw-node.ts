// RawNode: the protocol core's public face (etcd raft's RawNode shape). Skeleton: the
// full implementation follows; signatures here are the contract hosts compile against.

import { defaultConfig } from './types.js';
import type {
  Config,
  Message,
  NodeId,
  ProposeResult,
  ReadIndexResult,
  Ready,
  RestoredState,
  Status,
} from './types.js';

export function createConfig(partial: Pick<Config, 'id' | 'peers' | 'random'> & Partial<Config>): Config {
  return { ...defaultConfig, ...partial };
}

export class RawNode {
  readonly #config: Config;

  constructor(config: Config, restored: RestoredState | null) {
    this.#config = config;
    void restored;
  }

  tick(): void {}

  step(message: Message): void {
    void message;
  }

  propose(data: Uint8Array): ProposeResult {
    void data;
    return { ok: false, code: 'NOT_LEADER', leaderId: 0 };
  }

  readIndex(context: number): ReadIndexResult {
    void context;
    return { ok: false, code: 'NOT_LEADER', leaderId: 0 };
  }

  transferLeadership(to: NodeId): void {
    void to;
  }

  campaign(): void {}

  hasReady(): boolean {
    return false;
  }

  ready(): Ready {
    return {
      softState: null,
      hardState: null,
      entries: [],
      messages: [],
      messagesAfterPersist: [],
      committedEntries: [],
      readStates: [],
    };
  }

  advance(): void {}

  status(): Status {
    return {
      id: this.#config.id,
      role: 'follower',
      currentTerm: 0,
      votedFor: 0,
      leaderId: 0,
      commitIndex: 0,
      lastLogIndex: 0,
      lastLogTerm: 0,
      electionElapsedTicks: 0,
      electionTimeoutTicks: this.#config.electionTicks,
      progress: [],
      leadTransferee: 0,
    };
  }
}
