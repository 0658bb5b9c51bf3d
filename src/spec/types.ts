/** The validated, typed description of the wanted topology. Built by spec/parse.ts. */
import type { EmulationSpec } from '../emulation/spec.js';

export const NAT_BEHAVIOURS = ['full-cone', 'address-restricted', 'port-restricted', 'symmetric', 'none'] as const;
export type NatBehaviour = (typeof NAT_BEHAVIOURS)[number];

export const PROFILES = ['freenet', 'generic'] as const;
export type ProfileName = (typeof PROFILES)[number];

export type Role = 'gateway' | 'peer';

export interface PeerSpec {
  index: number;
  nat: NatBehaviour;
  /** Peers with the same group share one router (a home LAN). Default: a group of its own. */
  group: string;
  /** Environment of this peer only (topology file), over the `env` input's. */
  env?: Record<string, string>;
  /** The topology file's `emulation` for this peer, as written; src/emulation reads it. */
  emulation?: unknown;
}

/** A gateway's own settings from the topology file. */
export interface GatewaySpec {
  index: number;
  env?: Record<string, string>;
  /** The topology file's `emulation` for this gateway, as written; src/emulation reads it. */
  emulation?: unknown;
}

/** Settings of one group's router (topology file); what is missing comes from the topology-wide inputs. */
export interface GroupSpec {
  hairpin?: boolean;
  udpTimeout?: number;
}

export interface TopologySpec {
  /** User-chosen name, distinguishes several topologies in one job. [a-z0-9][a-z0-9-]{0,23} */
  name: string;
  gateways: number;
  peers: PeerSpec[];
  /** Absolute path on the runner of the peer program, copied into every node. */
  binary: string;
  profile: ProfileName;
  /** Generic profile: the command template (placeholders in {braces}); undefined for freenet. */
  command?: string;
  wsPort: number;
  networkPort: number;
  /** undefined means the action's default image, prepared when missing. */
  routerImage?: string;
  peerImage?: string;
  readyTimeoutMs: number;
  /** A regular expression that must appear in each node's log before it counts as ready. */
  readyLog?: string;
  /** Where subnets are taken from, e.g. 10.200.0.0/13. */
  subnetPool: string;
  /** Whether two peers behind the same router reach each other through its public address. */
  hairpin: boolean;
  /** Idle UDP mapping lifetime on routers, seconds; undefined keeps the kernel's defaults. */
  udpTimeout?: number;
  /** Per group (router) settings over `hairpin` and `udpTimeout`, by group name; from the topology file. */
  groups?: Record<string, GroupSpec>;
  /** Per gateway settings from the topology file, by index, when it lists gateways. */
  gatewaySpecs?: GatewaySpec[];
  /** The topology file, resolved, when the input names one. */
  topologyFile?: string;
  /** RUST_LOG given to Freenet nodes. */
  logLevel: string;
  /** Extra environment for every node process. */
  env: Record<string, string>;
  /** Network emulation: topology-wide and per node (emulation/spec.ts). */
  emulation?: EmulationSpec;
}
