/** The action's post stage (always runs): diagnostics when wanted, then remove everything of this job's topology. */
import * as core from '@actions/core';
import { existsSync, readFileSync } from 'node:fs';
import { down } from '../core/down.js';
import type { TopologyRecord } from '../core/record.js';
import { connectEngine } from '../engine/engine.js';
import { teardownWithDiagnostics } from '../diagnostics/action-post.js';
import { readPlannedViews } from '../diagnostics/planned.js';
import { readAllInputs } from './inputs.js';
import { state } from './state.js';

function readRecord(): TopologyRecord | undefined {
  const file = state.recordFile();
  if (!file || !existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as TopologyRecord;
  } catch {
    return undefined;
  }
}

function knownIds(record = readRecord()): { containers: string[]; networks: string[] } {
  if (!record) return { containers: [], networks: [] };
  return {
    containers: [...record.nodes.map((n) => n.containerId), ...record.routers.map((r) => r.containerId)],
    networks: record.networks.map((n) => n.id),
  };
}

export async function runPost(): Promise<void> {
  const topologyId = state.topologyId();
  if (!topologyId) {
    core.info('nat-net: main did not get as far as naming a topology; nothing to remove');
    return;
  }
  const engine = await connectEngine();
  const record = readRecord();
  const result = await teardownWithDiagnostics({
    engine,
    topologyId,
    record,
    planned: record ? undefined : readPlannedViews(state.planFile()),
    mainFailed: state.mainFailed(),
    inputs: readAllInputs(),
    env: process.env,
    teardown: () => down(engine, topologyId, knownIds(record)),
  });
  core.info(`nat-net: removed ${topologyId}: ${result.containers} containers, ${result.networks} networks, ${result.volumes} volumes`);
  if (result.errors.length > 0) throw new Error(`clean-up of ${topologyId} failed for:\n${result.errors.join('\n')}`);
}
