/** `nat-net`: the same core as the action, driven by flags. */
import { bringUp, newTopologyId, prepareImages } from '../core/bring-up.js';
import { down, listTopologies } from '../core/down.js';
import { formatTable, nodeTable } from '../core/record.js';
import { connectEngine, type Engine } from '../engine/engine.js';
import { InputError } from '../spec/errors.js';
import { parseSpec } from '../spec/parse.js';
import { parseArgs } from './args.js';

export const USAGE = `nat-net: NAT test networks of Docker containers for peer-to-peer programs

  nat-net up --binary PATH [--gateways N] [--peers N] [--nat LIST] [--name NAME] [--json] ...
      Brings up a topology (flags are the action's inputs, e.g. --ws-port 9000,
      --ready-timeout 120, --profile generic --command '{binary} --port {network_port}').
      Prints the node table, then the JSON record. On failure, removes what it made
      (--keep-on-failure leaves it for inspection).
  nat-net down TOPOLOGY       Removes a topology (its id, or its name when unique).
  nat-net ls [--json]         Lists the topologies on the engine.

The engine is DOCKER_HOST's (unix, tcp or ssh), else /var/run/docker.sock.`;

export class UsageError extends Error {}

async function resolveTopology(engine: Engine, wanted: string | undefined): Promise<string> {
  if (!wanted) throw new UsageError('name the topology: nat-net down TOPOLOGY (see nat-net ls)');
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
      default:
        throw new UsageError(`unknown command '${args.command}'; commands: up, down, ls`);
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
    out(`${JSON.stringify(record, null, flags.json ? 2 : undefined)}\n`);
    log(`up in ${(record.timingsMs.total / 1000).toFixed(1)} s; remove it with: nat-net down ${topologyId}`);
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
