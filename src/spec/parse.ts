/** Raw inputs (action inputs or CLI flags, all strings) -> a validated TopologySpec. */
import { accessSync, constants, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { contains, lastAddress, parseCidr, type Cidr } from '../plan/subnets.js';
import { validateCommandTemplate } from '../profiles/generic.js';
import { parseEmulation } from '../emulation/spec.js';
import { InputError } from './errors.js';
import { groupNameProblem, LIMITS, peerLayout, readTopologyFile, reconcileCount, TOPOLOGY_INPUT } from './topology-file.js';
import { NAT_BEHAVIOURS, PROFILES, type NatBehaviour, type ProfileName, type TopologySpec } from './types.js';

/** Input name -> raw string; a missing or empty value means "use the default". */
export type RawInputs = Record<string, string | undefined>;

export const DEFAULT_SUBNET_POOL = '10.200.0.0/13';
export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,23}$/;

export interface ParseContext {
  /** Where a relative `binary` is resolved from (the workspace). */
  cwd: string;
  env: NodeJS.ProcessEnv;
}

function value(raw: RawInputs, name: string): string | undefined {
  const v = raw[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function parseInteger(raw: RawInputs, name: string, fallback: number, min: number, max: number): number {
  const text = value(raw, name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new InputError(name, `'${text}' is not a whole number; allowed: ${min} to ${max}`);
  const n = Number(text);
  if (n < min || n > max) throw new InputError(name, `${n} is out of range; allowed: ${min} to ${max}`);
  return n;
}

export function parseBoolean(raw: RawInputs, name: string, fallback: boolean): boolean {
  const text = value(raw, name)?.toLowerCase();
  if (text === undefined) return fallback;
  if (['true', 'on', 'yes', '1'].includes(text)) return true;
  if (['false', 'off', 'no', '0'].includes(text)) return false;
  throw new InputError(name, `'${text}' is not a boolean; allowed: true or false`);
}

function parseChoice<T extends string>(name: string, text: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(text)) return text as T;
  throw new InputError(name, `'${text}' is not allowed; allowed: ${allowed.join(', ')}`);
}

// A Docker image reference: [registry[:port]/]path[:tag][@digest], lowercase path.
const IMAGE_PATTERN = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

function parseImage(raw: RawInputs, name: string): string | undefined {
  const text = value(raw, name);
  if (text !== undefined && !IMAGE_PATTERN.test(text)) {
    throw new InputError(name, `'${text}' is not a Docker image reference such as nat-net-peer:1 or ghcr.io/org/image:tag`);
  }
  return text;
}

function parseBinary(raw: RawInputs, ctx: ParseContext): string {
  const text = value(raw, 'binary');
  if (text === undefined) throw new InputError('binary', 'is required: the path of the peer program on the runner');
  const path = isAbsolute(text) ? text : resolve(ctx.cwd, text);
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new InputError('binary', `'${text}' does not exist (looked at ${path})`);
  }
  if (!isFile) throw new InputError('binary', `'${text}' is not a regular file`);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new InputError('binary', `'${text}' is not executable; run chmod +x on it`);
  }
  return path;
}

/** `nat` as given: one behaviour (for every peer), or one per peer by index. */
function parseNatItems(raw: RawInputs, peers: number): NatBehaviour[] {
  const text = value(raw, 'nat') ?? 'port-restricted';
  const items = text.split(',').map((s) => s.trim());
  const parsed = items.map((item) => parseChoice('nat', item, NAT_BEHAVIOURS));
  if (parsed.length !== 1 && parsed.length !== peers) {
    throw new InputError('nat', `lists ${parsed.length} behaviours for ${peers} peers; give one, or one per peer`);
  }
  return parsed;
}

/** `nat`: one behaviour for every peer, or a comma list by peer index. */
export function parseNatList(raw: RawInputs, peers: number): NatBehaviour[] {
  const parsed = parseNatItems(raw, peers);
  return parsed.length === 1 ? new Array<NatBehaviour>(peers).fill(parsed[0]) : parsed;
}

/** `groups`: a group name per peer by index (same name, same router), or one name for all. */
function parseGroups(raw: RawInputs, peers: number): string[] | undefined {
  const text = value(raw, 'groups');
  if (text === undefined) return undefined;
  const items = text.split(',').map((s) => s.trim());
  for (const item of items) {
    const problem = groupNameProblem(item);
    if (problem) throw new InputError('groups', problem);
  }
  if (items.length !== 1 && items.length !== peers) {
    throw new InputError('groups', `lists ${items.length} groups for ${peers} peers; give one (all peers behind one router), or one per peer`);
  }
  return items;
}

/** A whole number input, or undefined when it is empty (so a topology file may decide). */
function optionalInteger(raw: RawInputs, name: string, min: number, max: number): number | undefined {
  return value(raw, name) === undefined ? undefined : parseInteger(raw, name, min, min, max);
}

function parseEnv(raw: RawInputs): Record<string, string> {
  const text = value(raw, 'env');
  const env: Record<string, string> = {};
  if (text === undefined) return env;
  for (const line of text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new InputError('env', `'${line}' is not a KEY=VALUE line (KEY: letters, digits, _)`);
    env[match[1]] = match[2];
  }
  return env;
}

function parseReadyLog(raw: RawInputs): string | undefined {
  const text = value(raw, 'ready-log');
  if (text === undefined) return undefined;
  try {
    new RegExp(text);
  } catch (error) {
    throw new InputError('ready-log', `'${text}' is not a valid regular expression: ${(error as Error).message}`);
  }
  return text;
}

// Private (RFC 1918), shared (RFC 6598) and benchmarking (RFC 2544) space: a pool
// elsewhere would shadow real Internet addresses in the engine host's routes.
const NON_PUBLIC_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '198.18.0.0/15'];

function parseSubnetPool(raw: RawInputs): string {
  const text = value(raw, 'subnet-pool') ?? DEFAULT_SUBNET_POOL;
  let pool: Cidr;
  try {
    pool = parseCidr(text);
  } catch (error) {
    throw new InputError('subnet-pool', (error as Error).message);
  }
  if (pool.prefix > 22) throw new InputError('subnet-pool', `'${text}' is too small; give a /22 or larger (e.g. ${DEFAULT_SUBNET_POOL})`);
  if (!NON_PUBLIC_RANGES.some((range) => contains(parseCidr(range), pool.base) && contains(parseCidr(range), lastAddress(pool)))) {
    throw new InputError(
      'subnet-pool',
      `'${text}' is not private address space; it would shadow real addresses on the engine's host. Use a range inside ${NON_PUBLIC_RANGES.join(', ')}`,
    );
  }
  return text;
}

export function parseSpec(raw: RawInputs, ctx: ParseContext): TopologySpec {
  const name = value(raw, 'name') ?? 'default';
  if (!NAME_PATTERN.test(name)) {
    throw new InputError('name', `'${name}' is not allowed; use 1 to 24 of a-z, 0-9 and -, starting with a letter or digit`);
  }
  const file = readTopologyFile(value(raw, TOPOLOGY_INPUT), ctx.cwd);
  const gateways = reconcileCount('gateways', optionalInteger(raw, 'gateways', LIMITS.gateways.min, LIMITS.gateways.max), file, 1);
  const peerCount = reconcileCount('peers', optionalInteger(raw, 'peers', LIMITS.peers.min, LIMITS.peers.max), file, 3);
  const hairpin = parseBoolean(raw, 'hairpin', false);
  const udpTimeout = value(raw, 'udp-timeout') === undefined ? undefined : parseInteger(raw, 'udp-timeout', 0, LIMITS.udpTimeout.min, LIMITS.udpTimeout.max);
  const layout = peerLayout(
    { count: peerCount, nat: parseNatItems(raw, peerCount), groups: parseGroups(raw, peerCount) },
    file,
  );
  const peers = layout.peers;
  const profile: ProfileName = parseChoice('profile', value(raw, 'profile') ?? 'freenet', PROFILES);
  const command = value(raw, 'command');
  if (profile === 'generic') {
    if (command === undefined) throw new InputError('command', "is required with profile 'generic'");
    validateCommandTemplate(command);
  } else if (command !== undefined) {
    throw new InputError('command', "only the generic profile takes a command template; set profile: generic");
  }
  const wsPort = parseInteger(raw, 'ws-port', 9000, 1, 65535);
  const networkPort = parseInteger(raw, 'network-port', 31337, 1, 65535);
  if (wsPort === networkPort) throw new InputError('ws-port', `must differ from network-port (both ${wsPort})`);
  const logLevel = value(raw, 'log-level') ?? 'info';
  if (!/^[A-Za-z0-9_:=,.-]+$/.test(logLevel)) {
    throw new InputError('log-level', `'${logLevel}' is not a RUST_LOG filter (letters, digits, _ : = , . -)`);
  }
  return {
    name,
    gateways,
    peers,
    binary: parseBinary(raw, ctx),
    profile,
    command,
    wsPort,
    networkPort,
    routerImage: parseImage(raw, 'router-image'),
    peerImage: parseImage(raw, 'peer-image'),
    readyTimeoutMs: parseInteger(raw, 'ready-timeout', 120, 1, 3600) * 1000,
    readyLog: parseReadyLog(raw),
    subnetPool: parseSubnetPool(raw),
    hairpin,
    udpTimeout,
    ...(Object.keys(layout.groups).length > 0 ? { groups: layout.groups } : {}),
    ...(layout.gatewaySpecs ? { gatewaySpecs: layout.gatewaySpecs } : {}),
    ...(file ? { topologyFile: file.resolvedPath } : {}),
    logLevel,
    env: parseEnv(raw),
    emulation: parseEmulation(raw, ctx.env, peers, layout.gatewaySpecs?.map((g) => g.emulation)),
  };
}
