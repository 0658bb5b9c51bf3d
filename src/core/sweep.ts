/** Removes topologies whose owner is gone (a job that ended without its post step, a CLI shell that exited). */
import type { Engine } from '../engine/engine.js';
import { down, listTopologies } from './down.js';
import { judgeOwner, parseOwner } from './owner.js';

export interface SweepEntry {
  topologyId: string;
  name: string;
  created: string;
  gone: boolean;
  removed: boolean;
  why: string;
}

export async function sweep(engine: Engine, opts: { dryRun?: boolean; keep?: string[] } = {}): Promise<SweepEntry[]> {
  const entries: SweepEntry[] = [];
  for (const t of await listTopologies(engine)) {
    if (opts.keep?.includes(t.topologyId)) continue;
    const verdict = judgeOwner(parseOwner(t.owner));
    const entry: SweepEntry = { topologyId: t.topologyId, name: t.name, created: t.created, gone: verdict.gone, removed: false, why: verdict.why };
    if (verdict.gone && !opts.dryRun) {
      const result = await down(engine, t.topologyId);
      entry.removed = result.errors.length === 0;
      if (result.errors.length > 0) entry.why += `; removal failed: ${result.errors.join('; ')}`;
    }
    entries.push(entry);
  }
  return entries;
}
