import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  artifactNameFor,
  defaultArtifactName,
  jobFailed,
  matrixPart,
  parseDiagnosticsOptions,
  parseJobStatus,
  shouldUpload,
  validateArtifactName,
} from '../../src/diagnostics/options.js';
import { InputError } from '../../src/spec/errors.js';

/** What @actions/artifact refuses in a name (its validateArtifactName), so main must refuse the same. */
const REFUSED_BY_THE_CLIENT = ['"', ':', '<', '>', '|', '*', '?', '\r', '\n', '\\', '/'];

describe('default artifact name', () => {
  const base = { job: 'nat-tests', name: 'default', matrix: 'null', runAttempt: '1' };

  it('reads as tool, job, topology name and attempt', () => {
    assert.equal(defaultArtifactName(base), 'nat-net-nat-tests-default-attempt1');
  });

  it('two uses of the action in one job (different name) get different names', () => {
    assert.notEqual(defaultArtifactName({ ...base, name: 'lan' }), defaultArtifactName({ ...base, name: 'wan' }));
  });

  it('every leg of a matrix gets its own name, with its values readable', () => {
    const presets = ['none', 'lan', 'regional', 'intercontinental', 'high_latency', 'challenging'];
    const names = presets.flatMap((preset) =>
      ['ubuntu-24.04', 'ubuntu-22.04'].map((os) => defaultArtifactName({ ...base, matrix: JSON.stringify({ preset, os }) })),
    );
    assert.equal(new Set(names).size, names.length);
    assert.match(names[6], /^nat-net-nat-tests-default-ubuntu-24\.04-intercontinental-[0-9a-f]{8}-attempt1$/);
  });

  it('legs whose readable values collide still differ by the hash of the whole matrix', () => {
    const a = defaultArtifactName({ ...base, matrix: JSON.stringify({ preset: 'a/b', os: 'x' }) });
    const b = defaultArtifactName({ ...base, matrix: JSON.stringify({ preset: 'a b', os: 'x' }) });
    const c = defaultArtifactName({ ...base, matrix: JSON.stringify({ preset: 'lan', extra: { deep: 1 } }) });
    const d = defaultArtifactName({ ...base, matrix: JSON.stringify({ preset: 'lan', extra: { deep: 2 } }) });
    assert.notEqual(a, b);
    assert.notEqual(c, d);
  });

  it('the same leg always gets the same name, whatever the key order or spacing of toJSON(matrix)', () => {
    const one = defaultArtifactName({ ...base, matrix: '{\n  "os": "ubuntu-24.04",\n  "preset": "lan"\n}' });
    const two = defaultArtifactName({ ...base, matrix: '{"preset":"lan","os":"ubuntu-24.04"}' });
    assert.equal(one, two);
  });

  it('differs per job and per run attempt (a re-run is a new upload)', () => {
    assert.notEqual(defaultArtifactName(base), defaultArtifactName({ ...base, job: 'other' }));
    assert.notEqual(defaultArtifactName(base), defaultArtifactName({ ...base, runAttempt: '2' }));
  });

  it('no matrix, an empty one, or an unevaluated expression adds nothing', () => {
    for (const matrix of [undefined, '', 'null', '{}', '${{ toJSON(matrix) }}']) {
      assert.equal(matrixPart(matrix), undefined, String(matrix));
      assert.equal(defaultArtifactName({ ...base, matrix }), 'nat-net-nat-tests-default-attempt1');
    }
  });

  it('is always a name the artifact client accepts, even from odd job ids and matrix values', () => {
    const name = defaultArtifactName({ job: 'a:b/c', name: 'x', matrix: JSON.stringify({ v: 'x:y|z*?"<>\\/\n' }), runAttempt: 'bogus' });
    assert.doesNotThrow(() => validateArtifactName(name));
    assert.match(name, /-attempt1$/);
  });

  it("a user's artifact-name wins over the default", () => {
    assert.equal(artifactNameFor({ upload: 'always', artifactName: 'mine' }, base), 'mine');
    assert.equal(artifactNameFor({ upload: 'always' }, base), defaultArtifactName(base));
  });
});

describe('diagnostics inputs', () => {
  it('defaults: upload on failure, default name, repository retention', () => {
    assert.deepEqual(parseDiagnosticsOptions({}), { upload: 'on-failure', artifactName: undefined, retentionDays: undefined });
    assert.deepEqual(parseDiagnosticsOptions({ upload: ' always ', 'artifact-name': ' nat logs ', 'artifact-retention-days': '7' }), {
      upload: 'always',
      artifactName: 'nat logs',
      retentionDays: 7,
    });
  });

  it('rejects every character the artifact client refuses, naming the input', () => {
    for (const ch of REFUSED_BY_THE_CLIENT) {
      assert.throws(
        () => parseDiagnosticsOptions({ 'artifact-name': `logs${ch}x` }),
        (e: unknown) => e instanceof InputError && e.input === 'artifact-name',
        JSON.stringify(ch),
      );
    }
  });

  it('rejects an unknown upload mode and a retention outside 1 to 400 days', () => {
    assert.throws(() => parseDiagnosticsOptions({ upload: 'yes' }), /input 'upload': 'yes' is not allowed; allowed: on-failure, always, never/);
    assert.throws(() => parseDiagnosticsOptions({ 'artifact-retention-days': '0' }), /input 'artifact-retention-days'/);
    assert.throws(() => parseDiagnosticsOptions({ 'artifact-retention-days': '401' }), /input 'artifact-retention-days'/);
    assert.throws(() => parseDiagnosticsOptions({ 'artifact-retention-days': 'week' }), /input 'artifact-retention-days'/);
  });
});

describe('when to upload', () => {
  it('reads job.status as the runner writes it; anything else is unknown', () => {
    assert.equal(parseJobStatus('failure'), 'failure');
    assert.equal(parseJobStatus(' Cancelled '), 'cancelled');
    assert.equal(parseJobStatus('success'), 'success');
    assert.equal(parseJobStatus('${{ job.status }}'), 'unknown');
    assert.equal(parseJobStatus(undefined), 'unknown');
  });

  it('a failed or cancelled job, or a failed main, is a failure', () => {
    assert.equal(jobFailed('failure', false), true);
    assert.equal(jobFailed('cancelled', false), true);
    assert.equal(jobFailed('success', false), false);
    assert.equal(jobFailed('unknown', false), false);
    assert.equal(jobFailed('unknown', true), true);
    assert.equal(jobFailed('success', true), true);
  });

  it('on-failure uploads only for failures; always and never mean what they say', () => {
    assert.equal(shouldUpload('on-failure', true), true);
    assert.equal(shouldUpload('on-failure', false), false);
    assert.equal(shouldUpload('always', false), true);
    assert.equal(shouldUpload('never', true), false);
  });
});
