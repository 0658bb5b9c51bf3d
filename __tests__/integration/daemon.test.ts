/**
 * Daemon problems, as a user meets them through the CLI and the bundled action: a hung
 * engine, no engine, a socket without permission, an engine too old, and a remote engine
 * over DOCKER_HOST=tcp://. Stand-in engines are sockets this test creates (a temp folder,
 * or 127.0.0.1); the TCP engine is a proxy to the local one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { TopologyRecord } from '../../src/core/record.js';
import { MIN_API_VERSION } from '../../src/engine/engine.js';
import { runNatNet } from '../fixtures/fake-docker-cli.js';
import { startEngineProxy, startFakeDocker, type EngineProxy, type FakeDocker } from '../fixtures/fake-docker.js';
import { FakeRunner } from './runner.js';
import { labelledResources, TEST_PEER } from './support.js';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  await Promise.all(closers.map((close) => close()));
});

async function fake(...args: Parameters<typeof startFakeDocker>): Promise<FakeDocker> {
  const f = await startFakeDocker(...args);
  closers.push(f.close);
  return f;
}

async function proxy(where: 'unix' | 'tcp'): Promise<EngineProxy> {
  const p = await startEngineProxy(where);
  closers.push(p.close);
  return p;
}

const VERSION_DEADLINE_S = 15; // connectEngine's deadline for its first call
const CALL_DEADLINE_S = 10; // every other call's, set short for the test through NAT_NET_ENGINE_TIMEOUT_S

describe('a hung engine: every wait is bounded, the error names the call, the process ends', () => {
  it('`nat-net ls` against an engine that accepts and never answers fails after the version deadline', async () => {
    const f = await fake({ kind: 'silent' });
    const r = await runNatNet(['ls'], { env: { DOCKER_HOST: f.dockerHost }, killAfterMs: 90_000 });
    assert.equal(r.signal, null, `the CLI had to be killed after ${r.ms} ms:\n${r.stderr}`);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.ms < (VERSION_DEADLINE_S + 20) * 1000, `took ${r.ms} ms`);
    assert.match(r.stderr, new RegExp(`^nat-net: the Docker engine at ${f.dockerHost} did not answer \\(Docker engine call 'version' did not answer within ${VERSION_DEADLINE_S} s\\)`));
    assert.match(r.stderr, /check that dockerd is healthy \('docker info'\) and that DOCKER_HOST points at a Docker engine/);
  });

  it('`nat-net ls` against an engine that answers /version, then hangs, ends after the call deadline naming the call', async () => {
    const f = await fake({ kind: 'http', apiVersion: '1.41', version: '20.10.24' });
    const r = await runNatNet(['ls'], { env: { DOCKER_HOST: f.dockerHost, NAT_NET_ENGINE_TIMEOUT_S: String(CALL_DEADLINE_S) }, killAfterMs: 120_000 });
    // Before every request carried its call's abort signal, the error was printed on time but the hung socket kept the CLI alive.
    assert.equal(r.signal, null, `the CLI had to be killed after ${r.ms} ms:\n${r.stderr}`);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.ms < (CALL_DEADLINE_S + 25) * 1000, `took ${r.ms} ms`);
    assert.match(r.stderr, new RegExp(`^nat-net: Docker engine call 'list (containers|networks)' did not answer within ${CALL_DEADLINE_S} s`));
  });

  it('the bundled action: main and post each end with a clear error, not a step that hangs until the job times out', async () => {
    const f = await fake({ kind: 'http', apiVersion: '1.41', version: '20.10.24' });
    const runner = new FakeRunner({ binary: 'bin/nat-net-test-peer.cjs', peers: '1', name: 'hung-engine' }, { DOCKER_HOST: f.dockerHost, NAT_NET_ENGINE_TIMEOUT_S: String(CALL_DEADLINE_S) });
    const t0 = Date.now();
    const main = await runner.run('main', 150_000);
    const mainMs = Date.now() - t0;
    assert.notEqual(main.code, null, `main had to be killed after ${mainMs} ms:\n${main.stdout}`);
    assert.notEqual(main.code, 0);
    assert.match(main.stdout, new RegExp(`::error::nat-net main: .*Docker engine call '[^']+' did not answer within ${CALL_DEADLINE_S} s`), `${main.stdout}${main.stderr}`);
    assert.deepEqual(runner.outputs(), {}, 'no outputs from a failed main');
    assert.ok(runner.state()['topology-id'], 'main saved the topology id before talking to the engine');
    const t1 = Date.now();
    const post = await runner.run('post', 150_000);
    const postMs = Date.now() - t1;
    assert.notEqual(post.code, null, `post had to be killed after ${postMs} ms:\n${post.stdout}`);
    assert.notEqual(post.code, 0, 'post cannot claim a clean-up it could not do');
    assert.match(post.stdout, /did not answer within/);
    assert.ok(!f.requests.some((r) => /^(POST|PUT|DELETE) /.test(r)), `nothing was created or removed: ${f.requests.join(', ')}`);
    rmSync(dirname(runner.actionDir), { recursive: true, force: true });
  });
});

describe('no engine, no permission, too old: errors that say what to do', () => {
  it('no socket: says to start dockerd or set DOCKER_HOST', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nat-net-daemon-'));
    try {
      const host = `unix://${join(dir, 'missing.sock')}`;
      for (const args of [['ls'], ['down', 'anything'], ['up', '--binary', TEST_PEER]]) {
        const r = await runNatNet(args, { env: { DOCKER_HOST: host }, killAfterMs: 60_000 });
        assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
        assert.equal(r.stderr, `nat-net: no Docker engine at ${host} (the socket does not exist): start dockerd, or set DOCKER_HOST to your engine\n`, args[0]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a socket this user may not open: EACCES explained (run as an unprivileged user)', async (t) => {
    const socket = '/var/run/docker.sock';
    const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' });
    const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => {
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (process.getuid?.() !== 0 || nobody.status !== 0 || !runuser) {
      t.skip('needs root, runuser and a user named nobody to run the CLI unprivileged');
      return;
    }
    const mode = statSync(socket).mode;
    if (mode & 0o002) {
      t.skip(`${socket} is writable by everyone here, so no user lacks permission`);
      return;
    }
    // DOCKER_HOST unset: the default socket, as a user without the docker group meets it.
    const r = await runNatNet(['ls'], { command: [runuser, '-u', 'nobody', '--', process.execPath], killAfterMs: 60_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `nat-net: permission denied on unix://${socket}: add this user to the 'docker' group or run as root, or set DOCKER_HOST\n`);
  });

  it('an engine too old: names its API and Docker version, what is needed, and says to upgrade; asks it nothing else', async () => {
    const f = await fake({ kind: 'http', apiVersion: '1.24', version: '1.12.0', others: '404' });
    for (const args of [['ls'], ['up', '--binary', TEST_PEER, '--name', 'too-old']]) {
      const before = f.requests.length;
      const r = await runNatNet(args, { env: { DOCKER_HOST: f.dockerHost }, killAfterMs: 60_000 });
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.equal(
        r.stderr,
        `nat-net: the Docker engine at ${f.dockerHost} speaks API 1.24 (Docker 1.12.0); nat-net needs API ${MIN_API_VERSION} (Docker 20.10) or newer: upgrade the engine\n`,
      );
      assert.deepEqual(f.requests.slice(before), ['GET /version'], `${args[0]} asked the old engine only its version`);
    }
  });
});

describe('DOCKER_HOST=tcp:// is honoured (a remote engine)', () => {
  it('`ls`, `up` and `down` work through a TCP endpoint on 127.0.0.1 and every request goes through it', async () => {
    const p = await proxy('tcp');
    const env = { DOCKER_HOST: p.dockerHost };
    const ls = await runNatNet(['ls', '--json'], { env, killAfterMs: 60_000 });
    assert.equal(ls.code, 0, ls.stderr);
    assert.ok(Array.isArray(JSON.parse(ls.stdout)), ls.stdout);
    assert.ok(p.requests.includes('GET /version') && p.requests.includes('GET /containers/json'), p.requests.join(', '));

    const up = await runNatNet(['up', '--binary', TEST_PEER, '--gateways', '1', '--peers', '1', '--name', 'over-tcp', '--ready-timeout', '90'], {
      env,
      killAfterMs: 240_000,
    });
    let record: TopologyRecord | undefined;
    try {
      assert.equal(up.code, 0, up.stderr);
      record = JSON.parse(up.stdout.trim().split('\n').pop()!) as TopologyRecord;
      assert.match(record.engine, new RegExp(`at ${p.dockerHost.replace(/\./g, '\\.')}$`), 'the record names the engine it used');
      assert.equal(record.nodes.length, 2);
      assert.ok(p.requests.some((r) => r === 'POST /containers/create'), 'the topology was created through the TCP endpoint');
    } finally {
      if (record?.topologyId) {
        const down = await runNatNet(['down', record.topologyId], { env, killAfterMs: 120_000 });
        assert.equal(down.code, 0, down.stderr);
        assert.match(down.stdout, new RegExp(`^removed ${record.topologyId}: `));
        assert.ok(p.requests.some((r) => r.startsWith('DELETE /containers/')), 'and removed through it');
      }
    }
    assert.deepEqual(await labelledResources(record!.topologyId), []);
  });
});
