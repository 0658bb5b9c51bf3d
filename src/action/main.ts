/** The action's main stage: inputs -> topology, outputs, env and summary. */
import * as core from '@actions/core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bringUp, newTopologyId, prepareImages } from '../core/bring-up.js';
import { down } from '../core/down.js';
import { exportedEnv, nodeTable, wsPorts, type TopologyRecord } from '../core/record.js';
import { connectEngine } from '../engine/engine.js';
import { actionRoot } from '../engine/images.js';
import { parseSpec } from '../spec/parse.js';
import { readInputs } from './inputs.js';
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
  await core.summary
    .addHeading(`nat-net topology ${record.topologyId}`, 3)
    .addTable([header.map((h) => ({ data: h, header: true })), ...rows])
    .addRaw(
      `Bring-up ${(t.total / 1000).toFixed(1)} s (images ${t.images} ms, networks ${t.networks} ms, routers ${t.routers} ms, nodes ${t.nodes} ms, readiness ${t.readiness} ms)`,
      true,
    )
    .write();
}

export async function runMain(): Promise<void> {
  state.markMainRan();
  const spec = parseSpec(readInputs(), { cwd: process.env.GITHUB_WORKSPACE || process.cwd(), env: process.env });
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
  const images = await prepareImages(engine, spec, log);
  core.info(`bringing up ${topologyId} on ${engine.describe}`);
  const record = await bringUp(engine, spec, {
    topologyId,
    images,
    hooks: { log, signal: controller.signal },
    teardown: () => down(engine, topologyId),
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
