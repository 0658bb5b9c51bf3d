/**
 * Emulation inputs -> the settings of every node. One rule everywhere: a preset (or
 * `none`) sets every value; the single values given beside it change just those.
 * - topology-wide: input `emulation` (else env FREENET_TEST_NETWORK_EMULATION, as the
 *   reference harness read it), changed by `delay-ms`, `jitter-ms`, `loss-percent`,
 *   `loss-correlation`, `rate`;
 * - per node: the topology file's `emulation` (a preset name, or an object with
 *   `preset` and the same keys), starting from the topology-wide settings unless it
 *   names a preset;
 * - mid-test: `nat-net impair`, starting from what is in force (see control.ts).
 */
import { InputError } from '../spec/errors.js';
import type { PeerSpec } from '../spec/types.js';
import {
  NO_EMULATION,
  PRESET_NAMES,
  PRESETS,
  describeSettings,
  isNeutral,
  readRate,
  sameSettings,
  type EmulationSettings,
  type PresetName,
} from './settings.js';

export const EMULATION_ENV = 'FREENET_TEST_NETWORK_EMULATION';
export const EMULATION_CHOICES = ['none', ...PRESET_NAMES, 'custom'] as const;
export type EmulationChoice = (typeof EMULATION_CHOICES)[number];

/** The single values, by input name (also the CLI flags and the topology file keys). */
export const SETTING_INPUTS = ['delay-ms', 'jitter-ms', 'loss-percent', 'loss-correlation', 'rate'] as const;
export type SettingInput = (typeof SETTING_INPUTS)[number];
export const EMULATION_INPUTS = ['emulation', ...SETTING_INPUTS] as const;

export const MAX_DELAY_MS = 10_000;
export const MIN_RATE = 8_000; // 8kbit
export const MAX_RATE = 10_000_000_000; // 10gbit: the ceiling of the unshaped classes

/** Settings and where they came from (for messages that name what to change). */
export interface EmulationAssignment {
  settings: EmulationSettings;
  origin: string;
}

export interface EmulationSpec {
  /** The topology-wide choice: none, a preset, or custom. */
  choice: EmulationChoice;
  /** Where the topology-wide settings came from, e.g. "input 'emulation' (high_latency)". */
  origin: string;
  /** Settings of every node that has none of its own. */
  settings: EmulationSettings;
  /** Per node key (peer-2, gateway-0): settings of its own, from the topology file. */
  nodes: Record<string, EmulationAssignment>;
}

function text(raw: Record<string, string | undefined>, name: string): string | undefined {
  const v = raw[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** none, a preset or custom; case-insensitive, and high-latency for high_latency. */
export function readChoice(input: string, value: string, context = ''): EmulationChoice {
  const normal = value.trim().toLowerCase().replace(/-/g, '_');
  if ((EMULATION_CHOICES as readonly string[]).includes(normal)) return normal as EmulationChoice;
  throw new InputError(input, `${context}'${value}' is not an emulation; allowed: ${EMULATION_CHOICES.join(', ')}`);
}

export function choiceSettings(choice: EmulationChoice): EmulationSettings {
  return choice === 'none' || choice === 'custom' ? { ...NO_EMULATION } : { ...PRESETS[choice as PresetName] };
}

function readNumber(input: string, value: string, max: number, unit: string, decimals: number): number {
  const pattern = decimals === 0 ? /^\d+$/ : new RegExp(`^\\d+(?:\\.\\d{1,${decimals}})?$`);
  if (!pattern.test(value)) {
    throw new InputError(input, `'${value}' is not ${decimals === 0 ? 'a whole number' : `a number with at most ${decimals} decimals`}; allowed: 0 to ${max}${unit}`);
  }
  const n = Number(value);
  if (n > max) throw new InputError(input, `${value} is out of range; allowed: 0 to ${max}${unit}`);
  return n;
}

function readRateValue(input: string, value: string): number {
  if (/^(0|none|unlimited)$/i.test(value.trim())) return 0;
  const bits = readRate(value);
  if (bits === undefined) throw new InputError(input, `'${value}' is not a rate such as 10mbit, 512kbit or 1gbit (bits per second; 0 or none for no limit)`);
  if (bits < MIN_RATE || bits > MAX_RATE) throw new InputError(input, `${value} is out of range; allowed: 8kbit to 10gbit, or 0 for no limit`);
  return bits;
}

/**
 * `base` changed by the single values given. `label` turns a value's name into the
 * name an error should use (the input, the CLI flag, the topology file key).
 */
export function applySettingInputs(
  base: EmulationSettings,
  values: Partial<Record<SettingInput, string>>,
  label: (name: SettingInput) => string = (name) => name,
): EmulationSettings {
  const s = { ...base };
  const given = (name: SettingInput) => {
    const v = values[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const delay = given('delay-ms');
  if (delay !== undefined) s.delayMs = readNumber(label('delay-ms'), delay, MAX_DELAY_MS, ' ms', 0);
  const jitter = given('jitter-ms');
  if (jitter !== undefined) s.jitterMs = readNumber(label('jitter-ms'), jitter, MAX_DELAY_MS, ' ms', 0);
  const loss = given('loss-percent');
  if (loss !== undefined) s.lossPercent = readNumber(label('loss-percent'), loss, 100, ' %', 4);
  const correlation = given('loss-correlation');
  if (correlation !== undefined) s.lossCorrelation = readNumber(label('loss-correlation'), correlation, 100, ' %', 4);
  const rate = given('rate');
  if (rate !== undefined) s.rateBitsPerSecond = readRateValue(label('rate'), rate);
  if (s.jitterMs > s.delayMs) {
    const name = jitter !== undefined ? 'jitter-ms' : 'delay-ms';
    throw new InputError(
      label(name),
      `jitter ${s.jitterMs} ms is more than the delay ${s.delayMs} ms; a packet's delay is delay ± jitter, so jitter may be at most the delay`,
    );
  }
  return s;
}

function givenSettingInputs(raw: Record<string, string | undefined>): SettingInput[] {
  return SETTING_INPUTS.filter((name) => text(raw, name) !== undefined);
}

/** The topology-wide settings from the inputs, else the environment, else none. */
function topologyWide(raw: Record<string, string | undefined>, env: NodeJS.ProcessEnv): Omit<EmulationSpec, 'nodes'> {
  const given = givenSettingInputs(raw);
  const input = text(raw, 'emulation');
  const envValue = env[EMULATION_ENV]?.trim();
  let choice: EmulationChoice;
  let origin: string;
  if (input !== undefined) {
    choice = readChoice('emulation', input);
    origin = `input 'emulation' (${choice})`;
  } else if (envValue) {
    choice = readChoice('emulation', envValue, `the environment variable ${EMULATION_ENV} (read when the input is not given) is `);
    origin = `${EMULATION_ENV}=${envValue}`;
  } else {
    choice = given.length > 0 ? 'custom' : 'none';
    origin = given.length > 0 ? 'inputs' : 'default';
  }
  if (choice === 'none' && given.length > 0) {
    throw new InputError(given[0], `is set but emulation is 'none' (${origin}); set emulation: custom, or a preset whose values it should change`);
  }
  const settings = applySettingInputs(choiceSettings(choice), Object.fromEntries(given.map((name) => [name, text(raw, name)!])));
  if (given.length > 0) origin = `${origin === 'inputs' ? 'inputs' : `${origin} with inputs`} ${given.map((n) => `'${n}'`).join(', ')}`;
  return { choice, origin, settings };
}

const NODE_KEYS = new Set<string>(['preset', ...SETTING_INPUTS]);

/**
 * A node's own emulation from the topology file: a preset name, or an object with
 * an optional `preset` and single values (numbers or strings). Without a preset it
 * starts from `inherited` (the topology-wide settings).
 */
export function parseNodeEmulation(value: unknown, inherited: EmulationSettings, nodeKey: string): EmulationAssignment {
  const where = `topology file: ${nodeKey} emulation`;
  const origin = `the topology file's emulation for ${nodeKey}`;
  if (typeof value === 'string') return { settings: choiceSettings(readChoice(where, value)), origin };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InputError(where, `must be a preset name (${EMULATION_CHOICES.join(', ')}) or an object with preset, ${SETTING_INPUTS.join(', ')}`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [key, v] of entries) {
    if (!NODE_KEYS.has(key)) throw new InputError(`${where}.${key}`, `is not an emulation setting; allowed: ${[...NODE_KEYS].join(', ')}`);
    if (typeof v !== 'string' && typeof v !== 'number') throw new InputError(`${where}.${key}`, `must be a number or a string, not ${JSON.stringify(v)}`);
  }
  const fields = Object.fromEntries(entries.map(([k, v]) => [k, String(v)])) as Record<string, string>;
  const base = fields.preset !== undefined ? choiceSettings(readChoice(`${where}.preset`, fields.preset)) : inherited;
  const settings = applySettingInputs(base, fields, (name) => `${where}.${name}`);
  return { settings, origin };
}

/**
 * Every emulation input of a topology. `peers` may carry the topology file's
 * `emulation` objects; `gatewayEmulation[i]` does the same for gateway i.
 */
export function parseEmulation(
  raw: Record<string, string | undefined>,
  env: NodeJS.ProcessEnv,
  peers: readonly PeerSpec[],
  gatewayEmulation: readonly unknown[] = [],
): EmulationSpec {
  const wide = topologyWide(raw, env);
  const nodes: Record<string, EmulationAssignment> = {};
  gatewayEmulation.forEach((value, index) => {
    if (value !== undefined && value !== null) nodes[`gateway-${index}`] = parseNodeEmulation(value, wide.settings, `gateway-${index}`);
  });
  for (const peer of peers) {
    const value = (peer as PeerSpec & { emulation?: unknown }).emulation;
    if (value !== undefined && value !== null) nodes[`peer-${peer.index}`] = parseNodeEmulation(value, wide.settings, `peer-${peer.index}`);
  }
  checkSharedRouters(peers, (key) => nodes[key]?.settings ?? wide.settings);
  return { ...wide, nodes };
}

/** Peers behind one router leave through one public interface: it can shape them one way only. */
function checkSharedRouters(peers: readonly PeerSpec[], settingsOf: (key: string) => EmulationSettings): void {
  const first = new Map<string, string>();
  for (const peer of peers) {
    if (peer.nat === 'none') continue;
    const key = `peer-${peer.index}`;
    const other = first.get(peer.group);
    if (other === undefined) first.set(peer.group, key);
    else if (!sameSettings(settingsOf(other), settingsOf(key))) {
      throw new InputError(
        `topology file: ${key} emulation`,
        `${other} (${describeSettings(settingsOf(other))}) and ${key} (${describeSettings(settingsOf(key))}) share the router of group '${peer.group}', ` +
          'whose public interface shapes both; give them the same emulation or put them in different groups',
      );
    }
  }
}

/** A node's settings and their origin, or undefined when nothing shapes it. */
export function emulationFor(spec: EmulationSpec | undefined, nodeKey: string): EmulationAssignment | undefined {
  if (!spec) return undefined;
  const assignment = spec.nodes[nodeKey] ?? { settings: spec.settings, origin: spec.origin };
  return isNeutral(assignment.settings) ? undefined : assignment;
}

/** `{ emulation }` for a plan entry when the node is shaped, else nothing (no undefined key). */
export function emulationField(spec: EmulationSpec | undefined, nodeKey: string): { emulation?: EmulationAssignment } {
  const assignment = emulationFor(spec, nodeKey);
  return assignment ? { emulation: assignment } : {};
}
