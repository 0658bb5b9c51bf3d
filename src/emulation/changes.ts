/**
 * The log of mid-test emulation changes (`nat-net impair`, `partition`, `heal`): JSON
 * lines beside the topology record, in the job's RUNNER_TEMP, where the post step's
 * diagnostics pick it up. A container label can't change after create, so the log
 * lives on the runner; the state in force lives in each shaped namespace itself.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { EmulationSettings } from './settings.js';

export type ChangeAction = 'impair' | 'partition' | 'heal';

export interface ChangeEntry {
  at: string;
  topologyId: string;
  node: string;
  action: ChangeAction;
  /** Where the change was applied, e.g. "router-0 public interface (10.200.1.10)". */
  appliedAt: string;
  /** Other nodes whose traffic leaves through the same interface, so changed too. */
  alsoAffects: string[];
  before: { settings: EmulationSettings; partitioned: boolean; description: string };
  after: { settings: EmulationSettings; partitioned: boolean; description: string };
  mechanisms: Record<string, string>;
  /** The command line that asked for it. */
  command: string;
}

/** RUNNER_TEMP/nat-net/<topology>/changes.jsonl (else /tmp/...): the same folder as the action's topology.json. */
export function changeLogPath(topologyId: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(env.RUNNER_TEMP || '/tmp', 'nat-net', topologyId, 'changes.jsonl');
}

export function appendChange(entry: ChangeEntry, env: NodeJS.ProcessEnv = process.env): string {
  const path = changeLogPath(entry.topologyId, env);
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${JSON.stringify(entry)}\n`);
  return path;
}
