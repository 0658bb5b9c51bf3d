/**
 * Bad input, table-driven, through the built CLI (`nat-net up`) and, for a handful,
 * through the bundled action as the runner runs it. Every case must:
 * - fail with an error that names the input (`input '<name>': ...`) and a non-zero exit;
 * - create nothing: each run talks to the engine through a recording proxy of its own,
 *   so the test sees every request. Most cases must not reach the engine at all; the
 *   few that need it to find the problem (an image that is not there, a pool the
 *   engine's networks fill) may only read. Labelled resources are also counted;
 * - never reach a shell: shell metacharacters in every string input would create a
 *   marker file if any shell ran them; the marker folder stays empty.
 * Where metacharacters are legitimate data (a generic command's arguments, env values,
 * a ready-log pattern, a binary's path), a real topology shows they arrive verbatim as
 * argv and env, and no shell on the host or in a container ever ran them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { down, listTopologies } from '../../src/core/down.js';
import type { TopologyRecord } from '../../src/core/record.js';
import { inspectContainer } from '../../src/engine/resources.js';
import { LABEL, toolFilter, topologyFilter } from '../../src/plan/labels.js';
import { contains, parseCidr } from '../../src/plan/subnets.js';
import { InputError } from '../../src/spec/errors.js';
import { parseSpec, type RawInputs } from '../../src/spec/parse.js';
import { runNatNet, type CliResult } from '../fixtures/fake-docker-cli.js';
import { startEngineProxy } from '../fixtures/fake-docker.js';
import { FakeRunner } from './runner.js';
import { engine, labelledResources, TEST_PEER, UDP_PROBE } from './support.js';

const RUN = randomBytes(3).toString('hex');
/** Every topology name this test uses starts so: resources by these names can only be ours. */
const OUR_NAME = `bi-${RUN}`;
const work = mkdtempSync(join(tmpdir(), 'nat-net-bad-input-'));
/** A shell that ran any payload would create a file in here. */
const markers = mkdtempSync(join(tmpdir(), 'nat-net-pwned-'));
let markerCount = 0;
const marker = () => join(markers, `m${++markerCount}`);
const payloads = (): string[] => [
  `$(touch ${marker()})`,
  `\`touch ${marker()}\``,
  `x; touch ${marker()}`,
  `x | touch ${marker()}`,
  `x && touch ${marker()}`,
  `x\ntouch ${marker()}`,
];

const binary = join(work, 'peer');
const files = {
  notExecutable: join(work, 'not-executable'),
  directory: join(work, 'a-directory'),
  yamlBroken: join(work, 'broken.yaml'),
  jsonBroken: join(work, 'broken.json'),
  unknownKey: join(work, 'unknown-key.yaml'),
  negativePeers: join(work, 'negative-peers.yaml'),
  bogusNat: join(work, 'bogus-nat.yaml'),
  aList: join(work, 'a-list.yaml'),
};

interface Case {
  title: string;
  flags: RawInputs;
  /** The input the error must name. */
  input: string;
  /** More the message must say. */
  says?: RegExp;
  /** The problem can only be seen by asking the engine (reads only). */
  engine?: boolean;
  /** Only when parseSpec knows this input (another part of the project adds it). */
  needs?: 'emulation' | 'topology-file';
}

const cases: Case[] = [];
const add = (input: string, title: string, flags: RawInputs, more: Partial<Case> = {}) => cases.push({ title, flags, input, ...more });

/** The engine's own networks, so a pool that they fill can be chosen. */
let takenPool: string | undefined;
const features = { emulation: false, 'topology-file': false };

/** Whether parseSpec reads `input`: a value it can't accept must give an InputError naming it. */
function knows(input: string, bad: string): boolean {
  try {
    parseSpec({ binary, [input]: bad }, { cwd: work, env: {} });
    return false;
  } catch (error) {
    return error instanceof InputError && error.input === input;
  }
}

function buildCases(): void {
  // Numbers out of range, or not numbers.
  add('gateways', 'gateways 0', { gateways: '0' }, { says: /out of range; allowed: 1 to 64/ });
  add('gateways', 'gateways 65', { gateways: '65' }, { says: /out of range/ });
  add('gateways', 'gateways two', { gateways: 'two' }, { says: /not a whole number/ });
  add('gateways', 'gateways 1.5', { gateways: '1.5' }, { says: /not a whole number/ });
  add('peers', 'peers 1001', { peers: '1001' }, { says: /out of range; allowed: 0 to 1000/ });
  add('peers', 'peers -3', { peers: '-3' }, { says: /not a whole number/ });
  add('peers', 'peers 1e2', { peers: '1e2' }, { says: /not a whole number/ });
  add('ws-port', 'ws-port 0', { 'ws-port': '0' }, { says: /out of range; allowed: 1 to 65535/ });
  add('ws-port', 'ws-port 65536', { 'ws-port': '65536' }, { says: /out of range/ });
  add('ws-port', 'ws-port http', { 'ws-port': 'http' }, { says: /not a whole number/ });
  add('network-port', 'network-port 70000', { 'network-port': '70000' }, { says: /out of range/ });
  add('network-port', 'network-port 0x50', { 'network-port': '0x50' }, { says: /not a whole number/ });
  add('ws-port', 'network-port equal to ws-port', { 'network-port': '9000' }, { says: /must differ from network-port/ });
  add('ready-timeout', 'ready-timeout 0', { 'ready-timeout': '0' }, { says: /out of range; allowed: 1 to 3600/ });
  add('ready-timeout', 'ready-timeout 3601', { 'ready-timeout': '3601' }, { says: /out of range/ });
  add('ready-timeout', 'ready-timeout 2m', { 'ready-timeout': '2m' }, { says: /not a whole number/ });
  add('udp-timeout', 'udp-timeout 0', { 'udp-timeout': '0' }, { says: /out of range; allowed: 1 to 86400/ });
  add('udp-timeout', 'udp-timeout 86401', { 'udp-timeout': '86401' }, { says: /out of range/ });
  add('udp-timeout', 'udp-timeout 30s', { 'udp-timeout': '30s' }, { says: /not a whole number/ });
  add('hairpin', 'hairpin maybe', { hairpin: 'maybe' }, { says: /not a boolean/ });
  // Unknown behaviours and profiles.
  add('nat', 'nat cone', { nat: 'cone' }, { says: /'cone' is not allowed; allowed: full-cone, / });
  add('nat', 'nat list with an unknown item', { peers: '2', nat: 'symmetric,bogus' }, { says: /'bogus' is not allowed/ });
  add('nat', 'nat list longer than the peers', { peers: '2', nat: 'symmetric,none,full-cone' }, { says: /lists 3 behaviours for 2 peers/ });
  add('profile', 'profile libp2p', { profile: 'libp2p' }, { says: /allowed: freenet, generic/ });
  add('profile', 'profile in capitals', { profile: 'FREENET' }, { says: /allowed: freenet, generic/ });
  // Subnet pools.
  add('subnet-pool', 'subnet-pool without a prefix', { 'subnet-pool': '10.200.0.0' }, { says: /not an IPv4 CIDR/ });
  add('subnet-pool', 'subnet-pool with host bits', { 'subnet-pool': '10.200.0.1/16' }, { says: /host bits set; did you mean 10\.200\.0\.0\/16/ });
  add('subnet-pool', 'subnet-pool too small (/24)', { 'subnet-pool': '10.200.0.0/24' }, { says: /too small; give a \/22 or larger/ });
  add('subnet-pool', 'subnet-pool with an octet over 255', { 'subnet-pool': '300.1.0.0/16' }, { says: /not an IPv4 address/ });
  add('subnet-pool', 'subnet-pool in public address space', { 'subnet-pool': '8.8.0.0/16' }, { says: /not private address space/ });
  add('subnet-pool', 'subnet-pool of all addresses', { 'subnet-pool': '0.0.0.0/0' }, { says: /not private address space/ });
  add('subnet-pool', 'subnet-pool IPv6', { 'subnet-pool': 'fd00::/64' }, { says: /not an IPv4 CIDR/ });
  add('subnet-pool', 'subnet-pool too small for the topology', { 'subnet-pool': '10.250.0.0/22', peers: '20' }, { says: /does not fit in the pool/, engine: true });
  if (takenPool) add('subnet-pool', `subnet-pool ${takenPool}, which the engine's networks fill`, { 'subnet-pool': takenPool }, { says: /no free \/\d+ left in the pool/, engine: true });
  // Binaries.
  add('binary', 'binary missing', { binary: join(work, 'no-such-peer') }, { says: /does not exist/ });
  add('binary', 'binary not executable', { binary: files.notExecutable }, { says: /not executable; run chmod \+x/ });
  add('binary', 'binary a directory', { binary: files.directory }, { says: /not a regular file/ });
  add('binary', 'binary empty', { binary: '' }, { says: /is required/ });
  // Names.
  add('name', 'name with capitals and _', { name: 'My_Topology' }, { says: /use 1 to 24 of a-z, 0-9 and -/ });
  add('name', 'name starting with -', { name: '-lead' });
  add('name', 'name of 25 characters', { name: 'a'.repeat(25) });
  add('name', 'name with a dot', { name: 'a.b' });
  add('name', 'name with a slash', { name: 'a/b' });
  add('name', 'name not ASCII', { name: 'ünïcode' });
  // Generic command templates.
  add('command', 'unknown placeholder', { profile: 'generic', command: '{binary} --port {nope}' }, { says: /unknown placeholder \{nope\}; allowed: \{binary\}/ });
  add('command', 'unclosed double quote', { profile: 'generic', command: '{binary} "--flag' }, { says: /unclosed " quote/ });
  add('command', 'unclosed single quote', { profile: 'generic', command: "{binary} '--flag" }, { says: /unclosed ' quote/ });
  add('command', 'unmatched brace', { profile: 'generic', command: '{binary} {ws_port' }, { says: /unmatched '\{'/ });
  add('command', 'empty program', { profile: 'generic', command: '"" {binary}' }, { says: /first word \(the program\) is empty/ });
  add('command', 'generic profile without a command', { profile: 'generic' }, { says: /is required with profile 'generic'/ });
  add('command', 'a command with the freenet profile', { command: '{binary}' }, { says: /only the generic profile takes a command/ });
  // Images.
  add('router-image', 'router-image not a reference', { 'router-image': 'UPPER:1' }, { says: /not a Docker image reference/ });
  add('peer-image', 'peer-image with a space', { 'peer-image': 'bad image' }, { says: /not a Docker image reference/ });
  add('peer-image', 'peer-image not on the engine', { 'peer-image': `nat-net-no-such-image:${RUN}` }, { says: /is not on the Docker engine/, engine: true });
  add('router-image', 'router-image not on the engine', { 'router-image': `nat-net-no-such-image:${RUN}` }, { says: /is not on the Docker engine/, engine: true });
  // Environment, patterns, log level.
  add('env', 'env line without =', { env: 'NOEQUALS' }, { says: /not a KEY=VALUE line/ });
  add('env', 'env key starting with a digit', { env: '1X=2' }, { says: /not a KEY=VALUE line/ });
  add('env', 'env turning Freenet telemetry on', { env: 'FREENET_TELEMETRY_ENABLED=true' }, { says: /must stay false/, engine: true });
  add('ready-log', 'ready-log not a regular expression', { 'ready-log': '(' }, { says: /not a valid regular expression/ });
  add('log-level', 'log-level with a space', { 'log-level': 'debug info' }, { says: /not a RUST_LOG filter/ });
  // Emulation presets and values.
  add('emulation', 'emulation preset unknown', { emulation: 'satellite-ish' }, { says: /not an emulation; allowed: none, /, needs: 'emulation' });
  add('delay-ms', 'delay-ms not a number', { emulation: 'custom', 'delay-ms': 'abc' }, { says: /not a whole number/, needs: 'emulation' });
  add('loss-percent', 'loss-percent over 100', { emulation: 'custom', 'loss-percent': '101' }, { says: /out of range/, needs: 'emulation' });
  add('rate', 'rate without a unit we know', { emulation: 'custom', rate: '10 parsecs' }, { says: /not a rate/, needs: 'emulation' });
  add('jitter-ms', 'jitter above the delay', { emulation: 'custom', 'delay-ms': '10', 'jitter-ms': '20' }, { says: /jitter 20 ms is more than the delay/, needs: 'emulation' });
  // Topology files.
  add('topology-file', 'topology-file missing', { 'topology-file': join(work, 'no-such.yaml') }, { needs: 'topology-file' });
  add('topology-file', 'topology-file a directory', { 'topology-file': files.directory }, { needs: 'topology-file' });
  add('topology-file', 'topology-file with broken YAML', { 'topology-file': files.yamlBroken }, { needs: 'topology-file' });
  add('topology-file', 'topology-file with broken JSON', { 'topology-file': files.jsonBroken }, { needs: 'topology-file' });
  add('topology-file', 'topology-file with an unknown key', { 'topology-file': files.unknownKey }, { needs: 'topology-file' });
  add('topology-file', 'topology-file with peers -1', { 'topology-file': files.negativePeers }, { needs: 'topology-file' });
  add('topology-file', 'topology-file with an unknown nat', { 'topology-file': files.bogusNat }, { needs: 'topology-file' });
  add('topology-file', 'topology-file that is a list', { 'topology-file': files.aList }, { needs: 'topology-file' });

  // Shell metacharacters in every string input where they are not valid.
  const meta: [string, RawInputs?][] = [
    ['name'],
    ['gateways'],
    ['peers'],
    ['binary'],
    ['profile'],
    ['ws-port'],
    ['network-port'],
    ['router-image'],
    ['peer-image'],
    ['ready-timeout'],
    ['subnet-pool'],
    ['nat'],
    ['hairpin'],
    ['udp-timeout'],
    ['log-level'],
    ['env'],
    ['ready-log', { 'ready-log': '(' }], // a pattern may hold these characters; broken here so the case fails
    ['command'], // with the freenet profile no command is allowed
    ['emulation'],
    ['delay-ms', { emulation: 'custom' }],
    ['rate', { emulation: 'custom' }],
    ['topology-file'],
  ];
  for (const [input, extra] of meta) {
    const needs = ['emulation', 'delay-ms', 'rate'].includes(input) ? 'emulation' : input === 'topology-file' ? 'topology-file' : undefined;
    // Through the CLI: one value holding every payload (each payload alone is checked by parseSpec below).
    const value = `${payloads().join(' ')}${input === 'ready-log' ? '(' : ''}`;
    add(input, `${input} with every shell metacharacter`, { ...extra, [input]: value }, { needs });
    for (const payload of payloads()) {
      metaCases.push({ title: `${input} = ${JSON.stringify(payload)}`, flags: { ...extra, [input]: input === 'ready-log' ? `${payload}(` : payload }, input, needs });
    }
  }
}

/** Each payload alone in each input: checked in this process by parseSpec, the pure step that comes first. */
const metaCases: Case[] = [];

const childPids: number[] = [];
let resourcesBefore: Set<string>;

/** Ids of every resource carrying nat-net's tool label, with the labels that say whose it is. */
async function toolResources(): Promise<Map<string, Record<string, string>>> {
  const e = await engine();
  const filters = JSON.stringify(toolFilter());
  const [c, n, v] = await Promise.all([
    e.call('list containers', () => e.docker.listContainers({ all: true, filters })),
    e.call('list networks', () => e.docker.listNetworks({ filters })),
    e.call('list volumes', () => e.docker.listVolumes({ filters })),
  ]);
  return new Map<string, Record<string, string>>([
    ...c.map((x) => [`container ${x.Id}`, x.Labels ?? {}] as const),
    ...n.map((x) => [`network ${x.Id}`, x.Labels ?? {}] as const),
    ...(v.Volumes ?? []).map((x) => [`volume ${x.Name}`, x.Labels ?? {}] as const),
  ]);
}

/** A resource is ours if it carries one of our names or was made by one of our CLI processes. */
function ours(labels: Record<string, string>): boolean {
  if ((labels[LABEL.name] ?? '').startsWith(OUR_NAME)) return true;
  try {
    const owner = JSON.parse(labels[LABEL.owner] ?? '{}') as { pid?: number };
    return owner.pid !== undefined && childPids.includes(owner.pid);
  } catch {
    return false;
  }
}

/** Removes topologies this test made by mistake (a case that was wrongly accepted): only ours, by our unique name. */
async function removeOurs(): Promise<void> {
  const e = await engine();
  for (const t of await listTopologies(e)) if (t.name.startsWith(OUR_NAME)) await down(e, t.topologyId);
}

before(async () => {
  copyFileSync(TEST_PEER, binary);
  chmodSync(binary, 0o755);
  writeFileSync(files.notExecutable, '#!/bin/sh\n');
  chmodSync(files.notExecutable, 0o644);
  mkdirSync(files.directory);
  writeFileSync(files.yamlBroken, 'peers:\n  - nat: full-cone\n   group: [unclosed\n');
  writeFileSync(files.jsonBroken, '{"peers": [ {"nat": "full-cone"}, ]');
  writeFileSync(files.unknownKey, 'peers: 2\nrouters: 3\n');
  writeFileSync(files.negativePeers, 'peers: -1\n');
  writeFileSync(files.bogusNat, 'peers:\n  - nat: cgnat-ish\n');
  writeFileSync(files.aList, '- peers: 2\n');
  features.emulation = knows('emulation', 'no-such-preset');
  features['topology-file'] = knows('topology-file', join(work, 'no-such.yaml'));

  // A pool the engine's networks fill: Docker's default bridge network, when it is private and /22 or larger
  // (not another topology's network, which could be removed while the case runs).
  const e = await engine();
  const networks = (await e.call('list networks', () => e.docker.listNetworks())).filter((n) => n.Name === 'bridge');
  const privateRanges = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].map(parseCidr);
  for (const n of networks) {
    for (const config of n.IPAM?.Config ?? []) {
      const subnet = (config as { Subnet?: string }).Subnet;
      if (!subnet || !/^[\d.]+\/\d+$/.test(subnet)) continue;
      try {
        const cidr = parseCidr(subnet);
        if (cidr.prefix <= 22 && privateRanges.some((r) => contains(r, cidr.base))) takenPool ??= subnet;
      } catch {
        /* host bits set: not usable as a pool as it is */
      }
    }
  }
  buildCases();
  resourcesBefore = new Set((await toolResources()).keys());
});

after(async () => {
  await removeOurs();
  rmSync(work, { recursive: true, force: true });
  rmSync(markers, { recursive: true, force: true });
});

interface Outcome {
  result: CliResult;
  requests: string[];
  connections: number;
}

/** One case through the CLI, against the real engine behind a recording proxy of its own. */
async function runCase(c: Case): Promise<Outcome> {
  const p = await startEngineProxy('unix');
  try {
    const flags: RawInputs = { binary, name: OUR_NAME, peers: '1', 'ready-timeout': '30', ...c.flags };
    // --flag=value: a value that starts with - or is a bare word after a boolean flag stays the flag's value.
    const args = ['up', ...Object.entries(flags).map(([k, v]) => `--${k}=${v ?? ''}`)];
    const result = await runNatNet(args, { env: { DOCKER_HOST: p.dockerHost }, cwd: work, killAfterMs: 120_000 });
    if (result.pid) childPids.push(result.pid);
    return { result, requests: [...p.requests], connections: p.connections() };
  } finally {
    await p.close();
  }
}

function checkOutcome(c: Case, { result, requests, connections }: Outcome): void {
  const where = `${c.title}: exit ${result.code}\n${result.stderr}${result.stdout}`;
  assert.equal(result.signal, null, where);
  assert.notEqual(result.code, 0, where);
  // Cases that ask the engine may log progress first; the others print the error alone.
  const named = c.engine ? new RegExp(`^nat-net: input '${c.input}': `, 'm').test(result.stderr) : result.stderr.startsWith(`nat-net: input '${c.input}': `);
  assert.ok(named, `${where}\n(the error must name input '${c.input}')`);
  if (c.says) assert.match(result.stderr, c.says, where);
  assert.equal(result.stdout, '', `${c.title}: no record printed`);
  if (c.engine) {
    const writes = requests.filter((r) => !/^(GET|HEAD) /.test(r));
    assert.deepEqual(writes, [], `${c.title}: the engine was only read`);
  } else {
    assert.equal(connections, 0, `${c.title}: the engine was not even asked (${requests.join(', ')})`);
  }
}

describe('bad input is refused before anything exists', () => {
  it('at least 30 cases through the CLI: each names its input, exits non-zero, creates nothing, runs no shell', async (t) => {
    const run = cases.filter((c) => !c.needs || features[c.needs]);
    const skipped = cases.length - run.length;
    t.diagnostic(`${run.length} cases${skipped ? `; ${skipped} skipped because parseSpec does not know ${Object.entries(features).filter(([, on]) => !on).map(([f]) => f).join(', ')}` : ''}`);
    assert.ok(run.length >= 30, `only ${run.length} cases`);
    // A few at a time: none of them creates anything, and each has its own proxy.
    const failures: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let c = run[next++]; c; c = run[next++]) {
          const outcome = await runCase(c);
          try {
            checkOutcome(c, outcome);
          } catch (error) {
            failures.push((error as Error).message);
          }
        }
      }),
    );
    assert.deepEqual(failures, []);
    assert.deepEqual(readdirSync(markers), [], 'a shell ran a payload');
    const after = await toolResources();
    const mine = [...after].filter(([id, labels]) => !resourcesBefore.has(id) && ours(labels));
    assert.deepEqual(mine, [], 'labelled resources made by these runs');
    const others = [...after.keys()].filter((id) => !resourcesBefore.has(id)).length;
    if (others > 0) t.diagnostic(`${others} labelled resources appeared meanwhile, none of them ours (other topologies on this engine)`);
  });

  it('each shell payload alone, in every string input: parseSpec refuses it naming the input, and no shell runs', (t) => {
    const run = metaCases.filter((c) => !c.needs || features[c.needs]);
    t.diagnostic(`${run.length} cases`);
    for (const c of run) {
      assert.throws(
        () => parseSpec({ binary, name: OUR_NAME, peers: '1', ...c.flags }, { cwd: work, env: {} }),
        (error: unknown) => error instanceof InputError && error.input === c.input,
        c.title,
      );
    }
    assert.deepEqual(readdirSync(markers), [], 'a shell ran a payload');
  });

  it('a handful through the bundled action: main fails naming the input, sets no output, asks the engine nothing; post has nothing to do', async () => {
    const actionCases: { inputs: Record<string, string>; input: string }[] = [
      { inputs: { name: `$(touch ${marker()})` }, input: 'name' },
      { inputs: { peers: `\`touch ${marker()}\`` }, input: 'peers' },
      { inputs: { nat: `full-cone; touch ${marker()}` }, input: 'nat' },
      { inputs: { 'subnet-pool': `10.0.0.0/8 && touch ${marker()}` }, input: 'subnet-pool' },
      { inputs: { gateways: `1\ntouch ${marker()}` }, input: 'gateways' },
      { inputs: { binary: `bin/missing | touch ${marker()}` }, input: 'binary' },
      { inputs: { profile: 'generic', command: '{binary} --port {nope}' }, input: 'command' },
      { inputs: { 'ws-port': '0' }, input: 'ws-port' },
    ];
    for (const { inputs, input } of actionCases) {
      const p = await startEngineProxy('unix');
      try {
        const runner = new FakeRunner({ binary: 'bin/nat-net-test-peer.cjs', peers: '1', name: OUR_NAME, ...inputs }, { DOCKER_HOST: p.dockerHost });
        const main = await runner.run('main', 120_000);
        const what = `${JSON.stringify(inputs)}:\n${main.stdout}${main.stderr}`;
        assert.notEqual(main.code, null, what);
        assert.notEqual(main.code, 0, what);
        assert.match(main.stdout, new RegExp(`^::error::nat-net main: input '${input}': `, 'm'), what);
        assert.equal(readFileSync(runner.files.output, 'utf8'), '', `GITHUB_OUTPUT is empty: ${what}`);
        assert.equal(readFileSync(runner.files.env, 'utf8'), '', `GITHUB_ENV is empty: ${what}`);
        assert.equal(runner.state()['topology-id'], undefined, 'no topology was named');
        const post = await runner.run('post', 120_000);
        assert.equal(post.code, 0, `post: ${post.stdout}${post.stderr}`);
        assert.equal(p.connections(), 0, `the engine was asked: ${p.requests.join(', ')}`);
        rmSync(dirname(runner.actionDir), { recursive: true, force: true });
      } finally {
        await p.close();
      }
    }
    assert.deepEqual(readdirSync(markers), [], 'a shell ran a payload');
  });
});

describe('where metacharacters are data, they stay data', () => {
  it('a generic command, env values, a ready-log pattern and a binary path full of them arrive verbatim; no shell runs them', async () => {
    const e = await engine();
    const token = `nat-net-pwned-${RUN}`;
    // Markers under /tmp: the same path exists on the host and in every container.
    const m = (k: number) => `/tmp/${token}-${k}`;
    const binaryDir = join(work, `$(touch ${m(0)})`, 'x;y|z&&w');
    mkdirSync(binaryDir, { recursive: true });
    const probe = join(binaryDir, '`touch probe`.cjs');
    copyFileSync(UDP_PROBE, probe);
    chmodSync(probe, 0o755);
    const command = [
      '{binary} --http {ws_port}',
      `'$(touch ${m(1)})'`,
      `"\`touch ${m(2)}\`"`,
      `'a; touch ${m(3)}'`,
      `'b | touch ${m(4)}'`,
      `'c && touch ${m(5)}'`,
      `'d\ntouch ${m(6)}'`,
      `$(touch ${m(7)})`,
      `;touch ${m(8)}`,
    ].join(' ');
    const env = `P1=$(touch ${m(9)})\nP2=\`touch ${m(10)}\`; x | y && z`;
    const readyLog = `udp-probe: http on|$(touch ${m(11)})`;
    const name = `${OUR_NAME}-data`;
    const up = await runNatNet(
      ['up', `--binary=${probe}`, '--profile=generic', `--command=${command}`, `--env=${env}`, `--ready-log=${readyLog}`, `--name=${name}`, '--peers=1', '--ready-timeout=90'],
      { env: { DOCKER_HOST: process.env.DOCKER_HOST }, cwd: work, killAfterMs: 240_000 },
    );
    let record: TopologyRecord | undefined;
    try {
      assert.equal(up.code, 0, up.stderr);
      record = JSON.parse(up.stdout.trim().split('\n').pop()!) as TopologyRecord;
      const expectedArgs = [
        '/nat-net/bin/peer-program',
        '--http',
        '9000',
        `$(touch ${m(1)})`,
        `\`touch ${m(2)}\``,
        `a; touch ${m(3)}`,
        `b | touch ${m(4)}`,
        `c && touch ${m(5)}`,
        `d\ntouch ${m(6)}`,
        '$(touch',
        `${m(7)})`,
        ';touch',
        m(8),
      ];
      const listed = await e.call('list containers', () => e.docker.listContainers({ all: true, filters: JSON.stringify(topologyFilter(record!.topologyId)) }));
      for (const c of listed) {
        const info = await inspectContainer(e, c.Id);
        const role = info.Config.Labels[LABEL.role];
        if (role === 'gateway' || role === 'peer') {
          // The launch wrapper passes the program's argv as positional parameters: after its script and $0.
          assert.deepEqual(info.Config.Cmd.slice(-expectedArgs.length), expectedArgs, `${info.Name} argv`);
          assert.ok(info.Config.Env.includes(`P1=$(touch ${m(9)})`), `${info.Name} env: ${info.Config.Env.join(' | ')}`);
          assert.ok(info.Config.Env.includes(`P2=\`touch ${m(10)}\`; x | y && z`), `${info.Name} env`);
          assert.equal(info.State.Running, true, `${info.Name} runs the program`);
        }
        // No shell in any container ran a payload: no marker exists there.
        for (let k = 0; k <= 11; k++) {
          const found = await e
            .call(`look for a marker in ${info.Name}`, () => e.docker.getContainer(c.Id).getArchive({ path: m(k) }))
            .then(
              () => true,
              (error: { statusCode?: number }) => {
                if (error.statusCode === 404) return false;
                throw error;
              },
            );
          assert.equal(found, false, `${info.Name} has ${m(k)}`);
        }
      }
      assert.equal(record.nodes.length, 2);
    } finally {
      const id = record?.topologyId;
      if (id) {
        const r = await runNatNet(['down', id], { env: { DOCKER_HOST: process.env.DOCKER_HOST }, killAfterMs: 120_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(await labelledResources(id), []);
      }
      await removeOurs();
    }
    for (let k = 0; k <= 11; k++) assert.equal(existsSync(m(k)), false, `the host has ${m(k)}`);
  });
});
