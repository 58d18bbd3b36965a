// The cluster manifest: `<dataDir>/cluster.json`, which nodes a data directory's cluster
// runs, written when the cluster first starts there and at every membership change. The
// configuration itself lives in the Raft log (configuration entries, thesis §4); the
// manifest only tells the supervisor which workers to start when it opens the directory
// again: the bootstrap ids every worker gets as Config.peers, and the nodes added since
// (minus the ones removed). Written whole to a temporary file, synced, then
// renamed over the old one, so a crash leaves the old manifest or the new one.
//
// It also records which nodes have written their files (`initialized`): a node's term,
// vote and log exist only there, so one listed whose files are gone is refused rather
// than started empty. A node that forgot its vote can vote twice in a term, and one that
// forgot entries it acknowledged can make a majority without a committed write.
//
// And the cluster's id (`cluster`, 32 hex digits made at its first start, or at the first
// start of a directory whose cluster.json has none): every node names it, with its own
// id, in the header of each WAL segment it writes, so a node's WAL copied in from another
// cluster (same id, same bootstrap voters) is refused (WAL_FOREIGN) instead of run.

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeId } from '../raft/types.js';
import { walOwnerOf } from '../storage/file-storage.js';
import { ErrorCode, RaftlabError } from './errors.js';

export const MANIFEST_FILE = 'cluster.json';
const MANIFEST_FORMAT = 1;

export interface ClusterManifest {
  /** The bootstrap configuration's voters: every worker's Config.peers. */
  readonly bootstrap: readonly NodeId[];
  /** The nodes to run: the bootstrap ones and those added, minus those removed. */
  readonly nodes: readonly NodeId[];
  /**
   * The nodes among `nodes` known to have written their files (their first start went
   * through), ascending; null in a manifest written before raftlab recorded it.
   */
  readonly initialized: readonly NodeId[] | null;
  /** The cluster's id (see above); absent in a manifest written before raftlab recorded one. */
  readonly cluster?: string | undefined;
  /**
   * The highest node id the cluster ever used: an added node takes the next one, so a
   * removed node's id is never used again, even once its directory has been deleted
   * (nothing else here would remember it). Absent in a manifest written before raftlab
   * recorded it: then the ids in use and the node directories left decide.
   */
  readonly highestId?: NodeId | undefined;
}

/** A cluster id as cluster.json and the WAL's segment headers record it (FileStorageOptions.owner). */
const CLUSTER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A new cluster's id: 128 random bits, in hex. */
export function newClusterId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The id for a directory whose cluster.json has none (or that has no cluster.json): the
 * one its nodes' WALs name, if they name one (cluster.json replaced by hand, or removed);
 * a new one if none does (a new directory, or WALs from before they named one). Nodes
 * whose WALs name different clusters are refused (INVALID_CONFIG): which is this
 * directory's cluster and which was copied in, only the cluster.json that knew can say.
 */
export function clusterIdFor(dataDir: string, nodes: readonly NodeId[]): string {
  const named = new Map<string, NodeId[]>();
  for (const id of nodes) {
    const owner = walOwnerOf(join(dataDir, `node-${id}`));
    if (owner !== null) named.set(owner.cluster, [...(named.get(owner.cluster) ?? []), id]);
  }
  if (named.size === 0) return newClusterId();
  const [only] = named.keys();
  if (named.size === 1) return only!;
  const which = [...named].map(([cluster, ids]) => `node(s) ${ids.join(', ')} of cluster ${cluster}`).join('; ');
  throw new RaftlabError(
    ErrorCode.InvalidConfig,
    `${join(dataDir, MANIFEST_FILE)} names no cluster id, and the nodes' WALs name several: ${which}. Put back the cluster.json this directory ran with (it names the cluster), or move the foreign nodes' directories away`,
  );
}

/** Where a cluster's layout came from: a new directory, its cluster.json, or (a directory from before every start wrote one) its node directories. */
export type LayoutSource = 'new' | 'manifest' | 'node-directories';

export interface ClusterLayout {
  readonly manifest: ClusterManifest;
  readonly source: LayoutSource;
}

const NODE_DIRECTORY = /^node-([1-9][0-9]{0,8})$/;

/**
 * Which nodes start on `dataDir`. Its cluster.json when it has one; else, when it holds
 * node directories (written before every start recorded its nodes), those, which must
 * then be nodes 1..K (no node was ever added or removed there); else `requestedNodes`
 * fresh nodes. A directory's cluster decides, never `requestedNodes`: starting a
 * 3-node directory's logs as a 1-node cluster would let node 1 alone commit, and elect
 * a leader that lacks writes the other two acknowledged.
 */
export function resolveLayout(dataDir: string, requestedNodes: number, maxNodes: number): ClusterLayout {
  const manifest = readManifest(dataDir, maxNodes);
  if (manifest !== null) return { manifest, source: 'manifest' };
  const ids = nodeDirectoryIds(dataDir);
  if (ids.length === 0) {
    const fresh = Array.from({ length: requestedNodes }, (_, i) => i + 1);
    return { manifest: { bootstrap: fresh, nodes: fresh, initialized: [], cluster: newClusterId() }, source: 'new' };
  }
  if (ids.length > maxNodes || ids.some((id, i) => id !== i + 1)) {
    const listed = ids.map((id) => `node-${id}`).join(', ');
    throw new RaftlabError(
      ErrorCode.InvalidConfig,
      `${dataDir} holds ${listed} but no ${MANIFEST_FILE}, so which nodes its cluster runs is unknown; write one ({"format":${MANIFEST_FORMAT},"bootstrap":[...],"nodes":[...]}) or start on another directory`,
    );
  }
  return { manifest: { bootstrap: ids, nodes: ids, initialized: null }, source: 'node-directories' };
}

/** The ids of `dataDir`'s node-<id> directories, ascending (none if it does not exist). */
export function nodeDirectoryIds(dataDir: string): NodeId[] {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new RaftlabError(ErrorCode.InvalidConfig, `cannot read the data directory ${dataDir}: ${(error as Error).message}`);
  }
  const ids = names.flatMap((name) => {
    const match = NODE_DIRECTORY.exec(name);
    return match === null ? [] : [Number(match[1])];
  });
  return ids.sort((a, b) => a - b);
}

/** The manifest of `dataDir`, null when it has none (a new directory, or one from before every start wrote it). */
export function readManifest(dataDir: string, maxNodes: number): ClusterManifest | null {
  const path = join(dataDir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new RaftlabError(ErrorCode.InvalidConfig, `cannot read ${path}: ${(error as Error).message}`);
  }
  const refuse = (why: string): never => {
    throw new RaftlabError(ErrorCode.InvalidConfig, `${path} is not a raftlab cluster manifest: ${why} (move it away to start the bootstrap nodes only)`);
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return refuse(`not JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null) return refuse('not an object');
  const { format, bootstrap, nodes, initialized, cluster, highestId } = value as Record<string, unknown>;
  if (format !== MANIFEST_FORMAT) return refuse(`format ${JSON.stringify(format)}, expected ${MANIFEST_FORMAT}`);
  if (cluster !== undefined && (typeof cluster !== 'string' || !CLUSTER_ID.test(cluster))) return refuse(`cluster ${JSON.stringify(cluster)} is not a cluster id (1 to 64 letters, digits, '-' or '_')`);
  if (highestId !== undefined && (typeof highestId !== 'number' || !Number.isSafeInteger(highestId) || highestId <= 0)) return refuse(`highestId holds ${JSON.stringify(highestId)}, not a node id`);
  const id = { ...(cluster === undefined ? {} : { cluster }), ...(highestId === undefined ? {} : { highestId }) };
  const ids = (name: string, list: unknown, min = 1): NodeId[] => {
    if (!Array.isArray(list) || list.length < min || list.length > maxNodes) return refuse(`${name} must list ${min} to ${maxNodes} node ids`);
    for (let i = 0; i < list.length; i++) {
      const id: unknown = list[i];
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) return refuse(`${name} holds ${JSON.stringify(id)}, not a node id`);
      if (i > 0 && (list[i - 1] as number) >= id) return refuse(`${name} is not sorted and distinct`);
    }
    return list as NodeId[];
  };
  const running = ids('nodes', nodes);
  if (initialized === undefined) return { bootstrap: ids('bootstrap', bootstrap), nodes: running, initialized: null, ...id };
  const written = ids('initialized', initialized, 0);
  const stray = written.find((id) => !running.includes(id));
  if (stray !== undefined) return refuse(`initialized holds node ${stray}, which is not in nodes`);
  return { bootstrap: ids('bootstrap', bootstrap), nodes: running, initialized: written, ...id };
}

/** Writes `dataDir`'s manifest, or throws MANIFEST_IO and leaves the old one (and no temporary file). */
export function writeManifest(dataDir: string, manifest: ClusterManifest): void {
  const path = join(dataDir, MANIFEST_FILE);
  const fields = {
    format: MANIFEST_FORMAT,
    ...(manifest.cluster === undefined ? {} : { cluster: manifest.cluster }),
    bootstrap: manifest.bootstrap,
    nodes: manifest.nodes,
    ...(manifest.initialized === null ? {} : { initialized: manifest.initialized }),
    ...(manifest.highestId === undefined ? {} : { highestId: manifest.highestId }),
  };
  try {
    replaceDurably(dataDir, path, `${JSON.stringify(fields)}\n`);
  } catch (error) {
    throw new RaftlabError(ErrorCode.ManifestIo, `cannot write ${path}: ${(error as Error).message}`);
  }
}

/** Puts `text` at `path` in `directory` whole or not at all: a temporary file, synced, renamed over it, the directory synced. */
function replaceDurably(directory: string, path: string, text: string): void {
  const temporary = `${path}.tmp`;
  try {
    const fd = openSync(temporary, 'w');
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // Not made.
    }
    throw error;
  }
  const directoryFd = openSync(directory, 'r');
  try {
    fsyncSync(directoryFd);
  } finally {
    closeSync(directoryFd);
  }
}

/**
 * A node's identity: `node-<id>/identity.json`, written at its first start. Its id and
 * bootstrap voters live nowhere in its log (Config.peers comes from cluster.json), so a
 * cluster.json edited to other bootstrap voters, or a node directory renamed to another
 * id, would start a node under a configuration it never had: one node of three, told it
 * bootstraps alone, elects itself and serves a log without the writes the other two
 * acknowledged. Checked at every start of the node.
 */
export const IDENTITY_FILE = 'identity.json';

/** Refuses (INVALID_CONFIG) a node whose recorded identity disagrees; writes it for a node that has none. */
export function checkNodeIdentity(nodeDir: string, id: NodeId, bootstrap: readonly NodeId[]): void {
  if (identityMismatch(nodeDir, id, bootstrap) === 'missing') writeNodeIdentity(nodeDir, id, bootstrap);
}

/**
 * Checks every node's identity before any is written: a start refused for one node's
 * identity must not have stamped the others' with the configuration it refused. Then
 * writes the missing ones (the node directories must exist by then).
 */
export function checkNodeIdentities(dataDir: string, ids: readonly NodeId[], bootstrap: readonly NodeId[]): () => void {
  const missing = ids.filter((id) => identityMismatch(join(dataDir, `node-${id}`), id, bootstrap) === 'missing');
  return () => {
    for (const id of missing) writeNodeIdentity(join(dataDir, `node-${id}`), id, bootstrap);
  };
}

/** 'missing' when the node has no identity yet, 'same' when it agrees; throws INVALID_CONFIG when it disagrees. */
function identityMismatch(nodeDir: string, id: NodeId, bootstrap: readonly NodeId[]): 'missing' | 'same' {
  const path = join(nodeDir, IDENTITY_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw new RaftlabError(ErrorCode.InvalidConfig, `cannot read ${path}: ${(error as Error).message}`);
  }
  let found = JSON.stringify(text.trim());
  try {
    const value = JSON.parse(text) as { id?: unknown; bootstrap?: unknown };
    const recorded = value.bootstrap;
    // Compared by value: an identity reformatted by hand is the same identity.
    if (value.id === id && Array.isArray(recorded) && recorded.length === bootstrap.length && recorded.every((voter, i) => voter === bootstrap[i])) return 'same';
    found = `node ${JSON.stringify(value.id)} with bootstrap voters ${JSON.stringify(value.bootstrap)}`;
  } catch {
    // Not JSON: shown as it is.
  }
  throw new RaftlabError(
    ErrorCode.InvalidConfig,
    `${nodeDir} belongs to ${found} (${path}), but is started as node ${id} with bootstrap voters ${JSON.stringify(bootstrap)}: its log was written under the other configuration, and starting it under this one could lose committed writes. Put back the cluster.json (or the directory name) it ran with`,
  );
}

function writeNodeIdentity(nodeDir: string, id: NodeId, bootstrap: readonly NodeId[]): void {
  const path = join(nodeDir, IDENTITY_FILE);
  try {
    replaceDurably(nodeDir, path, `${JSON.stringify({ id, bootstrap })}\n`);
  } catch (error) {
    throw new RaftlabError(ErrorCode.InvalidConfig, `cannot write ${path}: ${(error as Error).message}`);
  }
}
