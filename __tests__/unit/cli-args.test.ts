import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs } from '../../src/cli/args.js';
import { runCli } from '../../src/cli/main.js';

describe('parseArgs', () => {
  it('command, positionals and both flag spellings', () => {
    assert.deepEqual(parseArgs(['up', '--peers', '3', '--name=ci', '--binary', './x']), {
      command: 'up',
      positional: [],
      flags: { peers: '3', name: 'ci', binary: './x' },
    });
    assert.deepEqual(parseArgs(['down', 'ci-abc123']), { command: 'down', positional: ['ci-abc123'], flags: {} });
    assert.deepEqual(parseArgs([]), { command: undefined, positional: [], flags: {} });
  });

  it('a value may contain spaces, = and leading dashes after =', () => {
    const { flags } = parseArgs(['up', '--command', '{binary} --port {network_port}', '--env=A=1', '--ready-log=--ready--']);
    assert.equal(flags.command, '{binary} --port {network_port}');
    assert.equal(flags.env, 'A=1');
    assert.equal(flags['ready-log'], '--ready--');
  });

  it('an empty value after = is kept as empty (the input default applies)', () => {
    assert.deepEqual(parseArgs(['up', '--peers=']).flags, { peers: '' });
  });

  it('boolean flags stand alone, or take an explicit true/false', () => {
    assert.deepEqual(parseArgs(['ls', '--json']).flags, { json: 'true' });
    assert.deepEqual(parseArgs(['up', '--hairpin', '--peers', '2']).flags, { hairpin: 'true', peers: '2' });
    assert.deepEqual(parseArgs(['up', '--hairpin', 'false']).flags, { hairpin: 'false' });
    assert.deepEqual(parseArgs(['up', '--keep-on-failure', 'yes']).flags, { 'keep-on-failure': 'yes' });
    // A boolean flag does not swallow a positional.
    assert.deepEqual(parseArgs(['--json', 'ls']), { command: 'ls', positional: [], flags: { json: 'true' } });
    assert.deepEqual(parseArgs(['down', '--yes', 'ci-1']), { command: 'down', positional: ['ci-1'], flags: { yes: 'true' } });
  });

  it('-h and --help ask for help', () => {
    assert.equal(parseArgs(['-h']).flags.help, 'true');
    assert.equal(parseArgs(['up', '--help']).flags.help, 'true');
  });

  it('a value flag at the end names the flag that needs a value', () => {
    assert.throws(() => parseArgs(['up', '--peers']), /option --peers needs a value/);
  });
});

describe('runCli without an engine', () => {
  const run = async (argv: string[]) => {
    let out = '';
    let err = '';
    const code = await runCli(argv, (s) => (out += s), (s) => (err += s));
    return { code, out, err };
  };

  it('no command: usage on stdout, exit 2', async () => {
    const r = await run([]);
    assert.equal(r.code, 2);
    assert.match(r.out, /nat-net up --binary PATH/);
  });

  it('--help: usage, exit 0', async () => {
    const r = await run(['up', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /nat-net down TOPOLOGY/);
  });

  it('a bad input exits 2 naming the input, before touching the engine', async () => {
    // DOCKER_HOST is not consulted: the spec is checked first.
    const r = await run(['up', '--peers', 'abc', '--binary', '/nonexistent']);
    assert.equal(r.code, 2);
    assert.match(r.err, /input 'peers': 'abc' is not a whole number/);
    assert.equal(r.out, '');
  });

  it('a missing flag value exits 2', async () => {
    const r = await run(['up', '--peers']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--peers needs a value/);
  });

  it('an unknown command exits 2 and lists the commands', async () => {
    const r = await run(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown command 'frobnicate'; commands: up, down, ls/);
  });
});
