/** The README stays true to action.yml and to the inputs the code reads. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { INPUT_NAMES } from '../../src/action/inputs.js';

const actionYml = readFileSync('action.yml', 'utf8');
const readme = readFileSync('README.md', 'utf8');
const manifest = parse(actionYml) as { inputs: Record<string, unknown>; outputs: Record<string, unknown>; runs: Record<string, string> };

test('the README inputs table is the one action.yml gives', async () => {
  // @ts-expect-error plain .mjs helper without types
  const { inputsTable, START, END } = await import('../../../scripts/readme-inputs.mjs');
  const between = readme.slice(readme.indexOf(START) + START.length, readme.indexOf(END)).trim();
  assert.equal(between, inputsTable(actionYml), 'run: node scripts/readme-inputs.mjs');
});

test('every input the action reads is declared in action.yml', () => {
  for (const name of INPUT_NAMES) assert.ok(name in manifest.inputs, `action.yml lacks input '${name}'`);
});

test('every output in action.yml is documented in the README', () => {
  for (const name of Object.keys(manifest.outputs)) assert.match(readme, new RegExp(`\`${name}\``), `README lacks output '${name}'`);
});

test('action.yml runs node24 with a post step that always runs', () => {
  assert.equal(manifest.runs.using, 'node24');
  assert.equal(manifest.runs['post-if'], 'always()');
  assert.equal(manifest.runs.main, manifest.runs.post);
});
