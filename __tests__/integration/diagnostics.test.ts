/**
 * Diagnostics, proven on the real engine through the bundled action, run the way the
 * runner runs it (FakeRunner: a copy of the action with no node_modules, INPUT_* env,
 * the GITHUB_* files, saved state handed to post as STATE_*). Uploads go through the
 * real @actions/artifact code to a local stand-in of the artifact service (Twirp on
 * 127.0.0.1 + Azurite), and the test reads back the zip.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { down } from '../../src/core/down.js';
import type { TopologyRecord } from '../../src/core/record.js';
import { defaultArtifactName } from '../../src/diagnostics/options.js';
import { filesUnder } from '../../src/diagnostics/upload.js';
import { inspectContainer } from '../../src/engine/resources.js';
import { ArtifactService, readZip } from '../fixtures/artifact-service.js';
import { FakeRunner, type StepResult } from './runner.js';
import { engine, eventually, labelledResources, status } from './support.js';

const SECRET = 'hunter2-do-not-leak';
/** Long enough that the whole topology is ready first, even on a loaded 2-core machine. */
const EXIT_AFTER_MS = 20_000;

/** The largest packet counter of any rule (not policy) line of `iptables -nvxL` output. */
function maxRuleCounter(listing: string): number {
  let max = 0;
  for (const line of listing.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+\S+/.exec(line);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max;
}

function read(dir: string, file: string): string {
  return readFileSync(join(dir, file), 'utf8');
}

function relativeFiles(dir: string): string[] {
  return filesUnder(dir).map((f) => relative(dir, f)).sort();
}

function warningLine(step: StepResult): string {
  return step.stdout.split('\n').find((l) => l.startsWith('::warning::nat-net: diagnostics were not uploaded')) ?? '';
}

/** The bundled CLI from the runner's copy of the action (no node_modules). */
function runCliCopy(runner: FakeRunner, args: string[]): Promise<StepResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(runner.actionDir, 'dist/cli/index.js'), ...args], { cwd: runner.workspace, env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('post collects a complete folder before teardown: counters, conntrack, the dead peer in summary.md; no upload token -> warning, folder path, nothing left, exit 0', async () => {
  const e = await engine();
  // peer-1's program exits with an error (code 3) some time after the topology is up, as a
  // crashing peer would during a test step: the stand-in's own failure switch, given to that
  // one peer through the topology file's per-peer env.
  const runner = new FakeRunner(
    {
      binary: 'bin/nat-net-test-peer.cjs',
      gateways: '1',
      'topology-file': 'diag-topology.yaml',
      name: 'diag-dead',
      env: `NAT_NET_DIAG_SECRET=${SECRET}`,
      // As the runner evaluates ${{ job.status }} for post after the failed test step.
      'job-status': 'failure',
      matrix: 'null',
    },
    { GITHUB_JOB: 'diag-job', GITHUB_RUN_ATTEMPT: '1' },
  );
  writeFileSync(
    join(runner.workspace, 'diag-topology.yaml'),
    `peers:\n  - nat: port-restricted\n  - nat: port-restricted\n    env: { NAT_NET_TEST_PEER_EXIT_AFTER_MS: "${EXIT_AFTER_MS}" }\n`,
  );
  const main = await runner.run('main');
  const topologyId = runner.state()['topology-id'];
  try {
    assert.equal(main.code, 0, `main failed:\n${main.stdout}\n${main.stderr}`);
    const record = JSON.parse(runner.outputs().topology) as TopologyRecord;
    const node = (key: string) => record.nodes.find((n) => n.key === key)!;
    const router = (key: string) => record.routers.find((r) => r.key === key)!;
    const gateway = node('gateway-0');
    const peer0 = node('peer-0');

    // Real traffic first: the gateway has heard peer-0 through its router; then peer-1 dies.
    await eventually('the gateway to see peer-0', async () => {
      const s = await status<{ peers: { observed: string }[] }>(gateway.wsHostPort);
      return s.peers.some((p) => p.observed.startsWith(`${router('router-0').publicAddress}:`)) ? true : undefined;
    });
    const dead = await eventually(
      'peer-1 to exit',
      async () => {
        const info = await inspectContainer(e, node('peer-1').containerId);
        return info.State.Running ? undefined : info.State;
      },
      EXIT_AFTER_MS + 30_000,
    );
    assert.equal(dead.ExitCode, 3);

    // The CLI writes the same folder on demand, from another process, while it all still runs.
    const dumpDir = join(runner.temp, 'dump');
    const recordCopy = join(runner.temp, 'record.json');
    writeFileSync(recordCopy, runner.outputs().topology);
    const dump = await runCliCopy(runner, ['dump', topologyId, dumpDir, '--record', recordCopy]);
    assert.equal(dump.code, 0, `dump failed:\n${dump.stdout}\n${dump.stderr}`);
    assert.equal(dump.stdout.trim(), dumpDir);

    const post = await runner.run('post');
    assert.equal(post.code, 0, `post failed:\n${post.stdout}\n${post.stderr}`);
    assert.deepEqual(await labelledResources(topologyId), [], 'post removed everything');

    const dir = join(runner.temp, 'nat-net-diagnostics', topologyId);
    const name = defaultArtifactName({ job: 'diag-job', name: 'diag-dead', matrix: 'null', runAttempt: '1' });
    const warning = warningLine(post);
    assert.match(warning, new RegExp(`as artifact '${name}': ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL are not set`));
    assert.ok(warning.includes(`The folder is on the runner at ${dir}`), warning);

    // Every file, with real content.
    const files = relativeFiles(dir);
    for (const f of ['topology.json', 'inputs.json', 'summary.md', 'errors.txt']) assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
    for (const key of ['gateway-0', 'peer-0', 'peer-1', 'router-0', 'router-1']) {
      assert.ok(files.includes(`${key}/state.json`) && files.includes(`${key}/log.txt`), `${key}: state.json and log.txt`);
    }
    for (const key of ['gateway-0', 'peer-0', 'router-0', 'router-1']) {
      for (const f of ['ip-addr.txt', 'ip-route.txt', 'tc-qdisc.txt']) assert.ok(files.includes(`${key}/${f}`), `${key}/${f}`);
    }
    assert.ok(read(dir, 'gateway-0/ip-addr.txt').includes(`inet ${gateway.address}/`));
    assert.ok(read(dir, 'peer-0/ip-addr.txt').includes(`inet ${peer0.address}/`));
    assert.match(read(dir, 'peer-0/ip-route.txt'), new RegExp(`^default via ${router('router-0').privateAddress.replace(/\./g, '\\.')} `, 'm'));
    assert.match(read(dir, 'peer-0/tc-qdisc.txt'), /qdisc \S+ .*dev eth0/);
    assert.ok(!read(dir, 'gateway-0/ip-route.txt').includes('default'), 'gateways have no default route');

    const nat = read(dir, 'router-0/iptables-nat.txt');
    const filter = read(dir, 'router-0/iptables-filter.txt');
    assert.ok(maxRuleCounter(nat) > 0, `router-0 NAT rules counted packets:\n${nat}`);
    assert.ok(maxRuleCounter(filter) > 0, `router-0 filter rules counted packets:\n${filter}\nerrors.txt:\n${read(dir, 'errors.txt')}`);
    const conntrack = read(dir, 'router-0/conntrack-udp.txt');
    assert.match(
      conntrack,
      new RegExp(`src=${peer0.address} dst=${gateway.address} sport=\\d+ dport=31337 .*src=${gateway.address} dst=${router('router-0').publicAddress}`),
      `router-0's conntrack lists peer-0's flow to the gateway's network port:\n${conntrack}`,
    );
    assert.match(read(dir, 'router-0/ipset.txt'), /^Name: /m);
    assert.match(read(dir, 'router-0/conntrack-timeouts.txt'), /nf_conntrack_udp_timeout = \d+/);
    assert.match(read(dir, 'gateway-0/log.txt'), /^\d{4}-\d\d-\d\dT\S+Z .*nat-net-test-peer: listening on udp/m);

    // The dead peer: its exit code and its last words.
    const peer1State = JSON.parse(read(dir, 'peer-1/state.json')) as { state: { ExitCode: number; Running: boolean } };
    assert.equal(peer1State.state.ExitCode, 3);
    assert.equal(peer1State.state.Running, false);
    assert.ok(!files.includes('peer-1/ip-addr.txt'), 'a dead node has no namespace to read');
    assert.match(read(dir, 'errors.txt'), /^peer-1: not running \(exited, exit code 3\)/m);
    const summary = read(dir, 'summary.md');
    assert.match(summary, /\| peer-1 \| peer \| port-restricted \| [\d.]+ \| [\d.]+ \| \d+ \| [\d.]+ s \| exited with code 3 \|/);
    assert.match(summary, /\| router-0 \| router \| port-restricted \|.*\| running \|/);
    assert.match(summary, /### peer-1: exited with code 3/);
    assert.ok(summary.includes(`exiting on purpose after ${EXIT_AFTER_MS} ms (NAT_NET_TEST_PEER_EXIT_AFTER_MS)`), summary);

    // The record, the masked inputs, and no secret anywhere.
    assert.deepEqual(JSON.parse(read(dir, 'topology.json')), record);
    const inputs = JSON.parse(read(dir, 'inputs.json')) as Record<string, string>;
    assert.equal(inputs.env, 'NAT_NET_DIAG_SECRET=***');
    assert.equal(inputs.name, 'diag-dead');
    assert.equal(inputs['topology-file'], 'diag-topology.yaml');
    for (const f of files) assert.ok(!read(dir, f).includes(SECRET), `${f} leaks the env secret`);

    // The job summary: the node table with end states, and the artifact's name.
    const jobSummary = runner.summary();
    assert.match(jobSummary, /\| peer-1 \| peer \| port-restricted \|.*\| exited with code 3 \|/);
    assert.match(jobSummary, /\| gateway-0 \| gateway \| none \|.*\| running \|/);
    assert.ok(jobSummary.includes(`not uploaded as artifact \`${name}\``), jobSummary);

    // `nat-net dump` wrote the same files (but no inputs.json: the CLI has no action inputs).
    assert.deepEqual(relativeFiles(dumpDir), files.filter((f) => f !== 'inputs.json'));
    assert.match(read(dumpDir, 'summary.md'), /\| peer-1 \| peer \| port-restricted \|.*\| [\d.]+ s \| exited with code 3 \|/);
    assert.match(read(dumpDir, 'summary.md'), /### peer-1: exited with code 3/);
  } finally {
    if (topologyId) await down(e, topologyId);
  }
});

test('upload end to end: main + post of the bundled action put the folder into the stand-in artifact service; the zip holds every file', async () => {
  const service = await ArtifactService.start();
  const matrix = JSON.stringify({ preset: 'lan', os: 'ubuntu-24.04' });
  const runner = new FakeRunner(
    { binary: 'bin/nat-net-test-peer.cjs', peers: '1', name: 'diag-up', upload: 'always', 'artifact-retention-days': '5', 'job-status': 'success', matrix },
    { ...service.env(), GITHUB_JOB: 'diag-job', GITHUB_RUN_ATTEMPT: '2' },
  );
  let topologyId = '';
  try {
    const main = await runner.run('main');
    topologyId = runner.state()['topology-id'];
    assert.equal(main.code, 0, `main failed:\n${main.stdout}\n${main.stderr}`);
    const post = await runner.run('post');
    assert.equal(post.code, 0, `post failed:\n${post.stdout}\n${post.stderr}`);
    assert.deepEqual(await labelledResources(topologyId), []);

    const name = defaultArtifactName({ job: 'diag-job', name: 'diag-up', matrix, runAttempt: '2' });
    assert.match(name, /^nat-net-diag-job-diag-up-ubuntu-24\.04-lan-[0-9a-f]{8}-attempt2$/);
    assert.match(post.stdout, new RegExp(`diagnostics uploaded as artifact ${name} \\(id 1, \\d+ bytes\\)`));
    assert.ok(!post.stdout.includes('::warning::'), post.stdout);

    const create = service.calls.find((c) => c.method === 'CreateArtifact')!;
    assert.equal(create.body.name, name);
    assert.equal(create.body.version, 7);
    assert.equal(create.body.mime_type, 'application/zip');
    const days = (Date.parse(String(create.body.expires_at)) - Date.now()) / 86_400_000;
    assert.ok(days > 4.9 && days <= 5, `retention ${days} days`);

    const dir = join(runner.temp, 'nat-net-diagnostics', topologyId);
    const zip = readZip(await service.download(name));
    const local = relativeFiles(dir);
    assert.deepEqual([...zip.keys()].sort(), local, 'the artifact holds exactly the folder');
    for (const f of ['summary.md', 'topology.json', 'inputs.json', 'errors.txt', 'gateway-0/log.txt', 'peer-0/ip-route.txt', 'router-0/iptables-nat.txt', 'router-0/conntrack-udp.txt']) {
      assert.ok(zip.has(f), `${f} in the artifact`);
      assert.equal(zip.get(f)!.toString('utf8'), read(dir, f), `${f} uploaded as collected`);
    }
    assert.match(zip.get('summary.md')!.toString('utf8'), /\| peer-0 \| peer \| port-restricted \|.*\| running \|/);
    assert.ok(runner.summary().includes(`Diagnostics uploaded as artifact \`${name}\``), runner.summary());
  } finally {
    await service.stop();
    if (topologyId) await down(await engine(), topologyId);
  }
});

test('the artifact service refuses the upload (409, name taken): post warns with the folder path, removes everything, exits 0', async () => {
  const service = await ArtifactService.start({
    fail: { CreateArtifact: { status: 409, code: 'already_exists', msg: 'an artifact with this name already exists on the workflow run' } },
  });
  // No peers, so no router: the helper image for the gateway comes from the action's own default.
  const runner = new FakeRunner(
    { binary: 'bin/nat-net-test-peer.cjs', peers: '0', name: 'diag-409', upload: 'on-failure', 'job-status': 'failure', 'artifact-name': 'my diagnostics' },
    service.env(),
  );
  let topologyId = '';
  try {
    const main = await runner.run('main');
    topologyId = runner.state()['topology-id'];
    assert.equal(main.code, 0, `main failed:\n${main.stdout}\n${main.stderr}`);
    const post = await runner.run('post');
    assert.equal(post.code, 0, `post failed:\n${post.stdout}\n${post.stderr}`);
    assert.deepEqual(await labelledResources(topologyId), []);
    const dir = join(runner.temp, 'nat-net-diagnostics', topologyId);
    const warning = warningLine(post);
    assert.match(warning, /as artifact 'my diagnostics': Failed to CreateArtifact: Received non-retryable error: Failed request: \(409\) Conflict/);
    assert.ok(warning.includes(`The folder is on the runner at ${dir}`), warning);
    assert.ok(existsSync(join(dir, 'gateway-0', 'ip-addr.txt')), 'the gateway was read through a helper from the default router image');
    assert.ok(post.stdout.includes(`nat-net diagnostics summary (${dir}/summary.md)`), 'the summary is printed into the log');
    assert.deepEqual(
      service.calls.map((c) => [c.method, c.status]),
      [['CreateArtifact', 409]],
    );
  } finally {
    await service.stop();
    if (topologyId) await down(await engine(), topologyId);
  }
});

test('post after a main that failed half-way (every node exited during bring-up): collected by label with the plan main saved, nothing left', async () => {
  const runner = new FakeRunner({
    binary: 'bin/nat-net-test-peer.cjs',
    peers: '1',
    name: 'diag-half',
    nat: 'symmetric',
    env: 'NAT_NET_TEST_PEER_EXIT_AFTER_MS=0',
    'ready-timeout': '30',
    // job-status stays the unevaluated default: main's own failure, saved in state, is what post goes by.
  });
  const main = await runner.run('main');
  const state = runner.state();
  const topologyId = state['topology-id'];
  try {
    assert.notEqual(main.code, 0, 'main must fail');
    assert.equal(state['main-failed'], 'true');
    assert.equal(state['record-file'], undefined, 'main never wrote a record');
    const post = await runner.run('post');
    assert.equal(post.code, 0, `post failed:\n${post.stdout}\n${post.stderr}`);
    assert.deepEqual(await labelledResources(topologyId), []);
    assert.match(warningLine(post), /ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL are not set/);

    const dir = join(runner.temp, 'nat-net-diagnostics', topologyId);
    const topology = JSON.parse(read(dir, 'topology.json')) as { complete: boolean; nodes: { key: string; nat?: string }[] };
    assert.equal(topology.complete, false);
    assert.equal(topology.nodes.find((n) => n.key === 'peer-0')?.nat, 'symmetric');
    const summary = read(dir, 'summary.md');
    assert.match(summary, /main did not finish/);
    assert.match(summary, /\| peer-0 \| peer \| symmetric \|.*\| exited with code 3 \|/);
    assert.match(summary, /\| router-0 \| router \| symmetric \|.*\| running \|/);
    assert.match(summary, /### gateway-0: exited with code 3/);
    assert.match(summary, /exiting on purpose after 0 ms/);
    assert.match(read(dir, 'router-0/conntrack-udp.txt'), /flow entries have been shown/, 'the router outlived its peer and was read');
    assert.equal((JSON.parse(read(dir, 'peer-0/state.json')) as { state: { ExitCode: number } }).state.ExitCode, 3);
  } finally {
    if (topologyId) await down(await engine(), topologyId);
  }
});

test('main refuses a bad artifact name or upload mode before creating anything', async () => {
  for (const [inputs, pattern] of [
    [{ 'artifact-name': 'logs/peer:1' }, /input 'artifact-name': 'logs\/peer:1' contains a colon :/],
    [{ upload: 'sometimes' }, /input 'upload': 'sometimes' is not allowed; allowed: on-failure, always, never/],
    [{ 'artifact-retention-days': '0' }, /input 'artifact-retention-days': 0 is out of range; allowed: 1 to 400/],
  ] as const) {
    const runner = new FakeRunner({ binary: 'bin/nat-net-test-peer.cjs', peers: '1', name: 'diag-bad', ...inputs });
    const main = await runner.run('main');
    assert.notEqual(main.code, 0);
    assert.match(main.stdout, pattern);
    assert.equal(runner.state()['topology-id'], undefined, 'failed before naming (and so before creating) anything');
    const post = await runner.run('post');
    assert.equal(post.code, 0, post.stdout);
    assert.match(post.stdout, /nothing to remove/);
  }
});
