// Writes the README's inputs table from action.yml (between the inputs markers), so
// the two can't drift apart; __tests__/unit/docs.test.ts checks they agree.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';

export function inputsTable(actionYml) {
  const { inputs } = parse(actionYml);
  const rows = Object.entries(inputs).map(([name, spec]) => {
    const def = spec.required ? '(required)' : spec.default === '' || spec.default === undefined ? '' : `\`${spec.default}\``;
    return `| \`${name}\` | ${def} | ${String(spec.description).replace(/\|/g, '\\|').replace(/\n/g, ' ').trim()} |`;
  });
  return ['| input | default | description |', '|---|---|---|', ...rows].join('\n');
}

export const START = '<!-- inputs:start (written by scripts/readme-inputs.mjs from action.yml) -->';
export const END = '<!-- inputs:end -->';

if (process.argv[1] && process.argv[1].endsWith('readme-inputs.mjs')) {
  const readme = readFileSync('README.md', 'utf8');
  const table = inputsTable(readFileSync('action.yml', 'utf8'));
  const i = readme.indexOf(START);
  const j = readme.indexOf(END);
  if (i < 0 || j < 0) throw new Error('README.md lacks the inputs markers');
  writeFileSync('README.md', `${readme.slice(0, i + START.length)}\n${table}\n${readme.slice(j)}`);
  console.log('README.md inputs table written');
}
