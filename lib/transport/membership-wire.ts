// A configuration (Membership) as the wire and the WAL carry it, and the one set of checks
// for a configuration read from either. Both carry it as a msgpack array of two arrays,
// [voters, learners], or of three while joint (thesis §4.3), [voters, learners, outgoing
// voters]: in an entry's data slot (nil: the no-op, bin: a command, this
// array: a configuration entry), in an InstallSnapshot and in the snapshot file.
//
// What a configuration must be (lib/raft/types.ts, Membership): two lists of node ids,
// each a positive safe integer, each list sorted ascending without repeats, and no node
// in both; the outgoing voters sorted the same way and no learner among them. An empty
// list is accepted (an empty outgoing list reads as not joint) (a configuration with no voters exists only in
// theory, but it is not malformed).

import type { Membership, NodeId } from '../raft/types.js';
import type { MsgpackWriter } from './msgpack-writer.js';

/** Writes `membership` as [voters, learners] or, joint, [voters, learners, outgoing] (what msgpackr writes for that array). */
export function writeMembership(out: MsgpackWriter, membership: Membership): void {
  const outgoing = membership.outgoing ?? [];
  out.arrayHeader(outgoing.length > 0 ? 3 : 2);
  writeNodeList(out, membership.voters);
  writeNodeList(out, membership.learners);
  if (outgoing.length > 0) writeNodeList(out, outgoing);
}

function writeNodeList(out: MsgpackWriter, nodes: readonly NodeId[]): void {
  out.arrayHeader(nodes.length);
  for (const node of nodes) out.uint(node);
}

/** `membership` as the [voters, learners] pair (with the outgoing voters third while joint), for a value msgpackr packs. */
export function membershipPair(membership: Membership): (readonly NodeId[])[] {
  const outgoing = membership.outgoing ?? [];
  return outgoing.length > 0 ? [membership.voters, membership.learners, outgoing] : [membership.voters, membership.learners];
}

/**
 * A decoded [voters, learners] pair as a Membership holding those two arrays (the caller
 * owns them: they were just decoded), or why it is not a valid configuration. Never throws.
 */
export function membershipFromPair(value: unknown): Membership | string {
  if (!Array.isArray(value) || (value.length !== 2 && value.length !== 3)) return `configuration is ${describe(value)}, not a [voters, learners] pair`;
  return checkedMembership(value[0], value[1], value.length === 3 ? value[2] : undefined, false);
}

/**
 * A Membership-shaped object checked: with `copy`, a fresh Membership with fresh lists;
 * without, one holding the lists as they are. Or why it is not a valid configuration. Only
 * a getter of a caller's object can throw in here.
 */
export function checkMembership(value: unknown, copy: boolean): Membership | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `membership is ${describe(value)}, not { voters, learners }`;
  const { voters, learners, outgoing } = value as Record<string, unknown>;
  return checkedMembership(voters, learners, outgoing, copy);
}

function checkedMembership(voters: unknown, learners: unknown, outgoing: unknown, copy: boolean): Membership | string {
  const votersProblem = nodeListProblem(voters, 'voters');
  if (votersProblem !== null) return votersProblem;
  const learnersProblem = nodeListProblem(learners, 'learners');
  if (learnersProblem !== null) return learnersProblem;
  const voterList = voters as NodeId[];
  const learnerList = learners as NodeId[];
  // Both sorted: one merge walk finds a node in both.
  for (let v = 0, l = 0; v < voterList.length && l < learnerList.length; ) {
    const voter = voterList[v]!;
    const learner = learnerList[l]!;
    if (voter === learner) return `membership node ${voter} is both a voter and a learner`;
    if (voter < learner) v++;
    else l++;
  }
  if (outgoing === undefined || (Array.isArray(outgoing) && outgoing.length === 0)) {
    return copy ? { voters: voterList.slice(), learners: learnerList.slice() } : { voters: voterList, learners: learnerList };
  }
  const outgoingProblem = nodeListProblem(outgoing, 'outgoing voters');
  if (outgoingProblem !== null) return outgoingProblem;
  // An outgoing voter may be a learner too: a voter a joint change demotes.
  const outgoingList = outgoing as NodeId[];
  return copy
    ? { voters: voterList.slice(), learners: learnerList.slice(), outgoing: outgoingList.slice() }
    : { voters: voterList, learners: learnerList, outgoing: outgoingList };
}

/** Why `list` is not a list of node ids sorted ascending without repeats, or null. */
function nodeListProblem(list: unknown, name: 'voters' | 'learners' | 'outgoing voters'): string | null {
  if (!Array.isArray(list)) return `membership ${name} are ${describe(list)}, not an array`;
  let previous = 0;
  for (let i = 0; i < list.length; i++) {
    const node: unknown = list[i];
    if (typeof node !== 'number' || !Number.isSafeInteger(node) || node < 1) return `membership ${name}[${i}] ${describe(node)} is not a positive integer node id`;
    if (node === previous) return `membership ${name} list node ${node} twice`;
    if (node < previous) return `membership ${name} are not sorted ascending: ${node} after ${previous}`;
    previous = node;
  }
  return null;
}

const DESCRIBE_MAX_CHARS = 40;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, DESCRIBE_MAX_CHARS))}`;
  if (typeof value === 'bigint') return `${value}n`;
  return `${typeof value} ${String(value)}`;
}
