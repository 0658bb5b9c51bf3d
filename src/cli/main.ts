/** `nat-net`: the same core as the action, driven by flags. */
import { bringUp, newTopologyId, prepareImages } from '../core/bring-up.js';
import { down, listTopologies } from '../core/down.js';
import { sweep } from '../core/sweep.js';
import { formatTable, nodeTable } from '../core/record.js';
import { emulationTable } from '../emulation/apply.js';
import { LINK_USAGE, runLinkCommand } from '../emulation/cli.js';
import { connectEngine, type Engine } from '../engine/engine.js';
import { InputError } from '../spec/errors.js';
import { parseSpec } from '../spec/parse.js';
import { dumpCommand } from '../diagnostics/cli-dump.js';
import { parseArgs } from './args.js';

export const USAGE = `nat-net: NAT test networks of Docker containers for peer-to-peer programs

  nat-net up --binary PATH [--gateways N] [--peers N] [--nat LIST] [--name NAME] [--json] ...
      Brings up a topology (flags are the action's inputs, e.g. --ws-port 9000,
      --ready-timeout 120, --profile generic --command '{binary} --port {network_port}').
      Prints the node table, then the JSON record. On failure, removes what it made
      (--keep-on-failure leaves it for inspection).
  nat-net down TOPOLOGY       Removes a topology (its id, or its name when unique).
  nat-net ls [--json]         Lists the topologies on the engine.
  nat-net dump TOPOLOGY [DIR] [--record FILE]
      Writes the diagnostics folder of a running topology (logs, iptables counters,
      conntrack, routes, qdiscs, summary.md) to DIR, by default
      ./nat-net-diagnostics/<topology id>. --record: the JSON record 'up' printed,
      for NAT behaviours and ready times in summary.md.
  nat-net sweep [--dry-run]   Removes topologies whose owner is gone (judged by their
                              owner labels: host, boot, process and its start time).
${LINK_USAGE}

The engine is DOCKER_HOST's (unix, tcp or ssh), else /var/run/docker.sock.`;

export class UsageError extends Error {}

async function resolveTopology(engine: Engine, wanted: string | undefined, command = 'down'): Promise<string> {
  if (!wanted) throw new UsageError(`name the topology: nat-net ${command} TOPOLOGY (see nat-net ls)`);
  const all = await listTopologies(engine);
  if (all.some((t) => t.topologyId === wanted)) return wanted;
  const byName = all.filter((t) => t.name === wanted);
  if (byName.length === 1) return byName[0].topologyId;
  if (byName.length > 1) {
    throw new UsageError(`several topologies are named '${wanted}': ${byName.map((t) => t.topologyId).join(', ')}; give the id`);
  }
  throw new UsageError(`no topology '${wanted}' on this engine (see nat-net ls)`);
}

export async function runCli(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  let args;
  try {
    args = parseArgs(argv);
  } catch (error) {
    err(`nat-net: ${(error as Error).message}\n`);
    return 2;
  }
  if (!args.command || args.flags.help) {
    out(`${USAGE}\n`);
    return args.command || args.flags.help ? 0 : 2;
  }
  try {
    switch (args.command) {
      case 'up':
        // A stray word is a value that missed its flag (e.g. `--hairpin maybe`): refuse it.
        if (args.positional.length > 0) throw new UsageError(`up takes only --flags; unexpected '${args.positional[0]}'`);
        return await cmdUp(args.flags, out, err);
      case 'down': {
        const engine = await connectEngine();
        const id = await resolveTopology(engine, args.positional[0]);
        const result = await down(engine, id);
        out(`removed ${id}: ${result.containers} containers, ${result.networks} networks, ${result.volumes} volumes\n`);
        if (result.errors.length > 0) {
          err(`nat-net: some resources could not be removed:\n${result.errors.join('\n')}\n`);
          return 1;
        }
        return 0;
      }
      case 'ls': {
        const engine = await connectEngine();
        const all = await listTopologies(engine);
        if (args.flags.json) out(`${JSON.stringify(all, null, 2)}\n`);
        else {
          const rows = [['topology', 'name', 'containers', 'running', 'created'], ...all.map((t) => [t.topologyId, t.name, String(t.containers), String(t.running), t.created])];
          out(`${formatTable(rows)}\n`);
        }
        return 0;
      }
      case 'dump': {
        const engine = await connectEngine();
        const id = await resolveTopology(engine, args.positional[0], 'dump');
        return await dumpCommand(engine, id, args.positional[1], args.flags, out, err);
      }
      case 'sweep': {
        const engine = await connectEngine();
        const entries = await sweep(engine, { dryRun: Boolean(args.flags['dry-run']) });
        for (const e of entries) {
          out(`${e.removed ? 'removed' : e.gone ? (args.flags['dry-run'] ? 'would remove' : 'failed to remove') : 'kept'} ${e.topologyId} (${e.name}, created ${e.created}): ${e.why}\n`);
        }
        if (entries.length === 0) out('no nat-net topologies on this engine\n');
        return entries.some((e) => e.why.includes('removal failed')) ? 1 : 0;
      }
      case 'impair':
      case 'partition':
      case 'heal':
        return await runLinkCommand(await connectEngine(), args.command, args.positional, args.flags, out, err);
      default:
        throw new UsageError(`unknown command '${args.command}'; commands: up, down, ls, sweep, and the others in nat-net --help`);
    }
  } catch (error) {
    err(`nat-net: ${(error as Error).message}\n`);
    return error instanceof InputError || error instanceof UsageError ? 2 : 1;
  }
}

const CLI_ONLY_FLAGS = new Set(['json', 'keep-on-failure']);

async function cmdUp(flags: Record<string, string>, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const inputs = Object.fromEntries(Object.entries(flags).filter(([k]) => !CLI_ONLY_FLAGS.has(k)));
  const spec = parseSpec(inputs, { cwd: process.cwd(), env: process.env });
  const engine = await connectEngine();
  const topologyId = newTopologyId(spec.name);
  const log = (line: string) => err(`nat-net: ${line}\n`);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const images = await prepareImages(engine, spec, log);
    log(`bringing up ${topologyId} on ${engine.describe}`);
    const record = await bringUp(engine, spec, { topologyId, images, hooks: { log, signal: controller.signal }, teardown: () => down(engine, topologyId) });
    record.timingsMs.images = images.imagesMs;
    out(`${formatTable(nodeTable(record))}\n`);
    if (record.emulation && record.emulation.nodes.length > 0) out(`${formatTable(emulationTable(record.emulation))}\n${record.emulation.notes.join('\n')}\n`);
    out(`${JSON.stringify(record, null, flags.json ? 2 : undefined)}\n`);
    const t = record.timingsMs;
    log(`up in ${(t.total / 1000).toFixed(1)} s (images ${t.images} ms, networks ${t.networks} ms, routers ${t.routers} ms, nodes ${t.nodes} ms, readiness ${t.readiness} ms); remove it with: nat-net down ${topologyId}`);
    return 0;
  } catch (error) {
    if (!flags['keep-on-failure']) {
      const result = await down(engine, topologyId).catch((e: Error) => ({ errors: [e.message] }));
      if (result.errors.length > 0) err(`nat-net: clean-up after the failure was incomplete:\n${result.errors.join('\n')}\n`);
    } else {
      log(`left ${topologyId} in place (--keep-on-failure); remove it with: nat-net down ${topologyId}`);
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
