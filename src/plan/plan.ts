/**
 * spec -> plan: names, labels, subnets, addresses, files and argv of every resource,
 * decided before anything is created. Pure but for the profile's key generation.
 */
import { basename } from 'node:path';
import { emulationField } from '../emulation/spec.js';
import { profileFor } from '../profiles/index.js';
import type { ProfileNode } from '../profiles/types.js';
import type { NatBehaviour, TopologySpec } from '../spec/types.js';
import { LABEL, TOOL, type ResourceRole } from './labels.js';
import { nodeLaunch } from './node-launch.js';
import { addressAt, allocate, formatCidr, parseCidr, prefixFor, SubnetPoolExhausted, type Cidr } from './subnets.js';
import type { Labels, NetworkPlan, NodePlan, Plan, RouterPlan } from './types.js';

export interface PlanContext {
  topologyId: string;
  createdAt: string;
  /** Who made it (runner, job, pid): lets a sweep judge whether the owner is gone. */
  owner: string;
  /** Subnets already in use on the engine and the host. */
  taken: Cidr[];
  routerImage: string;
  peerImage: string;
  /** Rotates the subnet search start (see allocate). */
  startHint?: number;
  profile?: ReturnType<typeof profileFor>;
}

export const BINARY_DIR = '/nat-net/bin';
const HOST_OFFSET = 10; // a gateway's or router's address inside its own /24
const LAN_ROUTER_OFFSET = 1; // the LAN's gateway, held by the router
const LAN_ROUTER_ENDPOINT_OFFSET = 2; // the router's endpoint address as the engine assigns it
/** Router ports forwarded to its peers' WebSocket ports: base + the peer's place on the LAN. */
export const WS_FORWARD_BASE_PORT = 29000;
const LAN_FIRST_PEER_OFFSET = 100;
const MAX_PEERS_PER_LAN = 150;

interface Lan {
  group: string;
  nat: Exclude<NatBehaviour, 'none'>;
  peers: number[]; // peer indexes
}

function groupLans(spec: TopologySpec): Lan[] {
  const lans = new Map<string, Lan>();
  for (const peer of spec.peers) {
    if (peer.nat === 'none') continue;
    const lan = lans.get(peer.group);
    if (!lan) lans.set(peer.group, { group: peer.group, nat: peer.nat, peers: [peer.index] });
    else if (lan.nat !== peer.nat) {
      throw new Error(`peers ${lan.peers[0]} and ${peer.index} share group '${peer.group}' but ask for different NAT behaviours`);
    } else lan.peers.push(peer.index);
  }
  for (const lan of lans.values()) {
    if (lan.peers.length > MAX_PEERS_PER_LAN) throw new Error(`group '${lan.group}' has ${lan.peers.length} peers; at most ${MAX_PEERS_PER_LAN}`);
  }
  return [...lans.values()];
}

function sanitizeFileName(path: string): string {
  const name = basename(path);
  return /^[A-Za-z0-9._-]{1,64}$/.test(name) ? name : 'peer-program';
}

export function makePlan(spec: TopologySpec, ctx: PlanContext): Plan {
  const prefix = `nn-${ctx.topologyId}`;
  const base: Labels = {
    [LABEL.tool]: TOOL,
    [LABEL.topology]: ctx.topologyId,
    [LABEL.name]: spec.name,
    [LABEL.owner]: ctx.owner,
    [LABEL.created]: ctx.createdAt,
  };
  const labels = (role: ResourceRole, index?: number): Labels => ({
    ...base,
    [LABEL.role]: role,
    ...(index === undefined ? {} : { [LABEL.index]: String(index) }),
  });

  const lans = groupLans(spec);
  const publicPeers = spec.peers.filter((p) => p.nat === 'none').map((p) => p.index);
  // One /24 per gateway, router and public peer, plus one for Docker's own range (test hosts).
  const publicUnits = spec.gateways + lans.length + publicPeers.length + 1;
  let blocks: Cidr[];
  try {
    blocks = allocate(parseCidr(spec.subnetPool), ctx.taken, [prefixFor(publicUnits, 24), ...lans.map(() => 24)], ctx.startHint ?? 0);
  } catch (error) {
    if (!(error instanceof SubnetPoolExhausted)) throw error;
    throw new SubnetPoolExhausted(`input 'subnet-pool': ${error.message}; give a larger pool, or one with more room beside the engine's existing networks`);
  }
  const [publicBlock, ...lanBlocks] = blocks;
  const publicUnit = (unit: number) => addressAt(publicBlock, unit * 256 + HOST_OFFSET);
  const autoRange: Cidr = { base: publicBlock.base + (2 ** (24 - publicBlock.prefix) - 1) * 256, prefix: 24 };

  const publicNetwork: NetworkPlan = {
    key: 'public',
    name: `${prefix}-public`,
    subnet: formatCidr(publicBlock),
    gateway: addressAt(publicBlock, 1),
    hostHoldsGateway: true,
    autoRange: formatCidr(autoRange),
    kind: 'public',
    labels: labels('public-network'),
  };
  const networks: NetworkPlan[] = [publicNetwork];
  const routers: RouterPlan[] = [];
  const peerPlace = new Map<number, { network: string; address: string; publicAddress: string; router?: RouterPlan }>();

  lans.forEach((lan, r) => {
    const block = lanBlocks[r];
    const network: NetworkPlan = {
      key: `lan-${r}`,
      // Sorts after `${prefix}-public`: the engine picks a multi-network container's gateway
      // network (the one its ports are published through) by name when nothing else decides,
      // and a router's must be the public one (see the check in the router script).
      name: `${prefix}-router-${r}-lan`,
      subnet: formatCidr(block),
      gateway: addressAt(block, LAN_ROUTER_OFFSET),
      hostHoldsGateway: false,
      kind: 'private',
      labels: labels('private-network', r),
    };
    networks.push(network);
    const router: RouterPlan = {
      key: `router-${r}`,
      name: `${prefix}-router-${r}`,
      index: r,
      image: ctx.routerImage,
      nat: lan.nat,
      publicNetwork: publicNetwork.name,
      publicAddress: publicUnit(spec.gateways + r),
      privateNetwork: network.name,
      privateAddress: addressAt(block, LAN_ROUTER_OFFSET),
      lanEndpointAddress: addressAt(block, LAN_ROUTER_ENDPOINT_OFFSET),
      privateSubnet: network.subnet,
      hostAddress: publicNetwork.gateway,
      peerAddresses: lan.peers.map((_, k) => addressAt(block, LAN_FIRST_PEER_OFFSET + k)),
      wsForwards: lan.peers.map((peer, k) => ({
        peerKey: `peer-${peer}`,
        peerAddress: addressAt(block, LAN_FIRST_PEER_OFFSET + k),
        peerPort: spec.wsPort,
        routerPort: WS_FORWARD_BASE_PORT + k,
      })),
      // A group's own settings (topology file) over the topology-wide inputs.
      hairpin: spec.groups?.[lan.group]?.hairpin ?? spec.hairpin,
      udpTimeout: spec.groups?.[lan.group]?.udpTimeout ?? spec.udpTimeout,
      ...emulationField(spec.emulation, `peer-${lan.peers[0]}`),
      labels: labels('router', r),
    };
    routers.push(router);
    lan.peers.forEach((peer, k) =>
      peerPlace.set(peer, { network: network.name, address: router.peerAddresses[k], publicAddress: router.publicAddress, router }),
    );
  });
  publicPeers.forEach((peer, k) => {
    const address = publicUnit(spec.gateways + lans.length + k);
    peerPlace.set(peer, { network: publicNetwork.name, address, publicAddress: address });
  });

  const profileNodes: ProfileNode[] = [
    ...Array.from({ length: spec.gateways }, (_, i) => ({ role: 'gateway' as const, index: i, address: publicUnit(i), publicAddress: publicUnit(i) })),
    ...spec.peers.map((p) => {
      const place = peerPlace.get(p.index)!;
      return { role: 'peer' as const, index: p.index, address: place.address, publicAddress: place.publicAddress };
    }),
  ];
  const fileName = sanitizeFileName(spec.binary);
  const launches = (ctx.profile ?? profileFor(spec.profile)).launches({
    nodes: profileNodes,
    wsPort: spec.wsPort,
    networkPort: spec.networkPort,
    binaryPath: `${BINARY_DIR}/${fileName}`,
    command: spec.command,
    logLevel: spec.logLevel,
    env: spec.env,
  });

  const nodes: NodePlan[] = profileNodes.map((pn, i) => {
    const launch = launches[i];
    const place = pn.role === 'peer' ? peerPlace.get(pn.index)! : { network: publicNetwork.name, address: pn.address, publicAddress: pn.address };
    const router = 'router' in place ? place.router : undefined;
    const wrapped = nodeLaunch(launch.command, router?.privateAddress);
    return {
      key: `${pn.role}-${pn.index}`,
      name: `${prefix}-${pn.role}-${pn.index}`,
      role: pn.role,
      index: pn.index,
      image: ctx.peerImage,
      nat: pn.role === 'peer' ? spec.peers[pn.index].nat : 'none',
      network: place.network,
      address: place.address,
      publicAddress: place.publicAddress,
      routerKey: router?.key,
      routerAddress: router?.privateAddress,
      wsPort: spec.wsPort,
      ...(router ? { wsRouterPort: router.wsForwards.find((f) => f.peerKey === `peer-${pn.index}`)!.routerPort } : {}),
      networkPort: spec.networkPort,
      command: launch.command,
      launch: wrapped.launch,
      // The node's own env (topology file) over the profile's; the launch wrapper's last.
      env: { ...launch.env, ...(pn.role === 'peer' ? spec.peers[pn.index].env : spec.gatewaySpecs?.[pn.index]?.env), ...wrapped.env },
      files: launch.files,
      labels: labels(pn.role, pn.index),
      wsPath: launch.wsPath,
      readyLog: spec.readyLog,
      ...emulationField(spec.emulation, `${pn.role}-${pn.index}`),
    };
  });

  return {
    topologyId: ctx.topologyId,
    name: spec.name,
    profile: spec.profile,
    createdAt: ctx.createdAt,
    routerImage: ctx.routerImage,
    peerImage: ctx.peerImage,
    binaryMount: { hostPath: spec.binary, containerDir: BINARY_DIR, fileName, volume: `${prefix}-bin` },
    networks,
    routers,
    nodes,
    readyTimeoutMs: spec.readyTimeoutMs,
    ...(spec.emulation ? { emulation: { choice: spec.emulation.choice, origin: spec.emulation.origin } } : {}),
    labels: base,
  };
}
