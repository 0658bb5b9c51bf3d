/** The validated, typed description of the wanted topology. Built by spec/parse.ts. */

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
  /** RUST_LOG given to Freenet nodes. */
  logLevel: string;
  /** Extra environment for every node process. */
  env: Record<string, string>;
}
