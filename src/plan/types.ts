/** Everything that apply creates, decided up front from the spec. Pure data. */
import type { EmulationAssignment } from '../emulation/spec.js';
import type { NatBehaviour, ProfileName, Role } from '../spec/types.js';

export type Labels = Record<string, string>;

export interface NetworkPlan {
  key: string; // 'public' | `lan-${routerIndex}`
  name: string;
  subnet: string; // CIDR
  /**
   * The network's gateway: on the public network the host's bridge address; on a LAN
   * the router's address, which the bridge leaves unassigned (`hostHoldsGateway`
   * false) and the router takes once its rules are loaded, so a peer's default route
   * (which Docker sets) leads through its router and nowhere before it is ready.
   */
  gateway: string;
  /** false: the bridge gets no IPv4 address (the host is not on this network). */
  hostHoldsGateway: boolean;
  /** Docker's own address range for containers without a fixed address (test hosts). */
  autoRange?: string;
  kind: 'public' | 'private';
  labels: Labels;
}

export interface FileToWrite {
  /** Absolute path inside the container. */
  path: string;
  content: string;
  mode: number;
}

export interface RouterPlan {
  key: string; // `router-${index}`
  name: string;
  index: number;
  image: string;
  nat: Exclude<NatBehaviour, 'none'>;
  publicNetwork: string; // network name
  publicAddress: string;
  privateNetwork: string;
  /** Its LAN address that peers route through: the LAN's gateway, taken by the router script once its rules are loaded. */
  privateAddress: string;
  /** The address the engine gives its LAN endpoint (a gateway address cannot be assigned to a container). */
  lanEndpointAddress: string;
  privateSubnet: string;
  /** The host's address on the public network: the only source allowed through the WebSocket forwards. */
  hostAddress: string;
  /** Its peers' WebSocket ports, published on the host's loopback through this router (the host is not on the LAN). */
  wsForwards: WsForward[];
  /** Private addresses of the peers behind this router, in peer index order. */
  peerAddresses: string[];
  hairpin: boolean;
  udpTimeout?: number;
  /** What its peers send is shaped on its public interface (they share one setting). */
  emulation?: EmulationAssignment;
  labels: Labels;
}

export interface WsForward {
  /** The peer's key and address, and its WebSocket port there. */
  peerKey: string;
  peerAddress: string;
  peerPort: number;
  /** The router's TCP port (published on the host's loopback) that is forwarded to it. */
  routerPort: number;
}

export interface NodePlan {
  key: string; // `gateway-${i}` | `peer-${i}`
  name: string;
  role: Role;
  index: number;
  image: string;
  nat: NatBehaviour; // 'none' for gateways
  network: string; // the one network the node is attached to
  address: string; // its address on that network
  /** The address others on the public network see it as (router's for NATed peers). */
  publicAddress: string;
  /** For NATed peers: the router that is its default route. */
  routerKey?: string;
  routerAddress?: string;
  wsPort: number; // container side
  /** For NATed peers: the router's port that its WebSocket port is published through. */
  wsRouterPort?: number;
  networkPort: number;
  /** argv of the node's program inside the container (binary first), as the profile made it. */
  command: string[];
  /** The container's Cmd: a small sh wrapper that waits for the node's network set-up, then execs `command`. */
  launch: string[];
  env: Record<string, string>;
  files: FileToWrite[];
  labels: Labels;
  /** WebSocket URL path and query appended to ws://127.0.0.1:<host port>. */
  wsPath: string;
  readyLog?: string;
  /** What it sends into the public network is shaped so: by its router for a NATed peer, else on its own interface. */
  emulation?: EmulationAssignment;
}

export interface Plan {
  topologyId: string;
  name: string;
  profile: ProfileName;
  createdAt: string;
  routerImage: string;
  peerImage: string;
  /** Where the binary is mounted read-only in every node. */
  binaryMount: { hostPath: string; containerDir: string; fileName: string; volume: string };
  networks: NetworkPlan[];
  routers: RouterPlan[];
  nodes: NodePlan[];
  readyTimeoutMs: number;
  /** The topology-wide emulation choice and where it came from. */
  emulation?: { choice: string; origin: string };
  /** Labels every resource of this topology carries (tool, topology, name, owner). */
  labels: Labels;
}
