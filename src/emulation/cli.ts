/** `nat-net impair | partition | heal NODE`: the CLI side of mid-test changes. */
import { listTopologies } from '../core/down.js';
import type { Engine } from '../engine/engine.js';
import { InputError } from '../spec/errors.js';
import { changeLink, describeLink } from './control.js';
import { MAX_DELAY_MS, SETTING_INPUTS, applySettingInputs, choiceSettings, readChoice, type SettingInput } from './spec.js';
import { NO_EMULATION } from './settings.js';

export const LINK_COMMANDS = ['impair', 'partition', 'heal'] as const;
export type LinkCommand = (typeof LINK_COMMANDS)[number];

export const LINK_USAGE = `  nat-net impair NODE [--preset P] [--delay-ms N] [--jitter-ms N] [--loss-percent P]
                 [--loss-correlation P] [--rate R] [--topology T]
      Changes what NODE (peer-2, gateway-0) sends into the public network. Values
      you give change just those settings; --preset (none, lan, regional,
      intercontinental, high_latency, challenging) first sets them all.
  nat-net partition NODE [--topology T]
      Cuts NODE's public link both ways, flows already open included. Its
      WebSocket port stays reachable from the host.
  nat-net heal NODE [--topology T]    Ends the partition; the settings stay.
      T is the topology's id or name; default: $NAT_NET_TOPOLOGY_ID, else the only
      topology on the engine. Every change is printed as JSON and appended to
      $RUNNER_TEMP/nat-net/<topology>/changes.jsonl.`;

const COMMON_FLAGS = ['topology', 'json'];
const FLAGS: Record<LinkCommand, string[]> = {
  impair: [...COMMON_FLAGS, 'preset', ...SETTING_INPUTS],
  partition: COMMON_FLAGS,
  heal: COMMON_FLAGS,
};

export function isLinkCommand(command: string): command is LinkCommand {
  return (LINK_COMMANDS as readonly string[]).includes(command);
}

/** --topology, else $NAT_NET_TOPOLOGY_ID, else the only topology on the engine. */
export async function resolveTopologyFor(engine: Engine, wanted: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  const all = await listTopologies(engine);
  const asked = wanted ?? env.NAT_NET_TOPOLOGY_ID;
  if (asked) {
    if (all.some((t) => t.topologyId === asked)) return asked;
    const byName = all.filter((t) => t.name === asked);
    if (byName.length === 1) return byName[0].topologyId;
    if (byName.length > 1) throw new InputError('topology', `several topologies are named '${asked}': ${byName.map((t) => t.topologyId).join(', ')}; give the id`);
    throw new InputError('topology', `no topology '${asked}'${wanted ? '' : ' (from NAT_NET_TOPOLOGY_ID)'} on this engine; see nat-net ls`);
  }
  if (all.length === 1) return all[0].topologyId;
  if (all.length === 0) throw new InputError('topology', 'there is no topology on this engine; see nat-net ls');
  throw new InputError('topology', `the engine has ${all.length} topologies (${all.map((t) => t.topologyId).join(', ')}); choose one with --topology`);
}

/** Checks the flags before anything is asked of the engine. */
export function checkLinkFlags(command: LinkCommand, positional: string[], flags: Record<string, string>): void {
  if (positional.length !== 1) throw new InputError('NODE', `nat-net ${command} takes one node, such as peer-0 or gateway-1 (got ${positional.length})`);
  for (const name of Object.keys(flags)) {
    if (!FLAGS[command].includes(name)) throw new InputError(`--${name}`, `is not an option of nat-net ${command}; options: ${FLAGS[command].map((f) => `--${f}`).join(', ')}`);
  }
  if (command !== 'impair') return;
  const given = SETTING_INPUTS.filter((name) => flags[name] !== undefined);
  if (flags.preset === undefined && given.length === 0) {
    throw new InputError('impair', `give --preset or at least one of ${SETTING_INPUTS.map((n) => `--${n}`).join(', ')}`);
  }
  if (flags.preset !== undefined) readChoice('--preset', flags.preset);
  // Each value on its own (a jitter is checked against the delay once the current state is known).
  applySettingInputs({ ...NO_EMULATION, delayMs: MAX_DELAY_MS }, pick(flags, given), (n) => `--${n}`);
}

function pick(flags: Record<string, string>, names: SettingInput[]): Partial<Record<SettingInput, string>> {
  return Object.fromEntries(names.map((n) => [n, flags[n]]));
}

export async function runLinkCommand(
  engine: Engine,
  command: LinkCommand,
  positional: string[],
  flags: Record<string, string>,
  out: (s: string) => void,
  err: (s: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  checkLinkFlags(command, positional, flags);
  const node = positional[0];
  const topologyId = await resolveTopologyFor(engine, flags.topology, env);
  const given = SETTING_INPUTS.filter((name) => flags[name] !== undefined);
  const commandLine = ['nat-net', command, node, ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v])].join(' ');
  const { entry, logPath } = await changeLink(engine, {
    topologyId,
    node,
    action: command,
    input: given.find((n) => n === 'delay-ms' || n === 'jitter-ms') ?? (flags.preset !== undefined ? 'preset' : command),
    command: commandLine,
    env,
    change: (current) => {
      if (command === 'partition') return { ...current, partitioned: true };
      if (command === 'heal') return { ...current, partitioned: false };
      const base = flags.preset !== undefined ? choiceSettings(readChoice('--preset', flags.preset)) : current.settings;
      return { ...current, settings: applySettingInputs(base, pick(flags, given), (n) => `--${n}`) };
    },
  });
  out(`${JSON.stringify(entry, null, flags.json ? 2 : undefined)}\n`);
  const also = entry.alsoAffects.length > 0 ? ` (also ${entry.alsoAffects.join(', ')}, behind the same router)` : '';
  err(`nat-net: ${command} ${node} of ${topologyId}${also}: ${describeLink(entry.before)} -> ${describeLink(entry.after)}, at ${entry.appliedAt}; logged to ${logPath}\n`);
  return 0;
}
