/**
 * What diagnostics know about each container of a topology, from the best source at
 * hand: the record (main succeeded), the plan main saved (main failed half-way), and
 * always the engine's labels and inspect data. Pure.
 */
import type { TopologyRecord } from '../core/record.js';
import { LABEL } from '../plan/labels.js';
import type { Plan } from '../plan/types.js';

export interface NodeView {
  /** Folder name and table name: 'gateway-0', 'peer-1', 'router-1', or the container name. */
  key: string;
  /** Container name. */
  name: string;
  /** gateway | peer | router, or a label's role for other containers (e.g. a test's host). */
  role: string;
  index?: number;
  nat?: string;
  address?: string;
  publicAddress?: string;
  /** For a NATed peer: its router's key. */
  routerKey?: string;
  wsHostPort?: number;
  /** Milliseconds from the start of bring-up until ready (only from the record). */
  readyMs?: number;
  containerId?: string;
}

/** How a container ended up, as collection found it. */
export interface EndState {
  /** running | exited | created | paused | restarting | removing | dead | gone | not created */
  status: string;
  exitCode?: number;
  oomKilled?: boolean;
  error?: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface NodeReport extends NodeView {
  end: EndState;
  /** Files written into <dir>/<key>/. */
  files: string[];
  /** The last lines of its log, when it is not running. */
  logTail?: string[];
}

export interface DiagnosticsResult {
  topologyId: string;
  dir: string;
  collectedAt: string;
  /** The topology record was available (main finished); otherwise views come from the plan and labels. */
  fromRecord: boolean;
  nodes: NodeReport[];
  /** What could not be collected, one line each (also in errors.txt). */
  errors: string[];
}

const ROLE_ORDER = ['gateway', 'peer', 'router'];

export function sortViews<T extends NodeView>(views: T[]): T[] {
  const rank = (v: NodeView) => {
    const r = ROLE_ORDER.indexOf(v.role);
    return r === -1 ? ROLE_ORDER.length : r;
  };
  return [...views].sort((a, b) => rank(a) - rank(b) || (a.index ?? 0) - (b.index ?? 0) || a.key.localeCompare(b.key));
}

export function viewsFromRecord(record: TopologyRecord): NodeView[] {
  return sortViews([
    ...record.nodes.map((n) => ({
      key: n.key,
      name: n.name,
      role: n.role,
      index: n.index,
      nat: n.nat,
      address: n.address,
      publicAddress: n.publicAddress,
      routerKey: record.routers.find((r) => r.containerId === n.router?.containerId)?.key,
      wsHostPort: n.wsHostPort,
      readyMs: n.readyMs,
      containerId: n.containerId,
    })),
    ...record.routers.map((r) => ({
      key: r.key,
      name: r.name,
      role: 'router',
      index: r.index,
      nat: r.nat,
      address: r.privateAddress,
      publicAddress: r.publicAddress,
      containerId: r.containerId,
    })),
  ]);
}

/** The plan without anything secret (no files, no env, no argv): what main saves for post before creating anything. */
export function viewsFromPlan(plan: Plan): NodeView[] {
  return sortViews([
    ...plan.nodes.map((n) => ({
      key: n.key,
      name: n.name,
      role: n.role,
      index: n.index,
      nat: n.nat,
      address: n.address,
      publicAddress: n.publicAddress,
      routerKey: n.routerKey,
    })),
    ...plan.routers.map((r) => ({
      key: r.key,
      name: r.name,
      role: 'router',
      index: r.index,
      nat: r.nat,
      address: r.privateAddress,
      publicAddress: r.publicAddress,
    })),
  ]);
}

/** A container the engine lists for the topology: just what collection needs from the listing. */
export interface ListedContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
}

/** Containers that are not part of the topology's picture: short-lived helpers and the binary loader. */
const TRANSIENT_ROLES = new Set(['helper', 'loader']);

export function folderName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '') || 'container';
}

/**
 * Every container to collect from: the known views (record or plan) matched to listed
 * containers by name, plus listed containers no view knows (described by their labels).
 */
export function mergeViews(topologyId: string, known: NodeView[], listed: ListedContainer[]): NodeView[] {
  const prefix = `nn-${topologyId}-`;
  const byName = new Map(listed.map((c) => [c.name, c]));
  const merged: NodeView[] = known.map((view) => {
    const container = byName.get(view.name);
    byName.delete(view.name);
    return { ...view, containerId: container?.id ?? view.containerId };
  });
  const keys = new Set(merged.map((v) => v.key));
  for (const container of byName.values()) {
    const role = container.labels[LABEL.role] ?? 'container';
    if (TRANSIENT_ROLES.has(role)) continue;
    const indexText = container.labels[LABEL.index];
    const index = indexText !== undefined && /^\d+$/.test(indexText) ? Number(indexText) : undefined;
    let key = folderName(container.name.startsWith(prefix) ? container.name.slice(prefix.length) : container.name);
    while (keys.has(key)) key = `${key}_`;
    keys.add(key);
    merged.push({ key, name: container.name, role, index, containerId: container.id });
  }
  return sortViews(merged);
}
