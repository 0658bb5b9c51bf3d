/**
 * The `topology-file` input: a YAML or JSON file for what the flat inputs can't say,
 * per node (NAT behaviour, group, environment, emulation) and per group (its router's
 * behaviour, hairpin, udp-timeout). Read and checked here, with errors that name the
 * file and the entry; then merged with the flat inputs by `peerLayout`:
 *
 * - a value in a peer's entry beats its group's, which beats the flat input, which
 *   beats the default;
 * - a file that lists peers (or gateways) decides their count: a flat `peers`
 *   (`gateways`) must then be empty or the same number;
 * - per-peer lists in flat inputs (`nat` with several items, `groups`) can't be
 *   combined with a file that lists peers: the file says it per peer instead.
 *
 * ```yaml
 * gateways: 1                 # a count, or a list of entries: - { env: ..., emulation: ... }
 * peers:                      # a count, or a list of entries (index = position)
 *   - nat: full-cone
 *   - group: home             # peers of one group share a router (a home LAN)
 *   - group: home
 *     env: { NAT_NET_TEST_PEER_NO_PUNCH: "1" }
 *   - nat: none
 *     emulation: high_latency # passed to the emulation settings as it is
 * groups:
 *   home: { nat: port-restricted, hairpin: true, udp-timeout: 60 }
 * ```
 */
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InputError } from './errors.js';
import { NAT_BEHAVIOURS, type GatewaySpec, type GroupSpec, type NatBehaviour, type PeerSpec } from './types.js';

export const TOPOLOGY_INPUT = 'topology-file';

export type RouterBehaviour = Exclude<NatBehaviour, 'none'>;
export const ROUTER_BEHAVIOURS = NAT_BEHAVIOURS.filter((b): b is RouterBehaviour => b !== 'none');

export interface FileNode {
  env?: Record<string, string>;
  /** Opaque here: src/emulation reads it. */
  emulation?: unknown;
}
export interface FilePeer extends FileNode {
  nat?: NatBehaviour;
  group?: string;
}
export interface FileGroup {
  nat?: RouterBehaviour;
  hairpin?: boolean;
  udpTimeout?: number;
}

export interface TopologyFile {
  /** The path as the user gave it, for messages. */
  path: string;
  /** Where it was read from; undefined for text parsed directly. */
  resolvedPath?: string;
  gateways?: { count: number; entries?: FileNode[] };
  peers?: { count: number; entries?: FilePeer[] };
  groups: Record<string, FileGroup>;
}

export const LIMITS = { gateways: { min: 1, max: 64 }, peers: { min: 0, max: 1000 }, udpTimeout: { min: 1, max: 86400 } } as const;

/** Set by nat-net for every node: a per-node value could only be wrong. */
const RESERVED_ENV = ['NAT_NET_ROLE', 'NAT_NET_INDEX', 'NAT_NET_NAME', 'NAT_NET_GATEWAYS', 'NAT_NET_DEFAULT_ROUTE'];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
/** A peer without a group gets a router of its own; its group is named so. */
export const ownGroup = (index: number): string => `peer-${index}`;

class FileProblem extends InputError {
  constructor(file: string, where: string, message: string) {
    super(TOPOLOGY_INPUT, `${file}: ${where ? `${where}: ` : ''}${message}`);
  }
}

type Complain = (where: string, message: string) => never;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(value: Record<string, unknown>, allowed: string[], where: string, complain: Complain): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) complain(where ? `${where}.${key}` : key, `is not a known key; allowed: ${allowed.join(', ')}`);
  }
}

/** A group name a user may choose (also for the flat `groups` input). Returns the problem, or undefined. */
export function groupNameProblem(name: string): string | undefined {
  if (!GROUP_NAME.test(name)) return `'${name}' is not a group name: 1 to 32 of letters, digits, _ . -, starting with a letter or digit`;
  if (/^peer-\d+$/.test(name)) return `'${name}' is reserved (a peer without a group gets a router named so); choose another name`;
  return undefined;
}

function readCount(value: unknown, where: string, limits: { min: number; max: number }, complain: Complain, orList = false): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) complain(where, `must be a whole number${orList ? ' or a list of entries' : ''}, not ${describe(value)}`);
  if (value < limits.min || value > limits.max) complain(where, `${value} is out of range; allowed: ${limits.min} to ${limits.max}`);
  return value;
}

function readEnv(value: unknown, where: string, complain: Complain): Record<string, string> {
  if (!isMapping(value)) complain(where, `must be a mapping of NAME: value, not ${describe(value)}`);
  const env: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    if (!ENV_NAME.test(name)) complain(`${where}.${name}`, 'is not an environment variable name (letters, digits, _)');
    if (RESERVED_ENV.includes(name)) complain(`${where}.${name}`, 'is set by nat-net for every node and cannot be given');
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') complain(`${where}.${name}`, `must be a string, number or boolean, not ${describe(v)}`);
    env[name] = String(v);
  }
  if (env.FREENET_TELEMETRY_ENABLED !== undefined && env.FREENET_TELEMETRY_ENABLED !== 'false') {
    complain(`${where}.FREENET_TELEMETRY_ENABLED`, 'must stay false: test nodes never send telemetry');
  }
  return env;
}

function readNat<T extends NatBehaviour>(value: unknown, where: string, allowed: readonly T[], complain: Complain): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    complain(where, `${typeof value === 'string' ? `'${value}'` : describe(value)} is not allowed; allowed: ${allowed.join(', ')}`);
  }
  return value as T;
}

function readNode(value: unknown, where: string, extraKeys: string[], complain: Complain): FileNode {
  // `- ` or `- {}` in YAML: an entry with every default.
  if (value === null || value === undefined) return {};
  const example = extraKeys.includes('nat') ? '{ nat: full-cone }' : '{ env: { NAME: value } }';
  if (!isMapping(value)) complain(where, `must be a mapping (e.g. ${example}), not ${describe(value)}`);
  checkKeys(value, [...extraKeys, 'env', 'emulation'], where, complain);
  const node: FileNode = {};
  if (value.env !== undefined) node.env = readEnv(value.env, `${where}.env`, complain);
  if (value.emulation !== undefined && value.emulation !== null) node.emulation = value.emulation;
  return node;
}

function readPeer(value: unknown, where: string, complain: Complain): FilePeer {
  const peer: FilePeer = readNode(value, where, ['nat', 'group'], complain);
  const raw = isMapping(value) ? value : {};
  if (raw.nat !== undefined) peer.nat = readNat(raw.nat, `${where}.nat`, NAT_BEHAVIOURS, complain);
  if (raw.group !== undefined) {
    // YAML reads `group: 7` as a number; a name of digits is still a name.
    const name = typeof raw.group === 'number' ? String(raw.group) : raw.group;
    if (typeof name !== 'string') complain(`${where}.group`, `must be a group name, not ${describe(raw.group)}`);
    const problem = groupNameProblem(name);
    if (problem) complain(`${where}.group`, problem);
    peer.group = name;
  }
  return peer;
}

function readGroup(value: unknown, where: string, complain: Complain): FileGroup {
  if (value === null || value === undefined) return {};
  if (!isMapping(value)) complain(where, `must be a mapping (e.g. { hairpin: true }), not ${describe(value)}`);
  checkKeys(value, ['nat', 'hairpin', 'udp-timeout'], where, complain);
  const group: FileGroup = {};
  if (value.nat !== undefined) {
    if (value.nat === 'none') complain(`${where}.nat`, "'none' is not allowed for a group: a group is the peers behind one router; put a none peer outside groups");
    group.nat = readNat(value.nat, `${where}.nat`, ROUTER_BEHAVIOURS, complain);
  }
  if (value.hairpin !== undefined) {
    if (typeof value.hairpin !== 'boolean') complain(`${where}.hairpin`, `must be true or false, not ${describe(value.hairpin)}`);
    group.hairpin = value.hairpin;
  }
  if (value['udp-timeout'] !== undefined) group.udpTimeout = readCount(value['udp-timeout'], `${where}.udp-timeout`, LIMITS.udpTimeout, complain);
  return group;
}

function readList<T>(
  value: unknown,
  key: 'gateways' | 'peers',
  read: (entry: unknown, where: string) => T,
  complain: Complain,
): { count: number; entries?: T[] } | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    const { min, max } = LIMITS[key];
    if (value.length < min || value.length > max) complain(key, `lists ${value.length} entries; allowed: ${min} to ${max}`);
    return { count: value.length, entries: value.map((entry, i) => read(entry, `${key}[${i}]`)) };
  }
  return { count: readCount(value, key, LIMITS[key], complain, true) };
}

/** Checks a topology file's text (YAML or JSON, which is YAML too). `path` is how messages name the file. */
export function parseTopologyText(text: string, path: string): TopologyFile {
  const complain: Complain = (where, message) => {
    throw new FileProblem(path, where, message);
  };
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    // The yaml package puts line and column in the first line, then a code excerpt.
    complain('', `is not valid YAML or JSON: ${String((error as Error).message).split('\n')[0].replace(/:$/, '')}`);
  }
  if (doc === null || doc === undefined) complain('', 'is empty; give at least one of gateways, peers, groups');
  if (!isMapping(doc)) complain('', `must be a mapping with gateways, peers and groups at the top, not ${describe(doc)}`);
  checkKeys(doc, ['gateways', 'peers', 'groups'], '', complain);

  const gateways = readList(doc.gateways, 'gateways', (entry, where) => readNode(entry, where, [], complain), complain);
  const peers = readList(doc.peers, 'peers', (entry, where) => readPeer(entry, where, complain), complain);
  const groups: Record<string, FileGroup> = {};
  if (doc.groups !== undefined && doc.groups !== null) {
    if (!isMapping(doc.groups)) complain('groups', `must be a mapping of group name to settings, not ${describe(doc.groups)}`);
    for (const [name, value] of Object.entries(doc.groups)) {
      const problem = groupNameProblem(name);
      if (problem) complain(`groups.${name}`, problem);
      groups[name] = readGroup(value, `groups.${name}`, complain);
    }
  }
  return { path, ...(gateways ? { gateways } : {}), ...(peers ? { peers } : {}), groups };
}

/** Reads the file the input names, relative to `cwd` (the workspace). Undefined when the input is empty. */
export function readTopologyFile(input: string | undefined, cwd: string): TopologyFile | undefined {
  if (input === undefined || input.trim() === '') return undefined;
  const given = input.trim();
  const path = isAbsolute(given) ? given : resolve(cwd, given);
  let text: string;
  try {
    if (!statSync(path).isFile()) throw new InputError(TOPOLOGY_INPUT, `'${given}' is not a regular file`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(TOPOLOGY_INPUT, `'${given}' cannot be read (looked at ${path}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return { ...parseTopologyText(text, given), resolvedPath: path };
}

/** A count from a flat input and from the file: the file decides; the input may only agree. */
export function reconcileCount(input: 'gateways' | 'peers', flat: number | undefined, file: TopologyFile | undefined, fallback: number): number {
  const fromFile = file?.[input]?.count;
  if (fromFile === undefined) return flat ?? fallback;
  if (flat !== undefined && flat !== fromFile) {
    throw new InputError(input, `${flat} conflicts with ${TOPOLOGY_INPUT} ${file!.path}, which gives ${fromFile} ${input}; leave ${input} empty or make them agree`);
  }
  return fromFile;
}

export interface FlatPeerInputs {
  count: number;
  /** The `nat` input as given: one item (for all) or one per peer. */
  nat: NatBehaviour[];
  /** The `groups` input: one label per peer, or one for all; undefined when empty. */
  groups?: string[];
}

export interface PeerLayout {
  peers: PeerSpec[];
  /** Settings of groups that have any (hairpin, udp-timeout); others use the topology-wide ones. */
  groups: Record<string, GroupSpec>;
  gatewaySpecs?: GatewaySpec[];
}

/** Each peer's behaviour and group from the flat inputs and the file, checked so that one router has one behaviour. */
export function peerLayout(flat: FlatPeerInputs, file: TopologyFile | undefined): PeerLayout {
  const entries = file?.peers?.entries;
  if (entries && flat.nat.length > 1) {
    throw new InputError('nat', `a list by peer index conflicts with ${TOPOLOGY_INPUT} ${file!.path}, which lists the peers; give each peer's nat in the file (nat may be one behaviour, the default for peers that name none)`);
  }
  if (entries && flat.groups) {
    throw new InputError('groups', `conflicts with ${TOPOLOGY_INPUT} ${file!.path}, which lists the peers; give each peer's group in the file`);
  }
  const fileGroups = file?.groups ?? {};

  const peers: PeerSpec[] = [];
  for (let index = 0; index < flat.count; index++) {
    const entry = entries?.[index] ?? {};
    const label = entry.group ?? (flat.groups ? flat.groups[flat.groups.length === 1 ? 0 : index] : undefined);
    const groupNat = label === undefined ? undefined : fileGroups[label]?.nat;
    const nat = entry.nat ?? groupNat ?? flat.nat[flat.nat.length === 1 ? 0 : index];
    if (label !== undefined && groupNat !== undefined && nat !== groupNat) {
      throw new InputError(TOPOLOGY_INPUT, `${file!.path}: peers[${index}].nat: '${nat}' differs from its group's: groups.${label}.nat is '${groupNat}' (one router, one behaviour)`);
    }
    peers.push({
      index,
      nat,
      group: label ?? ownGroup(index),
      ...(entry.env ? { env: entry.env } : {}),
      ...(entry.emulation !== undefined ? { emulation: entry.emulation } : {}),
    });
  }

  // One router per group: its peers must agree, and a `none` peer (no router) can't share one.
  const first = new Map<string, PeerSpec>();
  for (const peer of peers) {
    const other = first.get(peer.group);
    if (!other) {
      first.set(peer.group, peer);
      continue;
    }
    if (peer.nat === 'none' || other.nat === 'none') {
      const lone = peer.nat === 'none' ? peer : other;
      throw new InputError(
        entries ? TOPOLOGY_INPUT : 'groups',
        `${entries ? `${file!.path}: peers[${lone.index}].group: ` : ''}peer ${lone.index} has nat 'none' (no router) but shares group '${peer.group}' with peer ${lone === peer ? other.index : peer.index}`,
      );
    }
    if (peer.nat !== other.nat) {
      throw new InputError(
        entries ? TOPOLOGY_INPUT : 'groups',
        `${entries ? `${file!.path}: peers[${peer.index}].nat: ` : ''}peers ${other.index} and ${peer.index} share group '${peer.group}' (one router) but ask for ${other.nat} and ${peer.nat}; give the group one behaviour`,
      );
    }
  }
  for (const name of Object.keys(fileGroups)) {
    if (!first.has(name)) throw new InputError(TOPOLOGY_INPUT, `${file!.path}: groups.${name}: no peer is in this group (give peers group: ${name})`);
  }

  const groups: Record<string, GroupSpec> = {};
  for (const [name, g] of Object.entries(fileGroups)) {
    if (g.hairpin === true && first.get(name)?.nat === 'symmetric') {
      throw new InputError(TOPOLOGY_INPUT, `${file!.path}: groups.${name}.hairpin: a symmetric router has no stable mapping to hairpin to; use a cone behaviour or hairpin: false`);
    }
    const spec: GroupSpec = {};
    if (g.hairpin !== undefined) spec.hairpin = g.hairpin;
    if (g.udpTimeout !== undefined) spec.udpTimeout = g.udpTimeout;
    if (Object.keys(spec).length > 0) groups[name] = spec;
  }
  const gatewayEntries = file?.gateways?.entries;
  return {
    peers,
    groups,
    ...(gatewayEntries
      ? {
          gatewaySpecs: gatewayEntries.map((g, index) => ({
            index,
            ...(g.env ? { env: g.env } : {}),
            ...(g.emulation !== undefined ? { emulation: g.emulation } : {}),
          })),
        }
      : {}),
  };
}
