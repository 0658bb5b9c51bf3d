/**
 * The upload through the real @actions/artifact client, in-process, against the local
 * stand-in of the artifact service (Twirp on 127.0.0.1 + Azurite): the ways an upload
 * cannot happen come back as a reason, never as a thrown error. No Docker needed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { uploadFolder } from '../../src/diagnostics/upload.js';
import { ArtifactService, readZip } from '../fixtures/artifact-service.js';

const ENV_KEYS = ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_RESULTS_URL', 'GITHUB_SERVER_URL'] as const;

/** The client reads process.env itself: set it for one call, then put it back. */
async function withEnv<T>(env: Partial<Record<(typeof ENV_KEYS)[number], string>>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) {
    if (env[k] === undefined) delete process.env[k];
    else process.env[k] = env[k];
  }
  try {
    return await fn();
  } finally {
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

/** A port on loopback that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('uploading the diagnostics folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nat-net-upload-'));
  mkdirSync(join(dir, 'peer-0'));
  writeFileSync(join(dir, 'summary.md'), '# nat-net diagnostics: t\n');
  writeFileSync(join(dir, 'peer-0', 'log.txt'), 'line one\nline two\n');
  let service: ArtifactService;
  let quota: ArtifactService;

  before(async () => {
    service = await ArtifactService.start();
    quota = await ArtifactService.start({
      fail: { CreateArtifact: { status: 403, code: 'resource_exhausted', msg: 'insufficient usage to create artifact' } },
    });
  });
  after(async () => {
    await service?.stop();
    await quota?.stop();
  });

  it('uploads the folder as one zip with its layout', async () => {
    const outcome = await withEnv(service.env(), () => uploadFolder(dir, 'nat-net-unit-ok', 3));
    assert.deepEqual(outcome, { uploaded: true, name: 'nat-net-unit-ok', id: 1, size: outcome.uploaded ? outcome.size : 0 });
    const zip = readZip(await service.download('nat-net-unit-ok'));
    assert.deepEqual([...zip.keys()].sort(), ['peer-0/log.txt', 'summary.md']);
    assert.equal(zip.get('peer-0/log.txt')!.toString(), 'line one\nline two\n');
  });

  it('a second upload under the same name is refused (409), as on GitHub: a reason, not a throw', async () => {
    const outcome = await withEnv(service.env(), () => uploadFolder(dir, 'nat-net-unit-ok'));
    assert.equal(outcome.uploaded, false);
    assert.match(outcome.uploaded ? '' : outcome.reason, /\(409\) Conflict: an artifact with this name already exists/);
  });

  it('no runtime token (a local run): says which variables are missing', async () => {
    const outcome = await withEnv({}, () => uploadFolder(dir, 'x'));
    assert.deepEqual(outcome, {
      uploaded: false,
      name: 'x',
      reason: 'ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL are not set (the runner gives them to JavaScript actions on GitHub Actions; not to local runs)',
    });
  });

  it('GitHub Enterprise Server: refused by the client before any request', async () => {
    const calls = service.calls.length;
    const outcome = await withEnv({ ...service.env(), GITHUB_SERVER_URL: 'https://github.example.com' }, () => uploadFolder(dir, 'nat-net-ghes'));
    assert.equal(outcome.uploaded, false);
    assert.match(outcome.uploaded ? '' : outcome.reason, /not currently supported on GHES/);
    assert.equal(service.calls.length, calls);
  });

  it('the storage quota is full: the client says so', async () => {
    const outcome = await withEnv(quota.env(), () => uploadFolder(dir, 'nat-net-quota'));
    assert.equal(outcome.uploaded, false);
    assert.match(outcome.uploaded ? '' : outcome.reason, /Artifact storage quota has been hit/);
  });

  it('the service cannot be reached: a network error, at once', async () => {
    const port = await closedPort();
    const started = Date.now();
    const outcome = await withEnv({ ACTIONS_RUNTIME_TOKEN: service.token, ACTIONS_RESULTS_URL: `http://127.0.0.1:${port}/` }, () => uploadFolder(dir, 'nat-net-down'));
    assert.equal(outcome.uploaded, false);
    assert.match(outcome.uploaded ? '' : outcome.reason, /Unable to make request: ECONNREFUSED/);
    assert.ok(Date.now() - started < 10_000, 'no retries on a refused connection');
  });
});
