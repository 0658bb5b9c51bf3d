/** The action's main stage: inputs -> topology, outputs, env and summary. */
import * as core from '@actions/core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bringUp, newTopologyId, prepareImages } from '../core/bring-up.js';
import { down } from '../core/down.js';
import { exportedEnv, nodeTable, wsPorts, type TopologyRecord } from '../core/record.js';
import { emulationTable } from '../emulation/apply.js';
import { connectEngine } from '../engine/engine.js';
import { actionRoot } from '../engine/images.js';
import { parseBoolean, parseSpec } from '../spec/parse.js';
import { sweep } from '../core/sweep.js';
import { parseDiagnosticsOptions } from '../diagnostics/options.js';
import { savePlannedViews } from '../diagnostics/planned.js';
import { readDiagnosticsInputs, readInputs } from './inputs.js';
import { state } from './state.js';

function publish(record: TopologyRecord): void {
  core.setOutput('topology', JSON.stringify(record));
  core.setOutput('topology-id', record.topologyId);
  core.setOutput('gateway-ws-ports', wsPorts(record, 'gateway').join(','));
  core.setOutput('peer-ws-ports', wsPorts(record, 'peer').join(','));
  for (const [name, value] of Object.entries(exportedEnv(record))) core.exportVariable(name, value);
}

async function writeSummary(record: TopologyRecord): Promise<void> {
  const [header, ...rows] = nodeTable(record);
  const t = record.timingsMs;
  core.summary
    .addHeading(`nat-net topology ${record.topologyId}`, 3)
    .addTable([header.map((h) => ({ data: h, header: true })), ...rows])
    .addRaw(
      `Bring-up ${(t.total / 1000).toFixed(1)} s (images ${t.images} ms, networks ${t.networks} ms, routers ${t.routers} ms, nodes ${t.nodes} ms, readiness ${t.readiness} ms)`,
      true,
    );
  if (record.emulation && record.emulation.nodes.length > 0) {
    const [eHeader, ...eRows] = emulationTable(record.emulation);
    core.summary
      .addHeading(`Network emulation: ${record.emulation.choice} (${record.emulation.origin})`, 4)
      .addTable([eHeader.map((h) => ({ data: h, header: true })), ...eRows])
      .addRaw(record.emulation.notes.join(' '), true);
  }
  await core.summary.write();
}

export async function runMain(): Promise<void> {
  state.markMainRan();
  try {
    await bringUpStage();
  } catch (error) {
    // Post reads this as "the job failed" whatever job-status says (upload: on-failure).
    state.setMainFailed();
    throw error;
  }
}

async function bringUpStage(): Promise<void> {
  const spec = parseSpec(readInputs(), { cwd: process.env.GITHUB_WORKSPACE || process.cwd(), env: process.env });
  // An artifact name the upload would refuse is an input error now, not a surprise in post.
  parseDiagnosticsOptions(readDiagnosticsInputs());
  // Saved before anything exists, so post finds the topology by label whatever happens next.
  const topologyId = newTopologyId(spec.name);
  state.setTopologyId(topologyId);
  const engine = await connectEngine();
  const controller = new AbortController();
  const cancel = (signal: string) => {
    core.warning(`${signal} received: stopping bring-up; the post step removes what was created`);
    controller.abort();
  };
  process.once('SIGINT', () => cancel('SIGINT'));
  process.once('SIGTERM', () => cancel('SIGTERM'));

  const log = (line: string) => core.info(line);
  if (parseBoolean({ sweep: core.getInput('sweep') }, 'sweep', false)) {
    for (const entry of await sweep(engine, { keep: [topologyId] })) {
      log(`sweep: ${entry.removed ? 'removed' : 'kept'} ${entry.topologyId}: ${entry.why}`);
    }
  }
  const images = await prepareImages(engine, spec, log);
  core.info(`bringing up ${topologyId} on ${engine.describe}`);
  const record = await bringUp(engine, spec, {
    topologyId,
    images,
    hooks: { log, signal: controller.signal },
    teardown: () => down(engine, topologyId),
    onPlan: (plan) => state.setPlanFile(savePlannedViews(plan, process.env)),
  });
  record.timingsMs.images = images.imagesMs;
  record.timingsMs.total += images.imagesMs;

  const dir = join(process.env.RUNNER_TEMP || '/tmp', 'nat-net', topologyId);
  mkdirSync(dir, { recursive: true });
  const recordFile = join(dir, 'topology.json');
  writeFileSync(recordFile, JSON.stringify(record, null, 2));
  state.setRecordFile(recordFile);
  publish(record);
  core.addPath(join(actionRoot(), 'bin'));
  await writeSummary(record).catch((error: Error) => core.warning(`job summary not written: ${error.message}`));
  core.info(`${topologyId} is up in ${(record.timingsMs.total / 1000).toFixed(1)} s`);
}
