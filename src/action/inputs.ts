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
  'hairpin',
  'udp-timeout',
  'log-level',
  'env',
] as const;

export function readInputs(): RawInputs {
  return Object.fromEntries(INPUT_NAMES.map((name) => [name, core.getInput(name)]));
}
