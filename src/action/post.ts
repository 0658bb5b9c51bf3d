/** The action's post stage (always runs): remove everything of this job's topology. */
import * as core from '@actions/core';
import { existsSync, readFileSync } from 'node:fs';
import { down } from '../core/down.js';
import type { TopologyRecord } from '../core/record.js';
import { connectEngine } from '../engine/engine.js';
import { state } from './state.js';

function knownIds(): { containers: string[]; networks: string[] } {
  const file = state.recordFile();
  if (!file || !existsSync(file)) return { containers: [], networks: [] };
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as TopologyRecord;
    return {
      containers: [...record.nodes.map((n) => n.containerId), ...record.routers.map((r) => r.containerId)],
      networks: record.networks.map((n) => n.id),
    };
  } catch {
    return { containers: [], networks: [] };
  }
}

export async function runPost(): Promise<void> {
  const topologyId = state.topologyId();
  if (!topologyId) {
    core.info('nat-net: main did not get as far as naming a topology; nothing to remove');
    return;
  }
  const engine = await connectEngine();
  const result = await down(engine, topologyId, knownIds());
  core.info(`nat-net: removed ${topologyId}: ${result.containers} containers, ${result.networks} networks, ${result.volumes} volumes`);
  if (result.errors.length > 0) throw new Error(`clean-up of ${topologyId} failed for:\n${result.errors.join('\n')}`);
}
