/**
 * Deadlines and daemon errors of src/engine against stand-in engines (sockets this test
 * creates in a temp folder or on 127.0.0.1): no real Docker engine needed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { compareVersions, connectEngine, ENGINE_SLOTS, EngineError, engineTarget, MIN_API_VERSION, queuedCall, type Engine } from '../../src/engine/engine.js';
import { runInNamespace } from '../../src/engine/helper.js';
import { pollUntil, waitForLog } from '../../src/engine/wait.js';
import { startFakeDocker, type FakeDocker } from '../fixtures/fake-docker.js';

const started: FakeDocker[] = [];
after(async () => {
  await Promise.all(started.map((f) => f.close()));
});

async function fake(...args: Parameters<typeof startFakeDocker>): Promise<FakeDocker> {
  const f = await startFakeDocker(...args);
  started.push(f);
  return f;
}

/** dockerode reads DOCKER_HOST from process.env when the engine is made. */
async function connectTo(dockerHost: string, callTimeoutMs?: number): Promise<Engine> {
  const saved = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = dockerHost;
  try {
    return await connectEngine(process.env, callTimeoutMs);
  } finally {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
  }
}

/** Runs `fn`, expecting an EngineError; returns it and how long it took. */
async function engineFailure(fn: () => Promise<unknown>): Promise<{ error: EngineError; ms: number }> {
  const t0 = Date.now();
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof EngineError, `expected an EngineError, got ${String(error)}`);
    return { error, ms: Date.now() - t0 };
  }
  assert.fail('expected a failure');
}

async function settles(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const ok = await pollUntil(async () => (check() ? true : undefined), Date.now() + ms);
  assert.ok(ok, what);
}

const never = <T>(): Promise<T> => new Promise<T>(() => {});

describe('engine.call: every call has a deadline', () => {
  it('a call that never settles rejects at its deadline, naming the call, and aborts its signal', async () => {
    const engine = await connectTo((await fake({ kind: 'http', apiVersion: '1.41', version: '20.10.24' })).dockerHost, 5000);
    let signal: AbortSignal | undefined;
    const { error, ms } = await engineFailure(() =>
      engine.call(
        'inspect the moon',
        (s) => {
          signal = s;
          return never();
        },
        300,
      ),
    );
    assert.match(error.message, /^Docker engine call 'inspect the moon' did not answer within 300 ms$/);
    assert.ok(ms >= 250 && ms < 3000, `took ${ms} ms`);
    assert.equal(signal?.aborted, true, 'the call was told to stop');
  });

  it('uses the engine-wide default deadline when a call gives none', async () => {
    const engine = await connectTo((await fake({ kind: 'http', apiVersion: '1.41', version: '20.10.24' })).dockerHost, 400);
    const { error, ms } = await engineFailure(() => engine.call('list nothing', () => never()));
    assert.match(error.message, /'list nothing' did not answer/);
    assert.ok(ms >= 350 && ms < 3000, `took ${ms} ms`);
  });

  it('a call that answers in time returns its value and its signal never fires; its own errors pass through', async () => {
    const engine = await connectTo((await fake({ kind: 'http', apiVersion: '1.41', version: '20.10.24' })).dockerHost, 5000);
    let signal: AbortSignal | undefined;
    const value = await engine.call('quick', async (s) => {
      signal = s;
      return 42;
    });
    assert.equal(value, 42);
    await new Promise((r) => setImmediate(r));
    assert.equal(signal?.aborted, false);
    await assert.rejects(
      engine.call('fails', async () => {
        throw new RangeError('engine said no');
      }),
      (e: unknown) => e instanceof RangeError && e.message === 'engine said no',
    );
  });

  it('a dockerode request made without abortSignal is closed at the deadline, so it cannot keep the process alive', async () => {
    const f = await fake({ kind: 'http', apiVersion: '1.41', version: '20.10.24' });
    const engine = await connectTo(f.dockerHost, 5000);
    const { error, ms } = await engineFailure(() => engine.call('list containers', () => engine.docker.listContainers({ all: true }), 500));
    assert.match(error.message, /'list containers' did not answer within 500 ms/);
    assert.ok(ms < 3000, `took ${ms} ms`);
    assert.ok(f.requests.includes('GET /containers/json'), `requests: ${f.requests.join(', ')}`);
    await settles('the hung request was closed by the client', () => f.hanging() === 0);
  });

  it('waitForLog: a log request the engine never answers fails within the wait deadline and is closed', async () => {
    const f = await fake({ kind: 'http', apiVersion: '1.41', version: '20.10.24' });
    const engine = await connectTo(f.dockerHost, 5000);
    const t0 = Date.now();
    await assert.rejects(waitForLog(engine, 'c0ffee', /ready/, 600, 'router-0'), /router-0|follow the log/);
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
    assert.ok(f.requests.includes('GET /containers/c0ffee/logs'), `requests: ${f.requests.join(', ')}`);
    await settles('the hung log request was closed', () => f.hanging() === 0);
  });

  it('runInNamespace: a helper whose create hangs fails naming the step', async () => {
    const f = await fake({ kind: 'http', apiVersion: '1.41', version: '20.10.24' });
    const engine = await connectTo(f.dockerHost, 500);
    const { error, ms } = await engineFailure(() =>
      runInNamespace(engine, { targetId: 'abc', image: 'nat-net-router:x', script: 'true', labels: {}, what: 'peer-0' }),
    );
    assert.match(error.message, /'create helper for peer-0' did not answer/);
    assert.ok(ms < 3000, `took ${ms} ms`);
  });

  it('runInNamespace: a helper that never exits fails at its deadline and is still removed', async () => {
    const id = 'feedfacefeedface';
    const f = await fake({
      kind: 'http',
      apiVersion: '1.41',
      version: '20.10.24',
      routes: {
        'POST /containers/create': { status: 201, body: { Id: id, Warnings: [] } },
        [`POST /containers/${id}/start`]: { status: 204 },
        [`DELETE /containers/${id}`]: { status: 204 },
      },
    });
    const engine = await connectTo(f.dockerHost, 2000);
    const { error, ms } = await engineFailure(() =>
      runInNamespace(engine, { targetId: 'abc', image: 'nat-net-router:x', script: 'sleep 1000', labels: {}, what: 'peer-1', timeoutMs: 700 }),
    );
    assert.match(error.message, /'wait for helper of peer-1' did not answer within 700 ms/);
    assert.ok(ms < 4000, `took ${ms} ms`);
    assert.ok(f.requests.includes(`DELETE /containers/${id}`), `the helper was removed; requests: ${f.requests.join(', ')}`);
    await settles('the hung wait request was closed', () => f.hanging() === 0);
  });
});

describe('connectEngine: daemon problems are clear errors', () => {
  it('an engine that accepts and never answers: fails within the deadline, naming the call and the target', async () => {
    for (const where of ['unix', 'tcp'] as const) {
      const f = await fake({ kind: 'silent' }, where);
      const { error, ms } = await engineFailure(() => connectTo(f.dockerHost, 1000));
      assert.ok(ms >= 900 && ms < 4000, `${where}: took ${ms} ms`);
      assert.ok(error.message.startsWith(`the Docker engine at ${f.dockerHost} did not answer (`), error.message);
      assert.match(error.message, /Docker engine call 'version' did not answer within 1 s/);
      assert.match(error.message, /check that dockerd is healthy/);
      assert.deepEqual(f.requests, ['GET /version']);
      await settles(`${where}: the client closed its connection`, () => f.openConnections() === 0);
    }
  });

  it('an engine too old: says which API it speaks, which is needed, and to upgrade', async () => {
    const f = await fake({ kind: 'http', apiVersion: '1.24', version: '1.12.0', others: '404' });
    const { error } = await engineFailure(() => connectTo(f.dockerHost, 5000));
    assert.equal(
      error.message,
      `the Docker engine at ${f.dockerHost} speaks API 1.24 (Docker 1.12.0); nat-net needs API ${MIN_API_VERSION} (Docker 20.10) or newer: upgrade the engine`,
    );
    assert.deepEqual(f.requests, ['GET /version'], 'nothing else is asked of an engine that is too old');
  });

  it('something that is not a Docker engine: says so', async () => {
    const f = await fake({ kind: 'http', version: 'nginx', others: '404' });
    const { error } = await engineFailure(() => connectTo(f.dockerHost, 5000));
    assert.match(error.message, /gave no Docker API version: is DOCKER_HOST pointing at a Docker engine\?/);
  });

  it('no socket at all: says to start dockerd or set DOCKER_HOST', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nat-net-engine-'));
    try {
      const host = `unix://${join(dir, 'missing.sock')}`;
      const { error } = await engineFailure(() => connectTo(host, 5000));
      assert.equal(error.message, `no Docker engine at ${host} (the socket does not exist): start dockerd, or set DOCKER_HOST to your engine`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a socket left behind by a dockerd that died: says the engine refused and asks whether dockerd runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nat-net-engine-'));
    try {
      const path = join(dir, 'stale.sock');
      // A process that listens and is killed leaves its socket file with nobody behind it.
      spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`], {
        timeout: 20_000,
      });
      assert.ok(existsSync(path), 'the stale socket exists');
      const { error } = await engineFailure(() => connectTo(`unix://${path}`, 5000));
      assert.equal(error.message, `the Docker engine at unix://${path} refused the connection: is dockerd running?`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a DOCKER_HOST that is not an address: names DOCKER_HOST', async () => {
    const { error } = await engineFailure(() => connectTo('tcp://[not-an-address', 5000));
    assert.match(error.message, /^DOCKER_HOST='tcp:\/\/\[not-an-address' is not usable: /);
  });

  it('engineTarget: DOCKER_HOST when set, else the standard socket', () => {
    assert.equal(engineTarget({}), 'unix:///var/run/docker.sock');
    assert.equal(engineTarget({ DOCKER_HOST: '' }), 'unix:///var/run/docker.sock');
    assert.equal(engineTarget({ DOCKER_HOST: 'ssh://ci@build-host' }), 'ssh://ci@build-host');
  });

  it('compareVersions compares numerically, part by part', () => {
    assert.ok(compareVersions('1.41', '1.41') === 0);
    assert.ok(compareVersions('1.9', '1.41') < 0);
    assert.ok(compareVersions('1.43', '1.41') > 0);
    assert.ok(compareVersions('2', '1.99') > 0);
    assert.ok(compareVersions('1.41.1', '1.41') > 0);
  });
});

describe('queuedCall: container starts, a few at a time', () => {
  it(`keeps at most ${ENGINE_SLOTS} calls with the engine, runs every one, and passes results and errors through`, async () => {
    let inFlight = 0;
    let most = 0;
    const engine = {
      docker: {} as never,
      describe: 'fake',
      call: async <T>(_what: string, fn: (signal: AbortSignal) => Promise<T>) => fn(new AbortController().signal),
    };
    const work = Array.from({ length: 30 }, (_, i) =>
      queuedCall(engine, `start ${i}`, async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5 + (i % 3)));
        inFlight -= 1;
        if (i === 7) throw new Error('seven failed');
        return i;
      }),
    );
    const results = await Promise.allSettled(work);
    assert.equal(most, ENGINE_SLOTS);
    assert.equal(inFlight, 0);
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
      Array.from({ length: 30 }, (_, i) => (i === 7 ? 'seven failed' : i)),
    );
  });

  it('starts the deadline of a call only when it has its slot', async () => {
    const started: string[] = [];
    const engine = {
      docker: {} as never,
      describe: 'fake',
      call: async <T>(what: string, fn: (signal: AbortSignal) => Promise<T>) => {
        started.push(what); // the real call starts its timer here
        return fn(new AbortController().signal);
      },
    };
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = Array.from({ length: ENGINE_SLOTS }, (_, i) => queuedCall(engine, `held ${i}`, () => gate));
    const waiting = queuedCall(engine, 'queued', async () => 'done');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(started.includes('queued'), false, 'the queued call reached the engine while every slot was taken');
    release();
    assert.equal(await waiting, 'done');
    await Promise.all(first);
    assert.equal(started.at(-1), 'queued');
  });
});
