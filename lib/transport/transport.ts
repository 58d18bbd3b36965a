// What a node host sees of the network: opaque batches to and from peers. The same host
// could run over TCP in another process; only this interface would change hands.

import type { MessagePort } from 'node:worker_threads';
import type { NodeId } from '../raft/types.js';
import type { LinkFault } from '../cluster/protocol.js';

export interface PeerTransport {
  /** Sends one encoded batch; the transport owns `bytes` afterwards (it may transfer it). */
  send(to: NodeId, bytes: Uint8Array): void;
  /** Called with whatever arrived from a peer: it is unchecked until decoded. */
  onReceive(handler: (from: NodeId, bytes: unknown) => void): void;
  /** The peers it can reach now (a peer added to the cluster at run time joins them). */
  peers(): readonly NodeId[];
  /** Called whenever peers() changes. */
  onPeersChanged(handler: () => void): void;
  close(): void;
}

/**
 * A full mesh of MessagePorts (one per peer, created and re-wired by the supervisor),
 * with fault injection on the sending side: a link can be blocked (partitions, one-way
 * cuts), lossy, duplicating, or slow. Faults are drawn from a seeded PRNG.
 */
export class PortMeshTransport implements PeerTransport {
  private readonly ports = new Map<NodeId, MessagePort>();
  private faults: Readonly<Record<string, LinkFault>> = {};
  private handler: (from: NodeId, bytes: unknown) => void = () => {};
  private peersChanged: () => void = () => {};
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  messagesDroppedByFaults = 0;

  constructor(private readonly random: () => number) {}

  /** Installs the port to `peer`, replacing (and closing) any earlier one. */
  attach(peer: NodeId, port: MessagePort): void {
    this.ports.get(peer)?.close();
    this.ports.set(peer, port);
    port.on('message', (data: unknown) => this.handler(peer, data));
    port.on('close', () => {
      if (this.ports.get(peer) !== port) return;
      this.ports.delete(peer);
      this.peersChanged();
    });
    this.peersChanged();
  }

  peers(): readonly NodeId[] {
    return [...this.ports.keys()];
  }

  onPeersChanged(handler: () => void): void {
    this.peersChanged = handler;
  }

  setFaults(faults: Readonly<Record<string, LinkFault>>): void {
    this.faults = faults;
  }

  onReceive(handler: (from: NodeId, bytes: unknown) => void): void {
    this.handler = handler;
  }

  send(to: NodeId, bytes: Uint8Array): void {
    const fault = this.faults[String(to)];
    if (fault !== undefined) {
      if (fault.blocked || (fault.dropRate > 0 && this.random() < fault.dropRate)) {
        this.messagesDroppedByFaults++;
        return;
      }
      if (fault.duplicateRate > 0 && this.random() < fault.duplicateRate) {
        this.post(to, bytes.slice(), fault.delayMs);
      }
      if (fault.delayMs > 0) {
        this.post(to, bytes, fault.delayMs);
        return;
      }
    }
    this.post(to, bytes, 0);
  }

  private post(to: NodeId, bytes: Uint8Array, delayMs: number): void {
    if (delayMs <= 0) {
      this.ports.get(to)?.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
      return;
    }
    // Jitter the delay so delayed messages also get reordered, as on a real network.
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.ports.get(to)?.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
    }, delayMs * (0.5 + this.random()));
    this.timers.add(timer);
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const port of this.ports.values()) port.close();
    this.ports.clear();
  }
}
