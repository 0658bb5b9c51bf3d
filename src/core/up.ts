/**
 * apply: the plan executed against the engine, in parallel where the dependencies
 * allow. Networks and the binary volume first; then routers start with their rules in
 * one step, while each node is created, filled and started (once the binary is copied
 * into the volume); its network set-up (a helper in its namespace, created at once)
 * starts when its own router is ready, and its readiness is watched from then on.
 * Removals of finished helpers run in the background and are awaited before up returns.
 */
import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import type { Engine } from '../engine/engine.js';
import { emulationRecord, nodeEmulationLines, prepareEmulation, routerEmulationLines, type EmulationContext } from '../emulation/apply.js';
import { runInNamespace } from '../engine/helper.js';
import { createNetwork, createVolume, inspectContainer, logTail, publishOnLoopback, putFiles, removeContainer, startContainer, tarOf } from '../engine/resources.js';
import { httpAnswers, pollUntil, waitForLog } from '../engine/wait.js';
import { ROUTER_READY_MARKER, routerScript, routerSysctls } from '../nat/router-script.js';
import { LABEL } from '../plan/labels.js';
import type { NodePlan, Plan, RouterPlan } from '../plan/types.js';
import type { NetworkRecord, NodeRecord, PhaseTimings, RouterRecord, TopologyRecord } from './record.js';

export interface UpHooks {
  log?: (line: string) => void;
  /** Aborting stops creating: the next step throws, and the caller tears down. */
  signal?: AbortSignal;
}

export class NotReadyError extends Error {}

const ROUTER_READY_TIMEOUT_MS = 30_000;

/** Bring-up stages, in order; a failure at any of them must still leave nothing after teardown. */
export const STAGES = ['networks', 'routers', 'nodes', 'files', 'start', 'network-setup', 'readiness'] as const;
export type Stage = (typeof STAGES)[number];

export class InjectedFault extends Error {}

/**
 * Between steps: stop when cancelled, and fail on purpose when the test seam
 * NAT_NET_FAULT_INJECT names this stage (the fault tests of every stage use it).
 */
function stageCheck(stage: Stage, signal?: AbortSignal): void {
  if (signal?.aborted) throw new Error(`bring-up was cancelled (during ${stage})`);
  if (process.env.NAT_NET_FAULT_INJECT === stage) throw new InjectedFault(`fault injected at stage '${stage}' (NAT_NET_FAULT_INJECT)`);
}

/**
 * The helper's script in a public node's namespace: its shaping (`emulationLines`),
 * then the removal of its default route (nothing outside the topology), which the
 * node waits for before its program starts, so the program never sends unshaped.
 * (A NATed peer needs no helper: see NetworkPlan.gateway.)
 */
export function nodeNetworkScript(emulationLines: string[] = []): string {
  return ['set -eu', ...emulationLines, 'ip route del default 2>/dev/null || true'].join('\n');
}

async function createRouter(engine: Engine, router: RouterPlan, networkIds: Map<string, string>, checkpoint: () => void, emulation?: EmulationContext): Promise<string> {
  // Its peers' WebSocket ports (the host is not on their LAN).
  const { ExposedPorts, PortBindings } = publishOnLoopback(router.wsForwards.map((f) => f.routerPort));
  const container = await engine.call(`create ${router.name}`, () =>
    engine.docker.createContainer({
      name: router.name,
      Image: router.image,
      Cmd: ['/bin/sh', '-c', routerScript(router, routerEmulationLines(router, emulation))],
      Labels: router.labels,
      HostConfig: {
        NetworkMode: router.publicNetwork,
        CapDrop: ['ALL'],
        // NET_RAW: iptables' set match asks the kernel for set ids over a raw socket.
        CapAdd: ['NET_ADMIN', 'NET_RAW'],
        SecurityOpt: ['no-new-privileges'],
        Sysctls: routerSysctls(router),
        Init: true,
        PortBindings,
      },
      NetworkingConfig: { EndpointsConfig: { [router.publicNetwork]: { IPAMConfig: { IPv4Address: router.publicAddress } } } },
      ExposedPorts,
    }),
  );
  // API 1.41 attaches one network at create; the second before start, so the router starts with both.
  await engine.call(`connect ${router.name} to its LAN`, () =>
    engine.docker.getNetwork(networkIds.get(router.privateNetwork)!).connect({
      Container: container.id,
      EndpointConfig: { IPAMConfig: { IPv4Address: router.lanEndpointAddress } },
    }),
  );
  checkpoint();
  await startContainer(engine, container.id, router.name);
  await waitForLog(engine, container.id, new RegExp(ROUTER_READY_MARKER), ROUTER_READY_TIMEOUT_MS, router.name).catch(async (error) => {
    throw new Error(`${router.name} did not come up: ${(error as Error).message}\n${await logTail(engine, container.id, 20)}`);
  });
  return container.id;
}

function nodeCreateOptions(plan: Plan, node: NodePlan): Docker.ContainerCreateOptions {
  // A NATed peer's port is published through its router; a node on the public network publishes its own.
  const { ExposedPorts, PortBindings } = publishOnLoopback(node.routerKey ? [] : [node.wsPort]);
  return {
    name: node.name,
    Image: node.image,
    Cmd: node.launch,
    Env: Object.entries(node.env).map(([k, v]) => `${k}=${v}`),
    Labels: node.labels,
    WorkingDir: '/',
    ExposedPorts,
    HostConfig: {
      NetworkMode: node.network,
      PortBindings,
      Mounts: [{ Type: 'volume', Source: plan.binaryMount.volume, Target: plan.binaryMount.containerDir, ReadOnly: true }],
      CapDrop: ['NET_RAW', 'MKNOD', 'AUDIT_WRITE', 'SYS_CHROOT', 'SETFCAP'],
      SecurityOpt: ['no-new-privileges'],
      Init: true,
    },
    NetworkingConfig: { EndpointsConfig: { [node.network]: { IPAMConfig: { IPv4Address: node.address } } } },
  };
}

/** The volume that holds the binary for every node, mounted read-only. */
async function createBinaryVolume(engine: Engine, plan: Plan): Promise<void> {
  await createVolume(engine, plan.binaryMount.volume, { ...plan.labels, [LABEL.role]: 'binary-volume' });
}

/** Copies the binary into its volume, once; the loader container is removed in the background. */
async function loadBinary(engine: Engine, plan: Plan, background: Background): Promise<void> {
  const { volume, containerDir, fileName, hostPath } = plan.binaryMount;
  const loader = await engine.call('create binary loader', () =>
    engine.docker.createContainer({
      Image: plan.peerImage,
      Cmd: ['true'],
      Labels: { ...plan.labels, [LABEL.role]: 'loader' },
      HostConfig: { NetworkMode: 'none', Mounts: [{ Type: 'volume', Source: volume, Target: containerDir }] },
    }),
  );
  try {
    const tar = await tarOf([], { path: `${containerDir}/${fileName}`, content: readFileSync(hostPath), mode: 0o755 });
    await putFiles(engine, loader.id, tar, 'the binary volume');
  } finally {
    background.push(removeContainer(engine, loader.id).catch(() => {}));
  }
}

/** Engine calls left running off the critical path (removals of finished helpers); awaited before up returns or throws. */
type Background = Promise<void>[];

/**
 * The host port published for `port` of container `id` (the node, or its router for a
 * NATed peer); undefined when the node has already exited (a stopped container
 * publishes no port): readiness then reports it with its log.
 */
async function hostPort(engine: Engine, id: string, port: number, nodeId = id): Promise<number | undefined> {
  const info = await inspectContainer(engine, id);
  const node = nodeId === id ? info : await inspectContainer(engine, nodeId);
  if (!node.State.Running) return undefined;
  const binding = info.NetworkSettings.Ports?.[`${port}/tcp`]?.[0];
  if (binding?.HostPort) return Number(binding.HostPort);
  throw new Error(`no host port was published for ${info.Name} port ${port}`);
}

interface NodeState {
  node: NodePlan;
  id?: string;
  port?: number;
  readyAt?: number;
  failure?: string;
  /** Watched from the moment its network is set up, while other nodes are still being set up. */
  ready?: Promise<void>;
}

async function waitReady(engine: Engine, state: NodeState, deadline: number, signal?: AbortSignal): Promise<void> {
  const { node, id, port } = state;
  if (port === undefined) {
    state.failure = `exited with code ${(await inspectContainer(engine, id!)).State.ExitCode} before it was ready`;
    return;
  }
  const logReady = node.readyLog
    ? waitForLog(engine, id!, new RegExp(node.readyLog), Math.max(1, deadline - Date.now()), "input 'ready-log'", signal).then(
        () => true,
        (error: Error) => {
          state.failure = error.message;
          return false;
        },
      )
    : Promise.resolve(true);
  let lastInspect = 0;
  const answered = await pollUntil(async () => {
    if (await httpAnswers(port!, 1000)) return true;
    // Whether it still runs: asked of the engine at most once a second, since the
    // engine is busy starting other nodes meanwhile.
    if (Date.now() - lastInspect < 1000) return undefined;
    lastInspect = Date.now();
    let info: Docker.ContainerInspectInfo;
    try {
      info = await inspectContainer(engine, id!);
    } catch (error) {
      state.failure = `the engine could not say whether it runs: ${(error as Error).message}`;
      return false;
    }
    if (!info.State.Running) {
      state.failure = `exited with code ${info.State.ExitCode}`;
      return false;
    }
    return undefined;
  }, deadline, signal, 100);
  if (answered !== true) {
    state.failure ??= `its WebSocket port ${node.wsPort} (host ${port}) did not answer`;
    return;
  }
  if (await logReady) state.readyAt = Date.now();
}

/**
 * Waits for every task, even after one fails, so that nothing is still being created
 * when the caller tears down; the first failure stops the others at their next
 * checkpoint (through `stop`) and is the one reported.
 */
async function settleAll(tasks: Promise<unknown>[], stop: AbortController): Promise<void> {
  const results = await Promise.allSettled(
    tasks.map((task) =>
      task.catch((error: unknown) => {
        stop.abort();
        throw error;
      }),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof StoppedError));
  const anyFailed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed || anyFailed) throw (failed ?? anyFailed)!.reason;
}

/** A task that stopped because another one failed first. */
class StoppedError extends Error {}

export async function up(engine: Engine, plan: Plan, hooks: UpHooks = {}): Promise<TopologyRecord> {
  const background: Background = [];
  // A signal of this bring-up only: a caller's long-lived signal (a bench, a test run)
  // must not collect a listener per bring-up.
  const cancel = new AbortController();
  const forward = () => cancel.abort();
  if (hooks.signal?.aborted) cancel.abort();
  else hooks.signal?.addEventListener('abort', forward, { once: true });
  try {
    return await apply(engine, plan, { ...hooks, signal: cancel.signal }, background);
  } finally {
    hooks.signal?.removeEventListener('abort', forward);
    // Whatever happened, nothing of ours is still in flight when the caller goes on (or tears down).
    await Promise.allSettled(background);
  }
}

async function apply(engine: Engine, plan: Plan, hooks: UpHooks, background: Background): Promise<TopologyRecord> {
  const log = hooks.log ?? (() => {});
  const t0 = Date.now();
  const timings: PhaseTimings = { images: 0, networks: 0, routers: 0, nodes: 0, readiness: 0, total: 0 };
  if (hooks.signal?.aborted) throw new Error('bring-up was cancelled before it started');
  // Before anything exists: the netem check, and the clear error when delay can't be had.
  const emulation = await prepareEmulation(engine, plan);
  if (emulation) log(`emulation: the kernel ${emulation.netem ? 'has' : 'lacks'} sch_netem`);
  // Aborted by the caller (cancel) or by the first failed task.
  const stop = new AbortController();
  hooks.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  const checkpoint = (stage: Stage) => {
    if (stop.signal.aborted && !hooks.signal?.aborted) throw new StoppedError(`stopped at ${stage}: another step failed`);
    stageCheck(stage, hooks.signal);
  };

  // Every network exists before any container: creating containers meanwhile only slowed
  // the networks down on a busy engine, and a main killed half-way would leave network
  // creations in flight that its post could not yet see.
  const networkIds = new Map<string, string>();
  const networkRecords: NetworkRecord[] = [];
  await settleAll(
    [
      ...plan.networks.map(async (network) => {
        const id = await createNetwork(engine, network);
        networkIds.set(network.name, id);
        networkRecords.push({ key: network.key, name: network.name, id, subnet: network.subnet, kind: network.kind });
        checkpoint('networks');
      }),
      createBinaryVolume(engine, plan),
    ],
    stop,
  );
  timings.networks = Date.now() - t0;
  log(`networks ready in ${timings.networks} ms`);
  // The volume exists (a node mounting a missing one would get an unlabelled one from the
  // engine); the binary is needed in it only when a node starts, so its copy overlaps
  // creating and filling the nodes.
  const binaryLoaded = loadBinary(engine, plan, background);
  binaryLoaded.catch(() => {}); // awaited by every node task and by the settle below

  const routerIds = new Map<string, Promise<string>>();
  for (const router of plan.routers) routerIds.set(router.key, createRouter(engine, router, networkIds, () => checkpoint('routers'), emulation));
  const routersDone = settleAll([...routerIds.values()], stop).then(() => (timings.routers = Date.now() - t0));

  const states: NodeState[] = plan.nodes.map((node) => ({ node }));
  const readinessStart = { at: 0 };
  const nodeTasks = states.map(async (state) => {
    const { node } = state;
    checkpoint('nodes');
    const created = await engine.call(`create ${node.name}`, () => engine.docker.createContainer(nodeCreateOptions(plan, node)));
    state.id = created.id;
    checkpoint('files');
    if (node.files.length > 0) await putFiles(engine, created.id, await tarOf(node.files), node.name);
    await binaryLoaded;
    // A NATed peer starts once its router is ready: its default route (set by the engine,
    // via the LAN's gateway) leads nowhere until the router has its rules and takes that address.
    const routerId = node.routerKey ? await routerIds.get(node.routerKey)! : undefined;
    checkpoint('start');
    await startContainer(engine, created.id, node.name);
    // Its published port (its own, or its router's forward) is known once it runs.
    const port = routerId ? hostPort(engine, routerId, node.wsRouterPort!, created.id) : hostPort(engine, created.id, node.wsPort);
    port.catch(() => {}); // awaited below
    if (!routerId) {
      // A node on the public network: a helper removes its default route (and shapes its link).
      checkpoint('network-setup');
      const helper = await runInNamespace(engine, {
        targetId: created.id,
        image: plan.routerImage,
        script: nodeNetworkScript(nodeEmulationLines(plan, node, emulation)),
        labels: plan.labels,
        what: node.name,
        removeInBackground: (removal) => background.push(removal),
      });
      if (helper.exitCode !== 0) throw new Error(`setting up the network of ${node.name} failed (exit ${helper.exitCode}): ${helper.output.trim()}`);
    }
    state.port = await port;
    // Never rejects (a failure is noted in the state); stopped through `stop` when bring-up fails.
    state.ready = waitReady(engine, state, Date.now() + plan.readyTimeoutMs, stop.signal).catch((error: Error) => {
      state.failure ??= error.message;
    });
    background.push(state.ready);
  });
  await settleAll([...nodeTasks, routersDone, binaryLoaded], stop);
  timings.nodes = Date.now() - t0;
  log(`routers and nodes started in ${timings.nodes} ms`);

  // Each node has been watched since its own set-up; what is left is waited for here.
  readinessStart.at = Date.now();
  await Promise.all(states.map((state) => state.ready));
  checkpoint('readiness');
  const notReady = states.filter((s) => s.readyAt === undefined);
  if (notReady.length > 0) {
    const details = await Promise.all(
      notReady.map(async (s) => `- ${s.node.name}: ${s.failure ?? 'not ready'}\n${indent(await logTail(engine, s.id!, 20))}`),
    );
    throw new NotReadyError(
      `${notReady.length} of ${states.length} nodes were not ready within ${plan.readyTimeoutMs / 1000} s (input 'ready-timeout'):\n${details.join('\n')}`,
    );
  }
  timings.readiness = Date.now() - readinessStart.at;
  timings.total = Date.now() - t0;

  const routerRecords: RouterRecord[] = await Promise.all(
    plan.routers.map(async (r) => ({
      key: r.key,
      name: r.name,
      index: r.index,
      containerId: await routerIds.get(r.key)!,
      nat: r.nat,
      publicAddress: r.publicAddress,
      privateAddress: r.privateAddress,
      privateSubnet: r.privateSubnet,
    })),
  );
  const nodes: NodeRecord[] = states.map(({ node, id, port, readyAt }) => {
    const router = routerRecords.find((r) => r.key === node.routerKey);
    return {
      key: node.key,
      name: node.name,
      role: node.role,
      index: node.index,
      containerId: id!,
      nat: node.nat,
      address: node.address,
      publicAddress: node.publicAddress,
      ...(router
        ? { router: { name: router.name, containerId: router.containerId, publicAddress: router.publicAddress, privateAddress: router.privateAddress } }
        : {}),
      wsHostPort: port!,
      wsUrl: `ws://127.0.0.1:${port}${node.wsPath}`,
      readyMs: readyAt! - t0,
    };
  });
  return {
    topologyId: plan.topologyId,
    name: plan.name,
    profile: plan.profile,
    createdAt: plan.createdAt,
    engine: engine.describe,
    networks: networkRecords.sort((a, b) => plan.networks.findIndex((n) => n.name === a.name) - plan.networks.findIndex((n) => n.name === b.name)),
    routers: routerRecords,
    nodes,
    timingsMs: timings,
    ...(plan.emulation ? { emulation: emulationRecord(plan, emulation) } : {}),
  };
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
