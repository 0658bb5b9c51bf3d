/** `nat-net dump TOPOLOGY [DIR] [--record FILE]`: the post step's diagnostics folder, on demand. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TopologyRecord } from '../core/record.js';
import type { Engine } from '../engine/engine.js';
import { defaultImage } from '../engine/images.js';
import { collectDiagnostics } from './collect.js';
import { stoppedNodes } from './summary.js';

function readRecord(file: string, topologyId: string): TopologyRecord {
  let record: TopologyRecord;
  try {
    record = JSON.parse(readFileSync(file, 'utf8')) as TopologyRecord;
  } catch (error) {
    throw new Error(`--record ${file}: not a readable JSON record (${(error as Error).message})`);
  }
  if (record.topologyId !== topologyId) throw new Error(`--record ${file} describes ${record.topologyId}, not ${topologyId}`);
  return record;
}

export async function dumpCommand(
  engine: Engine,
  topologyId: string,
  dirArg: string | undefined,
  flags: Record<string, string>,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const dir = resolve(dirArg ?? join('nat-net-diagnostics', topologyId));
  const record = flags.record ? readRecord(flags.record, topologyId) : undefined;
  let helperImage: string | undefined = flags['router-image'];
  try {
    helperImage ??= defaultImage('router');
  } catch {
    // no images/ folder beside the CLI: only a router of the topology can lend its image
  }
  const result = await collectDiagnostics(engine, { topologyId, dir, record, helperImage, log: (l) => err(`nat-net: ${l}\n`) });
  const stopped = stoppedNodes(result.nodes);
  out(`${dir}\n`);
  if (stopped.length > 0) err(`nat-net: not running: ${stopped.map((n) => n.key).join(', ')} (see summary.md)\n`);
  if (result.errors.length > 0) err(`nat-net: ${result.errors.length} items could not be collected (see errors.txt)\n`);
  return 0;
}
