/**
 * The engine's own floor for a topology's resource counts: the same networks (same
 * subnets) and the same long-lived containers as the plan names, created and started
 * in parallel through dockerode by code that does nothing else, then removed the same
 * way. Every resource carries `dev.nat-net.tool=nat-net-bench-floor` and a per-run id,
 * and is removed by those labels only.
 *
 * Two shapes:
 * - bare:  N+1 networks and 2N+1 containers running `sleep infinity`, each container on
 *          one network (a router on the public one, a node on its own), nothing else.
 *          This is the floor: the same number of networks and containers.
 * - wired: the bare floor plus what the topology's shape itself asks of the engine:
 *          fixed addresses, LANs whose bridge has no address, each router also
 *          connected to its LAN before start, one port per node published on 127.0.0.1
 *          (a NATed peer's by its router), an init process. Still no files, no
 *          helper, no program, no readiness. It separates "the engine's cost of this
 *          shape" from "our own overhead" in the bench table.
 *
 * Not counted in either: our short-lived helper containers (one per node on the
 * public network), the binary loader container and the binary volume. They are our
 * way of doing the work, not resources of the topology, and counting them would make
 * the floor easier to meet.
 */
import type Docker from 'dockerode';
import { currentOwner, judgeOwner, parseOwner } from '../src/core/owner.js';
import { publishOnLoopback } from '../src/engine/resources.js';
import type { Plan } from '../src/plan/types.js';

export const FLOOR_TOOL_LABEL = 'dev.nat-net.tool';
export const FLOOR_TOOL = 'nat-net-bench-floor';
export const FLOOR_RUN_LABEL = 'dev.nat-net-bench.run';
/** The bench process that made a floor (host, boot, pid, start), so a later bench can remove the floors of one that was killed. */
export const FLOOR_OWNER_LABEL = 'dev.nat-net-bench.owner';
const OWNER = JSON.stringify(currentOwner({}, process.pid));

export type FloorShape = 'bare' | 'wired';

export interface FloorCounts {
  networks: number;
  containers: number;
  routers: number;
  nodes: number;
}

export function floorCounts(plan: Plan): FloorCounts {
  return {
    networks: plan.networks.length,
    containers: plan.routers.length + plan.nodes.length,
    routers: plan.routers.length,
    nodes: plan.nodes.length,
  };
}

export function floorFilter(runId: string): string {
  return JSON.stringify({ label: [`${FLOOR_TOOL_LABEL}=${FLOOR_TOOL}`, `${FLOOR_RUN_LABEL}=${runId}`] });
}

/**
 * Creates and starts the floor for `plan` (its names get a `-floor` suffix, its labels
 * are replaced by the floor's). Resolves when every container has started. `track`
 * is told of every create in flight, so an interrupt can wait for them before sweeping.
 */
export async function floorUp(docker: Docker, plan: Plan, runId: string, shape: FloorShape, track: (p: Promise<unknown>) => void = () => {}): Promise<void> {
  const labels = { [FLOOR_TOOL_LABEL]: FLOOR_TOOL, [FLOOR_RUN_LABEL]: runId, [FLOOR_OWNER_LABEL]: OWNER };
  const wired = shape === 'wired';
  const name = (n: string) => `${n}-floor`;
  const tracked = <T>(p: Promise<T>): Promise<T> => {
    track(p);
    return p;
  };

  const networkIds = new Map<string, string>();
  await Promise.all(
    plan.networks.map(async (network) => {
      const created = await tracked(
        docker.createNetwork({
          Name: name(network.name),
          Driver: 'bridge',
          Labels: labels,
          IPAM: { Driver: 'default', Config: [{ Subnet: network.subnet, Gateway: network.gateway }] },
          ...(wired
            ? {
                Options: {
                  'com.docker.network.bridge.enable_ip_masquerade': 'false',
                  ...(network.hostHoldsGateway ? {} : { 'com.docker.network.bridge.inhibit_ipv4': 'true' }),
                },
              }
            : {}),
        }),
      );
      networkIds.set(network.name, created.id);
    }),
  );

  const routers = plan.routers.map(async (router) => {
    const network = name(router.publicNetwork);
    const routerPorts = publishOnLoopback(router.wsForwards.map((f) => f.routerPort));
    const container = await tracked(
      docker.createContainer({
        name: name(router.name),
        Image: router.image,
        Cmd: ['sleep', 'infinity'],
        Labels: labels,
        ...(wired ? { ExposedPorts: routerPorts.ExposedPorts } : {}),
        HostConfig: { NetworkMode: network, ...(wired ? { Init: true, PortBindings: routerPorts.PortBindings } : {}) },
        ...(wired ? { NetworkingConfig: { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: router.publicAddress } } } } } : {}),
      }),
    );
    if (wired) {
      await tracked(
        docker.getNetwork(networkIds.get(router.privateNetwork)!).connect({
          Container: container.id,
          EndpointConfig: { IPAMConfig: { IPv4Address: router.lanEndpointAddress } },
        }),
      );
    }
    await tracked(container.start());
  });
  const nodes = plan.nodes.map(async (node) => {
    const network = name(node.network);
    // A NATed peer's port is published by its router (above); a public node publishes its own.
    const ports = publishOnLoopback(node.routerKey ? [] : [node.wsPort]);
    const container = await tracked(
      docker.createContainer({
        name: name(node.name),
        Image: node.image,
        Cmd: ['sleep', 'infinity'],
        Labels: labels,
        ...(wired ? { ExposedPorts: ports.ExposedPorts } : {}),
        HostConfig: { NetworkMode: network, ...(wired ? { Init: true, PortBindings: ports.PortBindings } : {}) },
        ...(wired ? { NetworkingConfig: { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: node.address } } } } } : {}),
      }),
    );
    await tracked(container.start());
  });
  await Promise.all([...routers, ...nodes]);
}

/** Removes every container, then every network, of this floor run, each group in parallel. */
export async function floorDown(docker: Docker, runId: string): Promise<{ containers: number; networks: number }> {
  const filters = floorFilter(runId);
  const containers = await docker.listContainers({ all: true, filters });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(ignoreGone)));
  const networks = await docker.listNetworks({ filters });
  await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(ignoreGone)));
  return { containers: containers.length, networks: networks.length };
}

/** What any floor run of this tool left on the engine (for the final check). */
export async function floorLeftovers(docker: Docker, runId: string): Promise<number> {
  const filters = floorFilter(runId);
  const [c, n] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters })]);
  return c.length + n.length;
}

function ignoreGone(error: unknown): void {
  const status = (error as { statusCode?: number }).statusCode;
  if (status !== 404 && status !== 409) throw error;
}

/**
 * Removes the floors of bench processes that are gone (killed before they could clean
 * up), judged as the sweep judges topology owners. Returns the run ids removed.
 */
export async function removeAbandonedFloors(docker: Docker): Promise<string[]> {
  const filters = JSON.stringify({ label: [`${FLOOR_TOOL_LABEL}=${FLOOR_TOOL}`] });
  const [c, n] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters })]);
  const runs = new Map<string, string | undefined>();
  for (const r of [...c, ...n]) runs.set(r.Labels?.[FLOOR_RUN_LABEL] ?? '', r.Labels?.[FLOOR_OWNER_LABEL]);
  const abandoned = [...runs].filter(([run, owner]) => run !== '' && judgeOwner(parseOwner(owner)).gone).map(([run]) => run);
  for (const run of abandoned) await floorDown(docker, run);
  return abandoned;
}
