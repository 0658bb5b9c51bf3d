/**
 * Issue 6: the Docker engine restarted under a live topology (its containers stop,
 * the networks stay): post still removes everything. Restarts the local dockerd, so
 * it runs last (file name) and only where this test can restart the engine itself.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { test } from 'node:test';
import { FakeRunner } from './runner.js';
import { engine, labelledResources } from './support.js';

function dockerdPid(): number | undefined {
  try {
    return Number(execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(/\s+/)[0]) || undefined;
  } catch {
    return undefined;
  }
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} within ${ms / 1000} s`);
}

test('the engine restarted mid-topology: post removes everything', async (t) => {
  const pid = dockerdPid();
  if (process.env.DOCKER_HOST || process.getuid?.() !== 0 || !pid) {
    t.skip('SKIPPED: needs root and a local dockerd this test can restart (no DOCKER_HOST)');
    return;
  }
  // Connected before the restart: the client reconnects per request, and the socket is briefly absent meanwhile.
  const e = await engine();
  const runner = new FakeRunner({ binary: 'bin/nat-net-test-peer.cjs', peers: '2', name: 'engine-restart' });
  const main = await runner.run('main');
  assert.equal(main.code, 0, main.stdout);
  const id = runner.state()['topology-id'];

  process.kill(pid, 'SIGTERM');
  await until('dockerd did not stop', () => !existsSync(`/proc/${pid}`), 60_000);
  const log = openSync('/var/log/nat-net-dockerd.log', 'a');
  spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] }).unref();
  await until('dockerd did not come back', () => e.docker.ping().then(() => true, () => false), 60_000);

  const left = await labelledResources(id);
  assert.ok(left.length > 0, 'the stopped topology is still on the engine before post');
  const post = await runner.run('post');
  assert.equal(post.code, 0, post.stdout);
  assert.deepEqual(await labelledResources(id), []);
});
