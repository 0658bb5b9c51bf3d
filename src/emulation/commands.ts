/**
 * Link state -> the exact tc and iptables commands that make one interface's egress
 * behave so. Pure: argv lists and an iptables-restore text, then a renderer that turns
 * them into sh lines (the interface is a shell variable resolved by address at run
 * time, since Docker does not fix interface names).
 *
 * Layout of a shaped interface (sch_prio is not on every kernel; htb is):
 *   root htb 1: (default class 1:3)
 *     1:1  never shaped: traffic to the host's bridge address (the WebSocket path of a
 *          node on the public network), matched by a u32 filter on the destination
 *     1:2  dropped: a pfifo of length 0; the NATNET_EMU chain sends packets here with
 *          CLASSIFY (loss without netem, and the outbound half of a partition). A drop in
 *          the qdisc keeps the sender's send() quiet, where an iptables DROP of a local
 *          packet would fail it with EPERM. (htb honours the class CLASSIFY sets before
 *          any filter; u32's mark match is not built into every kernel, and on those it
 *          silently matches everything.)
 *     1:3  everything else, under the shaping qdisc: netem (delay, jitter, loss,
 *          correlation, rate in one qdisc), or without netem tbf for the rate
 * and in the mangle table, NATNET_EMU (POSTROUTING -o iface: CLASSIFY) and NATNET_EMU_IN
 * (PREROUTING -i iface: the inbound half of a partition, DROP).
 */
import { InputError } from '../spec/errors.js';
import { decimal, describeSettings, encodeState, formatRate, needsNetem, type EmulationSettings, type LinkState } from './settings.js';

export const EMU_CHAIN = 'NATNET_EMU';
export const EMU_IN_CHAIN = 'NATNET_EMU_IN';
export const EXEMPT_CLASS = '1:1';
export const DROP_CLASS = '1:2';
export const SHAPED_CLASS = '1:3';
/** The ceiling of the classes nat-net does not shape: far above what containers exchange. */
export const UNSHAPED_RATE = '10gbit';
/** tbf's queue: what a rate-limited link holds before it drops, as time at the rate. */
export const TBF_LATENCY = '100ms';

export interface LinkOptions {
  /** The interface as a shell variable word, e.g. '$PUB'. */
  iface: string;
  /** Traffic to (and, for a partition, from) this address is never shaped or cut: the host's WebSocket path. */
  exempt?: string;
  /** Whether the kernel has sch_netem. */
  netem: boolean;
}

export interface LinkCommands {
  /** The classes and filters; run when the interface's root is not yet nat-net's htb. */
  layout: string[][];
  /** Puts the shaping qdisc under the shaped class, replacing what was there. */
  shaping: string[];
  /** iptables-restore --noflush input: both chains, rewritten whole (atomically). */
  rules: string;
  /** The jumps into the chains (added when missing). */
  hooks: string[][];
}

/** tbf's bucket: at least a few full-size packets, and at least 10 ms at the rate. */
export function tbfBurst(rateBitsPerSecond: number): number {
  return Math.max(4096, Math.ceil(rateBitsPerSecond / 8 / 100));
}

export function netemArgs(s: EmulationSettings): string[] {
  const args = ['netem'];
  if (s.delayMs > 0 || s.jitterMs > 0) args.push('delay', `${s.delayMs}ms`, ...(s.jitterMs > 0 ? [`${s.jitterMs}ms`] : []));
  if (s.lossPercent > 0) args.push('loss', `${decimal(s.lossPercent)}%`, ...(s.lossCorrelation > 0 ? [`${decimal(s.lossCorrelation)}%`] : []));
  if (s.rateBitsPerSecond > 0) args.push('rate', formatRate(s.rateBitsPerSecond));
  return args;
}

function shapingQdisc(s: EmulationSettings, netem: boolean): string[] {
  if (netem && (needsNetem(s) || s.lossPercent > 0 || s.rateBitsPerSecond > 0)) return netemArgs(s);
  if (s.rateBitsPerSecond > 0) {
    return ['tbf', 'rate', formatRate(s.rateBitsPerSecond), 'burst', String(tbfBurst(s.rateBitsPerSecond)), 'latency', TBF_LATENCY];
  }
  return ['pfifo', 'limit', '1000'];
}

export function lossProbability(lossPercent: number): string {
  return decimal(lossPercent / 100);
}

export function linkCommands(state: LinkState, opts: LinkOptions): LinkCommands {
  const s = state.settings;
  if (!opts.netem && needsNetem(s)) {
    throw new Error(`delay and jitter need the netem qdisc, which this kernel lacks (${describeSettings(s)})`);
  }
  const dev = ['dev', opts.iface];
  const cls = (classid: string) => ['tc', 'class', 'add', ...dev, 'parent', '1:', 'classid', classid, 'htb', 'rate', UNSHAPED_RATE, 'quantum', '60000'];
  const layout: string[][] = [
    ['tc', 'qdisc', 'replace', ...dev, 'root', 'handle', '1:', 'htb', 'default', '3'],
    cls(EXEMPT_CLASS),
    cls(DROP_CLASS),
    cls(SHAPED_CLASS),
    ['tc', 'qdisc', 'add', ...dev, 'parent', EXEMPT_CLASS, 'pfifo', 'limit', '1000'],
    ['tc', 'qdisc', 'add', ...dev, 'parent', DROP_CLASS, 'pfifo', 'limit', '0'],
    ...(opts.exempt
      ? [['tc', 'filter', 'add', ...dev, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', `${opts.exempt}/32`, 'flowid', EXEMPT_CLASS]]
      : []),
  ];
  const shaping = ['tc', 'qdisc', 'replace', ...dev, 'parent', SHAPED_CLASS, ...shapingQdisc(s, opts.netem)];

  const drop = `-j CLASSIFY --set-class ${DROP_CLASS}`;
  const out: string[] = [`-A ${EMU_CHAIN} -m comment --comment "${encodeState(state)}"`];
  const inbound: string[] = [];
  if (opts.exempt) {
    out.push(`-A ${EMU_CHAIN} -d ${opts.exempt}/32 -m comment --comment "nat-net: the host path is not shaped" -j RETURN`);
    inbound.push(`-A ${EMU_IN_CHAIN} -s ${opts.exempt}/32 -m comment --comment "nat-net: the host path is not cut" -j RETURN`);
  }
  if (state.partitioned) {
    out.push(`-A ${EMU_CHAIN} -m comment --comment "nat-net partition: drop all sent" ${drop}`);
    inbound.push(`-A ${EMU_IN_CHAIN} -m comment --comment "nat-net partition: drop all received" -j DROP`);
  }
  if (!opts.netem && s.lossPercent > 0) {
    out.push(
      `-A ${EMU_CHAIN} -m statistic --mode random --probability ${lossProbability(s.lossPercent)} -m comment --comment "nat-net loss ${decimal(s.lossPercent)} percent: drop" ${drop}`,
    );
  }
  const rules = ['*mangle', `:${EMU_CHAIN} - [0:0]`, `:${EMU_IN_CHAIN} - [0:0]`, ...out, ...inbound, 'COMMIT', ''].join('\n');
  const hooks = [
    ['iptables', '-t', 'mangle', '-A', 'POSTROUTING', '-o', opts.iface, '-j', EMU_CHAIN],
    ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-i', opts.iface, '-j', EMU_IN_CHAIN],
  ];
  return { layout, shaping, rules, hooks };
}

/** A word for sh: shell variables (from our own argv, never user text) expand in double quotes. */
function shWord(word: string): string {
  if (/^\$[A-Z_][A-Z0-9_]*$/.test(word)) return `"${word}"`;
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shLine(argv: string[]): string {
  return argv.map(shWord).join(' ');
}

/** sh lines that bring the interface to `state`; repeatable (bring-up and every later change). */
export function linkScript(state: LinkState, opts: LinkOptions): string[] {
  const c = linkCommands(state, opts);
  // Only sh and iproute2/iptables: a user's router image need not have grep or sed.
  return [
    `case "$(tc qdisc show dev ${shWord(opts.iface)} root)" in 'qdisc htb 1: '*) ;; *)`,
    ...c.layout.map((argv) => `  ${shLine(argv)}`),
    ';; esac',
    shLine(c.shaping),
    `iptables-restore --noflush <<'NATNET_EMU_RULES'\n${c.rules}NATNET_EMU_RULES`,
    ...c.hooks.map((argv) => `${shLine(argv.map((w) => (w === '-A' ? '-C' : w)))} 2>/dev/null || ${shLine(argv)}`),
  ];
}

/** Sets shell variable `name` to the interface that holds `address`, or stops with a clear message. */
export function ifaceLookup(name: string, address: string): string[] {
  return [
    `${name}=$(set -- $(ip -o -4 addr show to ${address}/32); echo "\${2:-}")`,
    `${name}=\${${name}%@*}`,
    `[ -n "$${name}" ] || { echo "nat-net: no interface has address ${address}" >&2; exit 71; }`,
  ];
}

/** Prints the state marker of the namespace's shaped interface (empty when none). */
export const READ_STATE_SCRIPT = `iptables -t mangle -S ${EMU_CHAIN} 2>/dev/null || true`;

/** Which mechanism applies each setting on this kernel, for the record, summary and change log. */
export function mechanisms(s: EmulationSettings, netem: boolean): Record<string, string> {
  const m: Record<string, string> = {};
  if (netem) {
    if (s.delayMs > 0) m.delay = 'netem';
    if (s.jitterMs > 0) m.jitter = 'netem';
    if (s.lossPercent > 0) m.loss = 'netem';
    if (s.lossPercent > 0 && s.lossCorrelation > 0) m['loss-correlation'] = 'netem';
    if (s.rateBitsPerSecond > 0) m.rate = 'netem';
    return m;
  }
  if (s.delayMs > 0) m.delay = 'unavailable: the kernel lacks sch_netem';
  if (s.jitterMs > 0) m.jitter = 'unavailable: the kernel lacks sch_netem';
  if (s.lossPercent > 0) m.loss = `iptables statistic CLASSIFY (mangle ${EMU_CHAIN}) -> htb drop class`;
  if (s.lossPercent > 0 && s.lossCorrelation > 0) m['loss-correlation'] = 'not applied: without netem, drops are independent';
  if (s.rateBitsPerSecond > 0) m.rate = `tbf (queue ${TBF_LATENCY})`;
  return m;
}

export const PARTITION_MECHANISM = `inbound: iptables DROP (mangle ${EMU_IN_CHAIN}); outbound: iptables CLASSIFY (mangle ${EMU_CHAIN}) -> htb drop class`;

/** Delay or jitter asked for where the kernel has no netem: says what, from where, and what to do. */
export class NetemMissingError extends InputError {}

export interface NetemNeed {
  /** Node keys (or a description) that would be shaped so. */
  who: string;
  settings: EmulationSettings;
  origin: string;
}

export function netemMissingError(input: string, needs: NetemNeed[], nothingChanged: string): NetemMissingError {
  const lines = needs.map((n) => `  - ${n.who}: ${describeSettings(n.settings)} (from ${n.origin})`);
  return new NetemMissingError(
    input,
    [
      `asks for delay or jitter, but this kernel has no netem qdisc (sch_netem; 'tc qdisc add ... netem' fails with "Specified qdisc kind is unknown"); ${nothingChanged}.`,
      ...lines,
      'What to do: run on a kernel with netem (GitHub-hosted runners have it); or load it on this host (sudo modprobe sch_netem; on Ubuntu it is in linux-modules-extra-$(uname -r));',
      'or drop delay and jitter: loss-percent and rate work without netem (e.g. emulation: custom with loss-percent and rate, or delay-ms: 0 and jitter-ms: 0 beside a preset).',
    ].join('\n'),
  );
}
