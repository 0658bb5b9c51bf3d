/**
 * The built `nat-net` CLI as a user runs it: each command a separate process, so a
 * topology made by `up` is found and removed by `down` from another shell through the
 * labels alone.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TopologyRecord } from '../../src/core/record.js';
import { down, listTopologies } from '../../src/core/down.js';
import { inspectContainer } from '../../src/engine/resources.js';
import { LABEL } from '../../src/plan/labels.js';
import { engine, labelledResources, ROOT } from './support.js';

const CLI = join(ROOT, 'build/src/cli/index.js');
const CHILD_TIMEOUT_MS = 180_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** One `nat-net` process, in its own shell, with a deadline; the test's env minus nothing it shares in memory. */
function nat(args: string[], timeoutMs = CHILD_TIMEOUT_MS): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', 'exec node "$0" "$@"', CLI, ...args], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    // SIGINT first, like a runner's cancel: the CLI then removes what it made.
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const describeRun = (r: Run) => `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** Resources of every topology carrying `name`: what this test made, found by label. */
async function byName(name: string): Promise<string[]> {
  const e = await engine();
  const filters = JSON.stringify({ label: [`${LABEL.name}=${name}`] });
  const [c, n, v] = await Promise.all([e.docker.listContainers({ all: true, filters }), e.docker.listNetworks({ filters }), e.docker.listVolumes({ filters })]);
  return [...c.map((x) => `container ${x.Names[0]}`), ...n.map((x) => `network ${x.Name}`), ...(v.Volumes ?? []).map((x) => `volume ${x.Name}`)];
}

/** Safety net: removes any topology of this name the test left (never anything else). */
async function cleanUp(name: string): Promise<void> {
  const e = await engine();
  for (const t of (await listTopologies(e)).filter((x) => x.name === name)) await down(e, t.topologyId);
}

describe('nat-net CLI', () => {
  it('up, ls and down as separate processes; down leaves nothing labelled', { timeout: 3 * CHILD_TIMEOUT_MS }, async () => {
    const name = `cli-${randomBytes(3).toString('hex')}`;
    try {
      const upRun = await nat(['up', '--binary', 'dist/test-peer/nat-net-test-peer.cjs', '--peers', '1', '--name', name, '--ready-timeout', '60']);
      assert.equal(upRun.code, 0, describeRun(upRun));
      const jsonLine = upRun.stdout.split('\n').find((l) => l.startsWith('{'));
      assert.ok(jsonLine, `no JSON record line in stdout:\n${upRun.stdout}`);
      const record = JSON.parse(jsonLine) as TopologyRecord;
      assert.equal(record.name, name);
      assert.ok(record.topologyId.startsWith(`${name}-`));
      assert.deepEqual(record.nodes.map((n) => n.key).sort(), ['gateway-0', 'peer-0']);
      assert.equal(record.routers.length, 1);
      // The node table comes first, one row per node.
      assert.match(upRun.stdout, /^node\s+role\s+nat/m);
      assert.match(upRun.stdout, /^peer-0\s+peer\s+port-restricted/m);
      assert.match(upRun.stderr, new RegExp(`nat-net down ${record.topologyId}`));

      // The process has exited; the topology lives on without it.
      const e = await engine();
      for (const n of record.nodes) assert.equal((await inspectContainer(e, n.containerId)).State.Running, true, `${n.key} is not running`);
      const response = await fetch(`http://127.0.0.1:${record.nodes[0].wsHostPort}/status`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(response.status, 200);

      const lsRun = await nat(['ls', '--json']);
      assert.equal(lsRun.code, 0, describeRun(lsRun));
      const listed = (JSON.parse(lsRun.stdout) as { topologyId: string; name: string; containers: number; running: number }[]).find(
        (t) => t.topologyId === record.topologyId,
      );
      assert.ok(listed, `ls does not list ${record.topologyId}:\n${lsRun.stdout}`);
      assert.equal(listed.name, name);
      assert.equal(listed.containers, 3);
      assert.equal(listed.running, 3);
      const lsTable = await nat(['ls']);
      assert.equal(lsTable.code, 0, describeRun(lsTable));
      assert.match(lsTable.stdout, new RegExp(`^${record.topologyId}\\s+${name}\\s+3\\s+3\\s`, 'm'));

      const downRun = await nat(['down', record.topologyId]);
      assert.equal(downRun.code, 0, describeRun(downRun));
      assert.match(downRun.stdout, new RegExp(`removed ${record.topologyId}: 3 containers, 2 networks, 1 volumes`));
      assert.deepEqual(await labelledResources(record.topologyId), []);
      assert.deepEqual(await byName(name), []);

      const lsAfter = await nat(['ls', '--json']);
      assert.equal(lsAfter.code, 0, describeRun(lsAfter));
      assert.ok(!lsAfter.stdout.includes(record.topologyId), 'ls still lists the removed topology');

      const again = await nat(['down', record.topologyId]);
      assert.equal(again.code, 2, describeRun(again));
      assert.match(again.stderr, /no topology/);
    } finally {
      await cleanUp(name);
    }
    assert.deepEqual(await byName(name), []);
  });

  it('down by name, from another process, when the name is unique', { timeout: 3 * CHILD_TIMEOUT_MS }, async () => {
    const name = `cli-${randomBytes(3).toString('hex')}`;
    try {
      const upRun = await nat(['up', '--binary', 'dist/test-peer/nat-net-test-peer.cjs', '--peers', '0', '--name', name, '--ready-timeout', '60']);
      assert.equal(upRun.code, 0, describeRun(upRun));
      const record = JSON.parse(upRun.stdout.split('\n').find((l) => l.startsWith('{'))!) as TopologyRecord;
      const downRun = await nat(['down', name]);
      assert.equal(downRun.code, 0, describeRun(downRun));
      assert.deepEqual(await labelledResources(record.topologyId), []);
    } finally {
      await cleanUp(name);
    }
  });

  it('a bad input exits 2 with a message naming the input, and creates nothing', { timeout: CHILD_TIMEOUT_MS }, async () => {
    const name = `cli-${randomBytes(3).toString('hex')}`;
    try {
      const run = await nat(['up', '--binary', 'dist/test-peer/nat-net-test-peer.cjs', '--peers', 'abc', '--name', name]);
      assert.equal(run.code, 2, describeRun(run));
      assert.match(run.stderr, /input 'peers'/);
      assert.match(run.stderr, /'abc' is not a whole number/);
      assert.equal(run.stdout, '');
      assert.deepEqual(await byName(name), []);

      const missing = await nat(['up', '--binary', 'no/such/peer', '--name', name]);
      assert.equal(missing.code, 2, describeRun(missing));
      assert.match(missing.stderr, /input 'binary'/);
      assert.deepEqual(await byName(name), []);
    } finally {
      await cleanUp(name);
    }
  });
});
