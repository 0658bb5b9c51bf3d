/**
 * The test command's runner (scripts/run-tests.mjs) on test files written here: a file
 * that hangs once is described, killed and run again; one that hangs every time fails
 * after its second attempt; a failed assertion is never run again; nothing the runner
 * killed is left running.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const RUNNER = join(ROOT, 'scripts/run-tests.mjs');

const PASS = `import test from 'node:test';\ntest('passes', () => {});\n`;
/** Passes its test, then keeps its process alive with a timer: Node's test timeout never ends it. */
const HANG_ONCE = (marker: string) => `import test from 'node:test';
import { existsSync, writeFileSync } from 'node:fs';
test('passes, and the first time leaves a timer running', () => {
  if (!existsSync(${JSON.stringify(marker)})) {
    writeFileSync(${JSON.stringify(marker)}, '');
    setInterval(() => {}, 1000);
  }
});
`;
const HANG_ALWAYS = `import test from 'node:test';\ntest('never ends', () => { setInterval(() => {}, 1000); });\n`;
const FAIL = `import test from 'node:test';\nimport assert from 'node:assert';\ntest('fails', () => assert.equal(1, 2));\n`;

const fixtures = (dir: string) => ['--dir', dir, '--watchdog-ms', '2000', '--test-timeout-ms', '60000', '--attempts', '2'];

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function testDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'run-tests-fixture-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function runRunner(...args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [RUNNER, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  return new Promise((done) => child.on('close', (code) => done({ code, out })));
}

/** Processes still running a file of dir (the runner kills the whole tree of a stuck file). */
function survivors(dir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('the test runner', () => {
  it('describes and kills a file that hangs, runs it again, and passes when the second run passes', async () => {
    const dir = testDir({ 'a-pass.test.js': PASS, 'b-hang-once.test.js': HANG_ONCE(join(tmpdir(), `hang-once-${process.pid}`)) });
    dirs.push(join(tmpdir(), `hang-once-${process.pid}`));
    const { code, out } = await runRunner(...fixtures(dir));
    assert.equal(code, 0, out);
    assert.match(out, /# watchdog: .*b-hang-once\.test\.js still running after 2000 ms/);
    // The kernel side of each process, and the Node report naming the timer that holds it.
    assert.match(out, /# watchdog: pid \d+ \(parent \d+\) [SR] \(/);
    assert.match(out, /# watchdog: {5}active handles: .*timer/);
    assert.match(out, /# file .*b-hang-once\.test\.js \(attempt 2\)/);
    assert.match(out, /# all files: 2; tests 2, pass 2, fail 0/);
    assert.match(out, /# run again after ending by time: .*b-hang-once\.test\.js/);
    assert.match(out, /# every file passed/);
    assert.deepEqual(survivors(dir), []);
  });

  it('fails a file that hangs twice and one whose assertion fails, which it runs only once', async () => {
    const dir = testDir({ 'a-hang.test.js': HANG_ALWAYS, 'b-fail.test.js': FAIL });
    const { code, out } = await runRunner(...fixtures(dir));
    assert.equal(code, 1, out);
    assert.equal(out.match(/still running after 2000 ms/g)?.length, 2, out);
    assert.doesNotMatch(out, /b-fail\.test\.js \(attempt 2\)/);
    assert.match(out, /# failed files:\n# {3}.*a-hang\.test\.js \(stuck\)\n# {3}.*b-fail\.test\.js \(exit 1\)/);
    assert.deepEqual(survivors(dir), []);
  });

  it('fails a file that runs no test, and a folder with no test file', async () => {
    const empty = await runRunner(...fixtures(testDir({ 'a-empty.test.js': `// no test here\n` })));
    assert.equal(empty.code, 1, empty.out);
    assert.match(empty.out, /# failed files:\n# {3}.*a-empty\.test\.js \(ran no test\)/);
    const none = await runRunner(...fixtures(testDir({ 'notes.txt': 'not a test' })));
    assert.equal(none.code, 1, none.out);
    assert.match(none.out, /# all files: 0;/);
  });

  it('refuses an unknown argument, naming it and what it takes', async () => {
    const { code, out } = await runRunner('everything');
    assert.notEqual(code, 0);
    assert.match(out, /unknown argument everything: give unit, integration, --dir/);
  });
});
