/**
 * What a node's link does to the packets it sends into the public network: one-way
 * delay and jitter, random loss and its correlation, and a bandwidth limit. Pure data,
 * the presets of the reference harness, and the small text forms used in argv, logs
 * and the state marker kept in each shaped namespace.
 */

export interface EmulationSettings {
  /** One-way delay added to every packet the node sends, ms. */
  delayMs: number;
  /** Each packet's delay varies uniformly by up to ± this, ms (never more than delayMs). */
  jitterMs: number;
  /** Share of packets dropped, 0 to 100. */
  lossPercent: number;
  /** How much a drop depends on the previous one, 0 to 100 (netem's loss correlation). */
  lossCorrelation: number;
  /** Bandwidth limit in bits per second; 0 means none. */
  rateBitsPerSecond: number;
}

/** The state of one shaped interface: its settings and whether it is cut off. */
export interface LinkState {
  settings: EmulationSettings;
  partitioned: boolean;
}

export const PRESET_NAMES = ['lan', 'regional', 'intercontinental', 'high_latency', 'challenging'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export const NO_EMULATION: EmulationSettings = Object.freeze({ delayMs: 0, jitterMs: 0, lossPercent: 0, lossCorrelation: 0, rateBitsPerSecond: 0 });

/** The reference harness's presets (freenet-test-network 0.1.x, FREENET_TEST_NETWORK_EMULATION). */
export const PRESETS: Readonly<Record<PresetName, EmulationSettings>> = Object.freeze({
  lan: { delayMs: 1, jitterMs: 1, lossPercent: 0, lossCorrelation: 25, rateBitsPerSecond: 0 },
  regional: { delayMs: 40, jitterMs: 10, lossPercent: 0.1, lossCorrelation: 25, rateBitsPerSecond: 0 },
  intercontinental: { delayMs: 125, jitterMs: 25, lossPercent: 0.5, lossCorrelation: 25, rateBitsPerSecond: 0 },
  high_latency: { delayMs: 200, jitterMs: 30, lossPercent: 1, lossCorrelation: 25, rateBitsPerSecond: 0 },
  challenging: { delayMs: 150, jitterMs: 50, lossPercent: 3, lossCorrelation: 50, rateBitsPerSecond: 0 },
});

/** True when the settings change nothing (a correlation without loss means nothing). */
export function isNeutral(s: EmulationSettings): boolean {
  return s.delayMs === 0 && s.jitterMs === 0 && s.lossPercent === 0 && s.rateBitsPerSecond === 0;
}

export function needsNetem(s: EmulationSettings): boolean {
  return s.delayMs > 0 || s.jitterMs > 0;
}

export function sameSettings(a: EmulationSettings, b: EmulationSettings): boolean {
  return (
    a.delayMs === b.delayMs &&
    a.jitterMs === b.jitterMs &&
    a.lossPercent === b.lossPercent &&
    (a.lossPercent === 0 || a.lossCorrelation === b.lossCorrelation) &&
    a.rateBitsPerSecond === b.rateBitsPerSecond
  );
}

const RATE_UNITS: [string, number][] = [
  ['gbit', 1e9],
  ['mbit', 1e6],
  ['kbit', 1e3],
  ['bit', 1],
];

/** tc's rate words use SI prefixes on bits: 10mbit is 10,000,000 bit/s. */
export function formatRate(bitsPerSecond: number): string {
  for (const [unit, factor] of RATE_UNITS) {
    if (bitsPerSecond >= factor && bitsPerSecond % factor === 0) return `${bitsPerSecond / factor}${unit}`;
  }
  return `${bitsPerSecond}bit`;
}

/** Reads 10mbit, 512kbit, 1.5mbit, 1gbit, 64000bit (case-insensitive); undefined when not a rate. */
export function readRate(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(gbit|mbit|kbit|bit)$/i.exec(text.trim());
  if (!match) return undefined;
  const factor = RATE_UNITS.find(([unit]) => unit === match[2].toLowerCase())![1];
  return Math.round(Number(match[1]) * factor);
}

/** Shortest decimal text of a number (0.1, 3, 12.5): what netem and the logs show. */
export function decimal(n: number): string {
  return String(Number(n.toFixed(6)));
}

/** One line for logs and summaries: "delay 40 ms ± 10 ms, loss 0.1 % (correlation 25 %), rate 10mbit". */
export function describeSettings(s: EmulationSettings): string {
  if (isNeutral(s)) return 'none';
  const parts: string[] = [];
  if (s.delayMs > 0 || s.jitterMs > 0) parts.push(`delay ${s.delayMs} ms${s.jitterMs > 0 ? ` ± ${s.jitterMs} ms` : ''}`);
  if (s.lossPercent > 0) parts.push(`loss ${decimal(s.lossPercent)} %${s.lossCorrelation > 0 ? ` (correlation ${decimal(s.lossCorrelation)} %)` : ''}`);
  if (s.rateBitsPerSecond > 0) parts.push(`rate ${formatRate(s.rateBitsPerSecond)}`);
  return parts.join(', ');
}

/**
 * The state marker each shaped namespace carries (as an iptables comment in the
 * NATNET_EMU chain), so a later `nat-net impair` knows what is in force without any
 * file on the host. Only numbers: nothing a user typed is copied into it.
 */
export const STATE_MARKER = 'nat-net-state';

export function encodeState(state: LinkState): string {
  const s = state.settings;
  return [
    `${STATE_MARKER} v1`,
    `delay=${s.delayMs}`,
    `jitter=${s.jitterMs}`,
    `loss=${decimal(s.lossPercent)}`,
    `corr=${decimal(s.lossCorrelation)}`,
    `rate=${s.rateBitsPerSecond}`,
    `partitioned=${state.partitioned ? 1 : 0}`,
  ].join(' ');
}

/** The last state marker in `text` (e.g. `iptables -S` output), or undefined when there is none. */
export function decodeState(text: string): LinkState | undefined {
  const matches = [...text.matchAll(new RegExp(`${STATE_MARKER} v1 ((?:[a-z]+=[0-9.]+ ?)+)`, 'g'))];
  if (matches.length === 0) return undefined;
  const fields = Object.fromEntries(
    matches[matches.length - 1][1]
      .trim()
      .split(' ')
      .map((kv) => kv.split('=') as [string, string]),
  );
  const num = (key: string) => {
    const n = Number(fields[key]);
    if (!Number.isFinite(n)) throw new Error(`the emulation state marker lacks '${key}': ${matches[matches.length - 1][0]}`);
    return n;
  };
  return {
    settings: { delayMs: num('delay'), jitterMs: num('jitter'), lossPercent: num('loss'), lossCorrelation: num('corr'), rateBitsPerSecond: num('rate') },
    partitioned: num('partitioned') === 1,
  };
}
