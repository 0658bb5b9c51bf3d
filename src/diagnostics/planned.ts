/**
 * What main planned, saved before anything is created: when bring-up fails half-way
 * there is no record, and post's diagnostics still want each node's role, NAT
 * behaviour and addresses. Only the views are written: no keys, files, env or argv.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Plan } from '../plan/types.js';
import { viewsFromPlan, type NodeView } from './views.js';

/** Writes <RUNNER_TEMP>/nat-net/<topology>/planned.json; returns its path, or '' when it could not be written. */
export function savePlannedViews(plan: Plan, env: NodeJS.ProcessEnv = process.env): string {
  try {
    const dir = join(env.RUNNER_TEMP || tmpdir(), 'nat-net', plan.topologyId);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'planned.json');
    writeFileSync(file, `${JSON.stringify(viewsFromPlan(plan), null, 2)}\n`);
    return file;
  } catch {
    return '';
  }
}

export function readPlannedViews(file: string | undefined): NodeView[] | undefined {
  if (!file || !existsSync(file)) return undefined;
  try {
    const views = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return Array.isArray(views) ? (views as NodeView[]) : undefined;
  } catch {
    return undefined;
  }
}
