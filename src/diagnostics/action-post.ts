/**
 * The post step's diagnostics around teardown: decide from the job's status and the
 * `upload` input, collect into a folder while everything still exists, then upload
 * and remove at the same time (a slow or failing upload never delays or prevents
 * clean-up), and write the job summary. Only a failed clean-up fails the step.
 *
 * How post knows the job failed: the `job-status` input defaults to `${{ job.status }}`,
 * and the runner evaluates inputs again for the post stage, after every earlier step
 * has updated the job's status; main also saves its own failure in the step state.
 */
import * as core from '@actions/core';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DownResult } from '../core/down.js';
import type { TopologyRecord } from '../core/record.js';
import type { Engine } from '../engine/engine.js';
import { defaultImage } from '../engine/images.js';
import { InputError } from '../spec/errors.js';
import { collectDiagnostics, quickReports } from './collect.js';
import {
  artifactNameFor,
  jobFailed,
  parseDiagnosticsOptions,
  parseJobStatus,
  shouldUpload,
  UPLOAD_MODES,
  type DiagnosticsOptions,
} from './options.js';
import { markdownTable, nodeRows } from './summary.js';
import { uploadFolder, type UploadOutcome } from './upload.js';
import type { DiagnosticsResult, NodeReport, NodeView } from './views.js';

export interface PostContext {
  engine: Engine;
  topologyId: string;
  record?: TopologyRecord;
  planned?: NodeView[];
  mainFailed: boolean;
  /** Every input as the runner resolved it for this stage. */
  inputs: Record<string, string>;
  env: NodeJS.ProcessEnv;
  teardown: () => Promise<DownResult>;
}

/** The diagnostics folder of a topology in the action: under RUNNER_TEMP, one per topology. */
export function diagnosticsDir(topologyId: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(env.RUNNER_TEMP || tmpdir(), 'nat-net-diagnostics', topologyId);
}

/** Main has validated these; should they still be wrong here, clean-up must not suffer for it. */
function optionsOrDefaults(inputs: Record<string, string>): DiagnosticsOptions {
  try {
    return parseDiagnosticsOptions(inputs);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    core.warning(`nat-net: ${error.message}; using upload: on-failure and the default artifact name`);
    return { upload: UPLOAD_MODES[0] };
  }
}

function helperImageFallback(inputs: Record<string, string>): string | undefined {
  if (inputs['router-image']?.trim()) return inputs['router-image'].trim();
  try {
    return defaultImage('router');
  } catch {
    return undefined;
  }
}

function artifactLine(outcome: UploadOutcome | undefined, why: string, dir: string | undefined): string {
  if (!outcome) return why;
  if (outcome.uploaded) return `Diagnostics uploaded as artifact \`${outcome.name}\`.`;
  const reason = outcome.reason.trim().replace(/([^.])$/, '$1.');
  return `Diagnostics were not uploaded as artifact \`${outcome.name}\`: ${reason}${dir ? ` The folder was on the runner at \`${dir}\`.` : ''}`;
}

async function writeJobSummary(topologyId: string, nodes: NodeReport[] | undefined, line: string): Promise<void> {
  core.summary.addHeading(`nat-net ${topologyId} at the end of the job`, 3);
  if (nodes && nodes.length > 0) core.summary.addRaw(markdownTable(nodeRows(nodes)), true);
  await core.summary.addRaw(`\n${line}`, true).write();
}

export async function teardownWithDiagnostics(ctx: PostContext): Promise<DownResult> {
  const { engine, topologyId, inputs, env } = ctx;
  const options = optionsOrDefaults(inputs);
  const status = parseJobStatus(inputs['job-status']);
  const failed = jobFailed(status, ctx.mainFailed);
  const upload = shouldUpload(options.upload, failed);
  const name = artifactNameFor(options, { job: env.GITHUB_JOB, name: inputs.name?.trim() || 'default', matrix: inputs.matrix, runAttempt: env.GITHUB_RUN_ATTEMPT });
  core.info(
    `nat-net: job status ${status}${ctx.mainFailed ? ' (main failed)' : ''}, upload: ${options.upload}: ` +
      (upload ? `collecting diagnostics for artifact ${name}` : failed ? 'collecting diagnostics into a folder, no upload' : 'no diagnostics needed'),
  );

  let diagnostics: DiagnosticsResult | undefined;
  const dir = diagnosticsDir(topologyId, env);
  if (upload || failed) {
    try {
      diagnostics = await collectDiagnostics(engine, {
        topologyId,
        dir,
        record: ctx.record,
        planned: ctx.planned,
        inputs,
        helperImage: helperImageFallback(inputs),
        log: (l) => core.info(`nat-net: ${l}`),
      });
      if (diagnostics.errors.length > 0) core.info(`nat-net: ${diagnostics.errors.length} items could not be collected (see errors.txt)`);
    } catch (error) {
      core.warning(`nat-net: diagnostics could not be collected into ${dir}: ${(error as Error).message}`);
    }
  }
  const nodes = diagnostics?.nodes ?? (await quickReports(engine, topologyId, ctx.record, ctx.planned).catch(() => undefined));

  const [uploaded, removed] = await Promise.allSettled([
    upload && diagnostics ? uploadFolder(dir, name, options.retentionDays, env) : Promise.resolve(undefined),
    ctx.teardown(),
  ]);
  const outcome = uploaded.status === 'fulfilled' ? uploaded.value : { uploaded: false as const, name, reason: String(uploaded.reason) };

  if (outcome?.uploaded) {
    core.info(`nat-net: diagnostics uploaded as artifact ${outcome.name} (id ${outcome.id}, ${outcome.size} bytes)`);
  } else if (outcome) {
    core.warning(`nat-net: diagnostics were not uploaded as artifact '${outcome.name}': ${outcome.reason.trim().replace(/\.$/, '')}. The folder is on the runner at ${dir} (the runner empties its temp folder when the job ends; summary.md follows in the log)`);
  } else if (diagnostics) {
    core.info(`nat-net: diagnostics are on the runner at ${dir} (upload: ${options.upload})`);
  }
  if (diagnostics && !outcome?.uploaded) {
    // The log is then the only copy a developer sees: put the summary there.
    core.startGroup(`nat-net diagnostics summary (${dir}/summary.md)`);
    core.info(readFileSync(join(dir, 'summary.md'), 'utf8'));
    core.endGroup();
  }

  const why = !diagnostics
    ? upload || failed
      ? 'Diagnostics could not be collected (see the log).'
      : `The job succeeded and \`upload\` is \`${options.upload}\`: no diagnostics were collected (the artifact would be named \`${name}\`).`
    : `Diagnostics are in \`${dir}\` on the runner (\`upload: ${options.upload}\`).`;
  await writeJobSummary(topologyId, nodes, artifactLine(outcome, why, diagnostics ? dir : undefined)).catch((error: Error) =>
    core.warning(`nat-net: job summary not written: ${error.message}`),
  );

  if (removed.status === 'rejected') throw removed.reason;
  return removed.value;
}
