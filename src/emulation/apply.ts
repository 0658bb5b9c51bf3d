/**
 * Emulation at bring-up. Each node's settings shape what it sends into the public
 * network: a NATed peer's on its router's public interface (in the router's start
 * script), a gateway's or public peer's on its own (only) interface (in the helper
 * that sets up its namespace), with the host's WebSocket path exempt. The peer's LAN
 * side is never shaped. Whether the kernel has netem is asked once, before anything
 * is created; delay or jitter without it fails then, with nothing left behind.
 */
import type { Engine } from '../engine/engine.js';
import type { NodePlan, Plan, RouterPlan } from '../plan/types.js';
import { ifaceLookup, linkScript, mechanisms, netemMissingError, type NetemNeed } from './commands.js';
import { hasNetem } from './detect.js';
import { describeSettings, needsNetem, type EmulationSettings } from './settings.js';
import { changeLogPath } from './changes.js';

export interface EmulationNodeRecord {
  /** Node key, e.g. peer-2. */
  node: string;
  /** Where its settings are applied. */
  shapedAt: string;
  settings: EmulationSettings;
  description: string;
  origin: string;
  /** Setting -> the mechanism that applies it on this kernel. */
  mechanisms: Record<string, string>;
}

export interface EmulationRecord {
  choice: string;
  origin: string;
  /** Whether the kernel has sch_netem; null when nothing was shaped, so nobody asked. */
  netem: boolean | null;
  nodes: EmulationNodeRecord[];
  notes: string[];
  /** Where `nat-net impair/partition/heal` log their changes (JSON lines). */
  changeLog: string;
}

export interface EmulationContext {
  netem: boolean;
}

/** Where a node's settings land: its router, or its own interface. */
function shapedAt(plan: Plan, node: NodePlan): string {
  const router = plan.routers.find((r) => r.key === node.routerKey);
  if (router) {
    const peers = plan.nodes.filter((n) => n.routerKey === router.key).map((n) => n.key);
    return `${router.key} public interface (${router.publicAddress})${peers.length > 1 ? `, shared by ${peers.join(', ')}` : ''}; traffic to the host (${router.hostAddress}) is not shaped`;
  }
  return `its own public interface (${node.address}); traffic to the host (${publicBridge(plan)}) is not shaped`;
}

function publicBridge(plan: Plan): string {
  return plan.networks.find((n) => n.kind === 'public')!.gateway;
}

/** Nodes whose traffic is shaped (NATed peers through their router's settings). */
function shapedNodes(plan: Plan): NodePlan[] {
  return plan.nodes.filter((n) => n.emulation !== undefined);
}

/**
 * Before anything is created: undefined when nothing is shaped; else asks the kernel
 * for netem once, and throws the clear error when delay or jitter cannot be had.
 */
export async function prepareEmulation(engine: Engine, plan: Plan): Promise<EmulationContext | undefined> {
  const shaped = shapedNodes(plan);
  if (shaped.length === 0) return undefined;
  const netem = await hasNetem(engine, plan.routerImage, plan.labels);
  if (!netem) {
    const needs = new Map<string, NetemNeed>();
    for (const node of shaped.filter((n) => needsNetem(n.emulation!.settings))) {
      const key = `${node.emulation!.origin}|${describeSettings(node.emulation!.settings)}`;
      const need = needs.get(key);
      if (need) need.who += `, ${node.key}`;
      else needs.set(key, { who: node.key, settings: node.emulation!.settings, origin: node.emulation!.origin });
    }
    if (needs.size > 0) throw netemMissingError('emulation', [...needs.values()], 'nothing was created');
  }
  return { netem };
}

/** Lines for the router's start script (its public interface is $PUB there). */
export function routerEmulationLines(router: RouterPlan, ctx: EmulationContext | undefined): string[] {
  if (!router.emulation || !ctx) return [];
  // The host's WebSocket connections to its peers come through here: not shaped.
  return linkScript({ settings: router.emulation.settings, partitioned: false }, { iface: '$PUB', exempt: router.hostAddress, netem: ctx.netem });
}

/** Lines for the helper in a public node's namespace; none for NATed peers (their router shapes them). */
export function nodeEmulationLines(plan: Plan, node: NodePlan, ctx: EmulationContext | undefined): string[] {
  if (!node.emulation || node.routerKey || !ctx) return [];
  return [
    ...ifaceLookup('NATNET_IF', node.address),
    ...linkScript({ settings: node.emulation.settings, partitioned: false }, { iface: '$NATNET_IF', exempt: publicBridge(plan), netem: ctx.netem }),
  ];
}

export function emulationRecord(plan: Plan, ctx: EmulationContext | undefined): EmulationRecord | undefined {
  if (!plan.emulation) return undefined;
  const netem = ctx?.netem ?? null;
  const nodes = shapedNodes(plan).map((node) => ({
    node: node.key,
    shapedAt: shapedAt(plan, node),
    settings: node.emulation!.settings,
    description: describeSettings(node.emulation!.settings),
    origin: node.emulation!.origin,
    mechanisms: mechanisms(node.emulation!.settings, netem ?? false),
  }));
  const notes: string[] = [];
  if (netem === false) {
    notes.push('This kernel lacks sch_netem: loss is applied by iptables statistic rules that CLASSIFY packets into an htb drop class, rates by tbf; delay and jitter are unavailable.');
    if (nodes.some((n) => n.settings.lossPercent > 0 && n.settings.lossCorrelation > 0)) {
      notes.push('loss-correlation is not applied without netem: each packet is dropped independently.');
    }
  }
  return { choice: plan.emulation.choice, origin: plan.emulation.origin, netem, nodes, notes, changeLog: changeLogPath(plan.topologyId) };
}

/** Rows for the job summary and the CLI: node, shaped at, settings, mechanisms. */
export function emulationTable(record: EmulationRecord): string[][] {
  return [
    ['node', 'settings', 'applied at', 'mechanism'],
    ...record.nodes.map((n) => [
      n.node,
      n.description,
      n.shapedAt,
      Object.entries(n.mechanisms)
        .map(([setting, how]) => `${setting}: ${how}`)
        .join('; '),
    ]),
  ];
}
