/** What exists after bring-up: read by outputs, env, summary, diagnostics and teardown. */
import type { EmulationRecord } from '../emulation/apply.js';
import type { NatBehaviour, Role } from '../spec/types.js';

export interface NodeRecord {
  key: string;
  name: string;
  role: Role;
  index: number;
  containerId: string;
  nat: NatBehaviour;
  /** Its own address (private for NATed peers). */
  address: string;
  /** The address others see it as. */
  publicAddress: string;
  router?: { name: string; containerId: string; publicAddress: string; privateAddress: string };
  wsHostPort: number;
  wsUrl: string;
  /** Milliseconds from the start of bring-up until this node was ready. */
  readyMs: number;
}

export interface RouterRecord {
  key: string;
  name: string;
  index: number;
  containerId: string;
  nat: Exclude<NatBehaviour, 'none'>;
  publicAddress: string;
  privateAddress: string;
  privateSubnet: string;
}

export interface NetworkRecord {
  key: string;
  name: string;
  id: string;
  subnet: string;
  kind: 'public' | 'private';
}

/**
 * Where a bring-up's time went, in milliseconds. The phases overlap (routers and nodes
 * are made at the same time), so `networks`, `routers` and `nodes` are elapsed times
 * since apply began, each marking when that phase was done for every resource.
 */
export interface PhaseTimings {
  /** Checking (or preparing) the router and peer images, before apply. */
  images: number;
  /** Every network and the binary volume exist. */
  networks: number;
  /** Every router runs with its rules loaded. */
  routers: number;
  /** Every node runs with its network set up (its program then starts). */
  nodes: number;
  /** The span from `nodes` until every node was ready (its readiness is watched from its own set-up on). */
  readiness: number;
  /** The whole of apply; in the action's record `images` is added to it. */
  total: number;
}

export interface TopologyRecord {
  topologyId: string;
  name: string;
  profile: string;
  createdAt: string;
  engine: string;
  networks: NetworkRecord[];
  routers: RouterRecord[];
  nodes: NodeRecord[];
  timingsMs: PhaseTimings;
  /** Emulation in force at bring-up: per shaped node its settings, where and by which mechanism. */
  emulation?: EmulationRecord;
}

export function wsPorts(record: TopologyRecord, role: Role): number[] {
  return record.nodes.filter((n) => n.role === role).sort((a, b) => a.index - b.index).map((n) => n.wsHostPort);
}

/** NAT_NET_ for the default name, NAT_NET_<NAME>_ otherwise. */
export function envPrefix(name: string): string {
  return name === 'default' ? 'NAT_NET' : `NAT_NET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** One variable per node plus the two lists: NAT_NET_PEER_0_WS_PORT, NAT_NET_PEER_WS_PORTS, ... */
export function exportedEnv(record: TopologyRecord): Record<string, string> {
  const prefix = envPrefix(record.name);
  const env: Record<string, string> = {};
  for (const node of record.nodes) {
    env[`${prefix}_${node.role.toUpperCase()}_${node.index}_WS_PORT`] = String(node.wsHostPort);
  }
  env[`${prefix}_GATEWAY_WS_PORTS`] = wsPorts(record, 'gateway').join(',');
  env[`${prefix}_PEER_WS_PORTS`] = wsPorts(record, 'peer').join(',');
  env[`${prefix}_TOPOLOGY_ID`] = record.topologyId;
  return env;
}

export function nodeTable(record: TopologyRecord): string[][] {
  const rows = [['node', 'role', 'nat', 'address', 'public address', 'ws port', 'ready (s)']];
  for (const n of record.nodes) {
    rows.push([n.name.replace(`nn-${record.topologyId}-`, ''), n.role, n.nat, n.address, n.publicAddress, String(n.wsHostPort), (n.readyMs / 1000).toFixed(1)]);
  }
  return rows;
}

export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}
