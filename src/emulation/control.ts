/**
 * Changes during a test: impair, partition and heal one node's public link. Each
 * change finds the interface from the engine's labels (no host file needed), reads
 * the state in force from the namespace's NATNET_EMU chain, writes the whole new
 * state (one iptables-restore, one qdisc replace) and appends to the change log.
 */
import type Docker from 'dockerode';
import type { Engine } from '../engine/engine.js';
import { runInNamespace } from '../engine/helper.js';
import { defaultImage } from '../engine/images.js';
import { LABEL, topologyFilter } from '../plan/labels.js';
import type { Labels } from '../plan/types.js';
import { InputError } from '../spec/errors.js';
import { appendChange, type ChangeAction, type ChangeEntry } from './changes.js';
import { PARTITION_MECHANISM, READ_STATE_SCRIPT, ifaceLookup, linkScript, mechanisms, netemMissingError } from './commands.js';
import { hasNetem } from './detect.js';
import { NO_EMULATION, decodeState, describeSettings, needsNetem, type LinkState } from './settings.js';

export interface LinkTarget {
  topologyId: string;
  node: string;
  /** The container whose network namespace holds the interface (the node, or its router). */
  namespaceId: string;
  /** The interface's address (the node's, or its router's public one). */
  address: string;
  /** The host's bridge address on the public network, for a node on it: its WebSocket path. */
  exempt?: string;
  /** An image with tc and iptables for the helper. */
  image: string;
  appliedAt: string;
  alsoAffects: string[];
  labels: Labels;
}

const NODE_KEY = /^(gateway|peer)-(\d+)$/;
const BASE_LABELS = [LABEL.tool, LABEL.topology, LABEL.name, LABEL.owner, LABEL.created];

function keyOf(c: Docker.ContainerInfo): string {
  return `${c.Labels[LABEL.role]}-${c.Labels[LABEL.index]}`;
}

export async function locateLink(engine: Engine, topologyId: string, node: string): Promise<LinkTarget> {
  const match = NODE_KEY.exec(node);
  if (!match) throw new InputError('NODE', `'${node}' is not a node; give its key, such as peer-0 or gateway-1`);
  const filters = JSON.stringify(topologyFilter(topologyId));
  const [containers, networks] = await Promise.all([
    engine.call('list containers', () => engine.docker.listContainers({ all: true, filters })),
    engine.call('list networks', () => engine.docker.listNetworks({ filters })),
  ]);
  const nodes = containers.filter((c) => c.Labels[LABEL.role] === 'gateway' || c.Labels[LABEL.role] === 'peer');
  const target = nodes.find((c) => c.Labels[LABEL.role] === match[1] && c.Labels[LABEL.index] === String(Number(match[2])));
  if (!target) {
    throw new InputError('NODE', `topology ${topologyId} has no ${node}; its nodes: ${nodes.map(keyOf).sort().join(', ') || 'none'}`);
  }
  if (target.State !== 'running') throw new Error(`${node} of ${topologyId} is ${target.State}, not running`);
  const publicNet = networks.find((n) => n.Labels?.[LABEL.role] === 'public-network');
  if (!publicNet) throw new Error(`topology ${topologyId} has no public network`);
  const routers = containers.filter((c) => c.Labels[LABEL.role] === 'router');
  const labels = Object.fromEntries(BASE_LABELS.filter((k) => target.Labels[k] !== undefined).map((k) => [k, target.Labels[k]]));
  const own = target.NetworkSettings?.Networks?.[publicNet.Name];
  const bridge = (publicNet.IPAM?.Config?.[0] as { Gateway?: string } | undefined)?.Gateway;
  if (own) {
    return {
      topologyId,
      node,
      namespaceId: target.Id,
      address: own.IPAddress,
      exempt: bridge,
      image: routers[0]?.Image ?? defaultImage('router'),
      appliedAt: `its own public interface (${own.IPAddress}); traffic to the host (${bridge}) is not shaped`,
      alsoAffects: [],
      labels,
    };
  }
  const lan = Object.keys(target.NetworkSettings?.Networks ?? {})[0];
  const router = routers.find((r) => r.NetworkSettings?.Networks?.[lan] !== undefined);
  const routerPublic = router?.NetworkSettings?.Networks?.[publicNet.Name];
  if (!router || !routerPublic) throw new Error(`${node} of ${topologyId} is on ${lan}, but no router of the topology is on that network`);
  if (router.State !== 'running') throw new Error(`the router of ${node} (${router.Names[0]}) is ${router.State}, not running`);
  return {
    topologyId,
    node,
    namespaceId: router.Id,
    address: routerPublic.IPAddress,
    // The peers' WebSocket ports are forwarded to the host through this interface.
    exempt: bridge,
    image: router.Image,
    appliedAt: `router-${router.Labels[LABEL.index]} public interface (${routerPublic.IPAddress}); traffic to the host (${bridge}) is not shaped`,
    alsoAffects: nodes
      .filter((c) => c.Id !== target.Id && c.NetworkSettings?.Networks?.[lan] !== undefined)
      .map(keyOf)
      .sort(),
    labels,
  };
}

export async function readLinkState(engine: Engine, target: LinkTarget): Promise<LinkState> {
  const result = await runInNamespace(engine, {
    targetId: target.namespaceId,
    image: target.image,
    script: READ_STATE_SCRIPT,
    labels: target.labels,
    what: `reading the link state of ${target.node}`,
    captureOutput: true,
  });
  if (result.exitCode !== 0) throw new Error(`reading the link state of ${target.node} failed (exit ${result.exitCode}): ${result.output.trim()}`);
  return decodeState(result.output) ?? { settings: { ...NO_EMULATION }, partitioned: false };
}

export function changeScript(target: LinkTarget, state: LinkState, netem: boolean): string {
  return [
    'set -eu',
    ...ifaceLookup('NATNET_IF', target.address),
    ...linkScript(state, { iface: '$NATNET_IF', exempt: target.exempt, netem }),
  ].join('\n');
}

export async function applyLinkState(engine: Engine, target: LinkTarget, state: LinkState, netem: boolean): Promise<void> {
  const result = await runInNamespace(engine, {
    targetId: target.namespaceId,
    image: target.image,
    script: changeScript(target, state, netem),
    labels: target.labels,
    what: `changing the link of ${target.node}`,
  });
  if (result.exitCode !== 0) throw new Error(`changing the link of ${target.node} failed (exit ${result.exitCode}): ${result.output.trim()}`);
}

export interface LinkChange {
  topologyId: string;
  node: string;
  action: ChangeAction;
  /** The new state, from the one in force. */
  change: (current: LinkState) => LinkState;
  /** The input an error about missing netem should name (e.g. delay-ms). */
  input: string;
  command: string;
  env?: NodeJS.ProcessEnv;
}

/** Applies one change and logs it; returns the log entry and where it was written. */
export async function changeLink(engine: Engine, request: LinkChange): Promise<{ entry: ChangeEntry; logPath: string }> {
  const target = await locateLink(engine, request.topologyId, request.node);
  const [netem, before] = await Promise.all([hasNetem(engine, target.image, target.labels), readLinkState(engine, target)]);
  const after = request.change(before);
  if (!netem && needsNetem(after.settings)) {
    throw netemMissingError(request.input, [{ who: request.node, settings: after.settings, origin: request.command }], 'nothing was changed');
  }
  await applyLinkState(engine, target, after, netem);
  const m = mechanisms(after.settings, netem);
  if (after.partitioned) m.partition = PARTITION_MECHANISM;
  const entry: ChangeEntry = {
    at: new Date().toISOString(),
    topologyId: request.topologyId,
    node: request.node,
    action: request.action,
    appliedAt: target.appliedAt,
    alsoAffects: target.alsoAffects,
    before: { ...before, description: describeLink(before) },
    after: { ...after, description: describeLink(after) },
    mechanisms: m,
    command: request.command,
  };
  return { entry, logPath: appendChange(entry, request.env) };
}

export function describeLink(state: LinkState): string {
  return `${describeSettings(state.settings)}${state.partitioned ? ', partitioned' : ''}`;
}
