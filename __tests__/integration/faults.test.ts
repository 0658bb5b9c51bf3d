/**
 * Issue 6: whatever goes wrong during main, the post step (or a later `nat-net down` /
 * `nat-net sweep`) leaves nothing of the topology behind, and never touches another.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { STAGES } from '../../src/core/up.js';
import { LABEL } from '../../src/plan/labels.js';
import { overlaps, parseCidr } from '../../src/plan/subnets.js';
import { FakeRunner } from './runner.js';
import { bringUpForTest, engine, labelledResources, ROOT, status, TEST_PEER } from './support.js';

const base = { binary: 'bin/nat-net-test-peer.cjs', peers: '2' };

describe('a failure at any stage of main: post removes everything', () => {
  for (const stage of STAGES) {
    test(`stage ${stage}`, async () => {
      const runner = new FakeRunner({ ...base, name: `fault-${stage}` }, { NAT_NET_FAULT_INJECT: stage });
      const main = await runner.run('main');
      assert.notEqual(main.code, 0, 'main must fail');
      assert.match(main.stdout, new RegExp(`fault injected at stage '${stage}'`));
      const id = runner.state()['topology-id'];
      assert.ok(id, 'the topology id was saved before anything was created');
      const post = await runner.run('post');
      assert.equal(post.code, 0, `post failed:\n${post.stdout}\n${post.stderr}`);
      assert.deepEqual(await labelledResources(id), []);
    });
  }
});

function waitForLabelled(id: string, deadlineMs: number): Promise<boolean> {
  return (async () => {
    const end = Date.now() + deadlineMs;
    while (Date.now() < end) {
      if ((await labelledResources(id)).some((r) => r.startsWith('container'))) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  })();
}

test('main killed with SIGKILL in the middle: post removes the rest', async () => {
  const runner = new FakeRunner({ ...base, name: 'fault-kill' });
  const mainRun = runner.run('main');
  // Kill once containers exist, i.e. in the middle of bring-up.
  const id = await (async () => {
    for (let i = 0; i < 200 && !runner.state()['topology-id']; i++) await new Promise((r) => setTimeout(r, 50));
    return runner.state()['topology-id'];
  })();
  assert.ok(id);
  assert.ok(await waitForLabelled(id, 60_000), 'bring-up created containers');
  const pid = runner.mainPid();
  assert.ok(pid);
  process.kill(pid, 'SIGKILL');
  const main = await mainRun;
  assert.equal(main.code, null, 'main died by the signal');
  const post = await runner.run('post');
  assert.equal(post.code, 0, post.stdout);
  assert.deepEqual(await labelledResources(id), []);
});

test("the runner's cancel (SIGINT, then SIGTERM 7.5 s later) stops main; post cleans", async () => {
  const runner = new FakeRunner({ ...base, peers: '4', name: 'fault-cancel' });
  const started = Date.now();
  const mainRun = runner.run('main');
  let id = '';
  for (let i = 0; i < 200 && !id; i++) {
    await new Promise((r) => setTimeout(r, 50));
    id = runner.state()['topology-id'] ?? '';
  }
  assert.ok(await waitForLabelled(id, 60_000));
  const pid = runner.mainPid()!;
  process.kill(pid, 'SIGINT');
  const term = setTimeout(() => process.kill(pid, 'SIGTERM'), 7500);
  const main = await mainRun;
  clearTimeout(term);
  assert.notEqual(main.code, 0);
  assert.match(main.stdout, /SIGINT received: stopping bring-up/);
  assert.ok(Date.now() - started < 60_000);
  const post = await runner.run('post');
  assert.equal(post.code, 0, post.stdout);
  assert.deepEqual(await labelledResources(id), []);
});

test('a node removed by someone else before post: post still removes the rest and succeeds', async () => {
  const runner = new FakeRunner({ ...base, name: 'fault-gone' });
  const main = await runner.run('main');
  assert.equal(main.code, 0, main.stdout);
  const id = runner.state()['topology-id'];
  const peer = JSON.parse(runner.outputs().topology).nodes.find((n: { key: string }) => n.key === 'peer-1');
  await (await engine()).docker.getContainer(peer.containerId).remove({ force: true });
  const post = await runner.run('post');
  assert.equal(post.code, 0, post.stdout);
  assert.deepEqual(await labelledResources(id), []);
});

test('four topologies in parallel (two with the same name): all ready, disjoint subnets, each removed alone', async () => {
  const names = ['iso-a', 'iso-b', 'iso-same', 'iso-same'];
  const topologies = await Promise.all(names.map((name) => bringUpForTest({ name, peers: '2', 'ready-timeout': '120' })));
  try {
    const subnets = topologies.flatMap((t) => t.record.networks.map((n) => ({ id: t.record.topologyId, cidr: parseCidr(n.subnet) })));
    for (const a of subnets) for (const b of subnets) if (a !== b) assert.ok(!overlaps(a.cidr, b.cidr), `${a.id} and ${b.id} overlap`);
    assert.notEqual(topologies[2].record.topologyId, topologies[3].record.topologyId);
    for (const t of topologies) {
      const gateway = t.record.nodes.find((n) => n.role === 'gateway')!;
      assert.ok(await status(gateway.wsHostPort));
    }
    // Removing one of the same-name pair leaves the other whole and running.
    await topologies[2].down();
    assert.deepEqual(await labelledResources(topologies[2].record.topologyId), []);
    const e = await engine();
    for (const t of [topologies[0], topologies[1], topologies[3]]) {
      for (const n of t.record.nodes) {
        const info = await e.docker.getContainer(n.containerId).inspect();
        assert.ok(info.State.Running, `${n.name} still runs`);
      }
    }
  } finally {
    await Promise.all(topologies.map((t) => t.down()));
  }
  for (const t of topologies) assert.deepEqual(await labelledResources(t.record.topologyId), []);
});

function cli(args: string[], viaShell = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const cmd = viaShell ? 'sh' : process.execPath;
    // Through a short-lived sh: the CLI's owner (its parent) is gone once sh exits.
    const argv = viaShell ? ['-c', '"$0" "$@"; exit $?', process.execPath, 'build/src/cli/index.js', ...args] : ['build/src/cli/index.js', ...args];
    const child = spawn(cmd, argv, { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('sweep also finds a topology of which only its volume is left (a teardown cut short)', async () => {
  const made = await cli(['up', '--binary', TEST_PEER, '--peers', '1', '--name', 'sweep-volume'], true);
  assert.equal(made.code, 0, made.stderr);
  const orphanId = JSON.parse(made.stdout.trim().split('\n').pop()!).topologyId;
  try {
    // What a post step killed after its containers and networks went leaves behind.
    const e = await engine();
    const filters = JSON.stringify({ label: [`${LABEL.topology}=${orphanId}`] });
    for (const c of await e.docker.listContainers({ all: true, filters })) await e.docker.getContainer(c.Id).remove({ force: true });
    for (const n of await e.docker.listNetworks({ filters })) await e.docker.getNetwork(n.Id).remove();
    assert.deepEqual(
      (await labelledResources(orphanId)).map((r) => r.split(' ')[0]),
      ['volume'],
    );
    const swept = await cli(['sweep']);
    assert.equal(swept.code, 0, swept.stderr);
    assert.match(swept.stdout, new RegExp(`removed ${orphanId}.*exited`));
    assert.deepEqual(await labelledResources(orphanId), []);
  } finally {
    await cli(['down', orphanId]);
  }
});

test('sweep removes a topology whose owner is gone and leaves a live one alone', async () => {
  const live = await bringUpForTest({ name: 'sweep-live', peers: '1' });
  let orphanId = '';
  try {
    const made = await cli(['up', '--binary', TEST_PEER, '--peers', '1', '--name', 'sweep-orphan'], true);
    assert.equal(made.code, 0, made.stderr);
    orphanId = JSON.parse(made.stdout.trim().split('\n').pop()!).topologyId;
    const dry = await cli(['sweep', '--dry-run']);
    assert.match(dry.stdout, new RegExp(`would remove ${orphanId}`));
    assert.match(dry.stdout, new RegExp(`kept ${live.record.topologyId}.*alive`));
    assert.notDeepEqual(await labelledResources(orphanId), []);
    const swept = await cli(['sweep']);
    assert.equal(swept.code, 0, swept.stderr);
    assert.match(swept.stdout, new RegExp(`removed ${orphanId}.*exited`));
    assert.deepEqual(await labelledResources(orphanId), []);
    const gateway = live.record.nodes.find((n) => n.role === 'gateway')!;
    assert.ok(await status(gateway.wsHostPort), 'the live topology still answers');
  } finally {
    await live.down();
    if (orphanId) await cli(['down', orphanId]);
  }
});
