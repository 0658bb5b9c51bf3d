/** The action's inputs, in one place: action.yml declares the same names. */
import * as core from '@actions/core';
import type { RawInputs } from '../spec/parse.js';

export const INPUT_NAMES = [
  'name',
  'gateways',
  'peers',
  'binary',
  'profile',
  'command',
  'ws-port',
  'network-port',
  'router-image',
  'peer-image',
  'ready-timeout',
  'ready-log',
  'subnet-pool',
  'nat',
  'groups',
  'hairpin',
  'udp-timeout',
  'topology-file',
  'log-level',
  'env',
  // Network emulation (src/emulation/spec.ts).
  'emulation',
  'delay-ms',
  'jitter-ms',
  'loss-percent',
  'loss-correlation',
  'rate',
] as const;

/** Diagnostics and upload (src/diagnostics): read by main to validate, and by post to act. */
export const DIAGNOSTICS_INPUT_NAMES = ['upload', 'artifact-name', 'artifact-retention-days', 'job-status', 'matrix'] as const;

export function readDiagnosticsInputs(): Record<string, string> {
  return Object.fromEntries(DIAGNOSTICS_INPUT_NAMES.map((name) => [name, core.getInput(name)]));
}

/**
 * Every input as the runner resolved it for this stage (defaults filled in, expressions
 * evaluated): its INPUT_* variables, so inputs added later are included. inputs.json
 * records these, secrets masked.
 */
export function readAllInputs(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('INPUT_') && value !== undefined) inputs[key.slice('INPUT_'.length).toLowerCase()] = value;
  }
  for (const name of [...INPUT_NAMES, ...DIAGNOSTICS_INPUT_NAMES]) inputs[name] ??= core.getInput(name);
  return Object.fromEntries(Object.entries(inputs).sort(([a], [b]) => a.localeCompare(b)));
}

export function readInputs(): RawInputs {
  return Object.fromEntries(INPUT_NAMES.map((name) => [name, core.getInput(name)]));
}
