import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TopologyRecord } from '../../src/core/record.js';
import { FakeRunner } from './runner.js';
import { eventually, labelledResources, status } from './support.js';

test('the bundled action, run as the runner runs it: main brings up 1 gateway + 3 peers, post leaves nothing', async () => {
  const runner = new FakeRunner({ binary: 'bin/nat-net-test-peer.cjs', peers: '3', name: 'runner-e2e' });
  const main = await runner.run('main');
  const state = runner.state();
  try {
    assert.equal(main.code, 0, `main failed:\n${main.stdout}\n${main.stderr}`);
    const outputs = runner.outputs();
    const record = JSON.parse(outputs.topology) as TopologyRecord;
    assert.equal(outputs['topology-id'], record.topologyId);
    assert.equal(record.nodes.length, 4);
    const peers = record.nodes.filter((n) => n.role === 'peer').sort((a, b) => a.index - b.index);
    assert.equal(outputs['peer-ws-ports'], peers.map((p) => p.wsHostPort).join(','));
    assert.equal(outputs['gateway-ws-ports'], String(record.nodes.find((n) => n.role === 'gateway')!.wsHostPort));
    // Env: one variable per node, named by the documented scheme.
    const env = runner.exportedEnv();
    assert.equal(env.NAT_NET_RUNNER_E2E_PEER_2_WS_PORT, String(peers[2].wsHostPort));
    assert.equal(env.NAT_NET_RUNNER_E2E_GATEWAY_0_WS_PORT, outputs['gateway-ws-ports']);
    // The outputs are live: the gateway answers on its port and knows the three peers by their routers' addresses.
    // Ready means every port answers; a peer's registration may still be on its way to the gateway then.
    const observed = await eventually('the gateway has seen all three peers', async () => {
      const gateway = await status<{ peers: { observed: string }[] }>(Number(outputs['gateway-ws-ports']));
      return gateway.peers.length >= 3 ? gateway.peers.map((p) => p.observed.split(':')[0]).sort() : undefined;
    });
    assert.deepEqual(observed, peers.map((p) => p.router!.publicAddress).sort());
    assert.match(runner.summary(), /runner-e2e/);
    assert.match(runner.summary(), /peer-2/);
    assert.ok(runner.paths().some((p) => p.endsWith('/bin')), 'the CLI is put on PATH');
    assert.ok(state['topology-id'], 'main saved the topology id for post');
  } finally {
    const post = await runner.run('post');
    assert.equal(post.code, 0, `post failed:\n${post.stdout}\n${post.stderr}`);
  }
  assert.deepEqual(await labelledResources(state['topology-id']), []);
});

test('post after a main that failed half-way (nodes never ready) removes everything', async () => {
  const runner = new FakeRunner({
    binary: 'bin/nat-net-test-peer.cjs',
    peers: '2',
    name: 'runner-fail',
    'ready-log': 'this line never appears',
    'ready-timeout': '3',
  });
  const main = await runner.run('main');
  assert.notEqual(main.code, 0, 'main must fail');
  assert.match(main.stdout, /were not ready within 3 s/);
  const id = runner.state()['topology-id'];
  assert.ok(id);
  assert.notDeepEqual(await labelledResources(id), [], 'main left its half-made topology for post');
  const post = await runner.run('post');
  assert.equal(post.code, 0, `post failed:\n${post.stdout}\n${post.stderr}`);
  assert.deepEqual(await labelledResources(id), []);
});

test('a missing user-given peer image fails before anything is created', async () => {
  const runner = new FakeRunner({ binary: 'bin/nat-net-test-peer.cjs', peers: '2', name: 'runner-noimg', 'peer-image': 'nat-net-does-not-exist:1' });
  const main = await runner.run('main');
  assert.notEqual(main.code, 0);
  assert.match(main.stdout, /input 'peer-image'.*nat-net-does-not-exist:1.*is not on the Docker engine/);
  const id = runner.state()['topology-id'];
  assert.deepEqual(await labelledResources(id), []);
  const post = await runner.run('post');
  assert.equal(post.code, 0);
});
