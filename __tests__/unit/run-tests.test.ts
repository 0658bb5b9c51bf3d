/**
 * The test command's runner (scripts/run-tests.mjs) on test files written here: a file
 * that hangs once is described, killed and run again; one that Node's timeout ends once
 * runs again too; one that hangs every time fails after its second attempt; a failed
 * assertion is never run again, not even beside a timeout; a file that ends while the
 * watchdog describes it does not stop the run; a file that runs no test fails; nothing a
 * file started is left running.
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
const WATCHDOG_MS = 4000;

const PASS = `import test from 'node:test';\ntest('passes', () => {});\n`;
/** A test that passes, the first time (no marker yet) after doing `first`. */
const ONCE = (marker: string, first: string) => `import test from 'node:test';
import { existsSync, writeFileSync } from 'node:fs';
test('passes, after something slow the first time', async () => {
  if (!existsSync(${JSON.stringify(marker)})) {
    writeFileSync(${JSON.stringify(marker)}, '');
    ${first}
  }
});
`;
/** Leaves a timer running: the file's process never exits, and Node's test timeout never ends it. */
const KEEP_ALIVE = 'setInterval(() => {}, 1000);';
const HANG_ALWAYS = `import test from 'node:test';\ntest('never ends', () => { ${KEEP_ALIVE} });\n`;
const FAIL = `import test from 'node:test';\nimport assert from 'node:assert';\ntest('fails', () => assert.equal(1, 2));\n`;

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function testDir(files: Record<string, string | ((dir: string) => string)>): string {
  const dir = mkdtempSync(join(tmpdir(), 'run-tests-fixture-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), typeof text === 'string' ? text : text(dir));
  return dir;
}
const marker = (dir: string) => join(dir, 'marker');

function runRunner(...args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [RUNNER, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  return new Promise((done) => child.on('close', (code) => done({ code, out })));
}
const onFixtures = (dir: string, ...more: string[]) =>
  runRunner('--dir', dir, '--watchdog-ms', String(WATCHDOG_MS), '--test-timeout-ms', '60000', '--attempts', '2', ...more);

/** Processes whose command line names dir: every fixture file, and what they start, names it. */
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
    const dir = testDir({ 'a-pass.test.js': PASS, 'b-hang-once.test.js': (d) => ONCE(marker(d), KEEP_ALIVE) });
    const { code, out } = await onFixtures(dir);
    assert.equal(code, 0, out);
    assert.match(out, new RegExp(`# watchdog: .*b-hang-once\\.test\\.js still running after ${WATCHDOG_MS} ms`));
    // The kernel side of each process, and the report of the file's own process (not the
    // `node --test` above it) naming the timer that holds it.
    assert.match(out, /# watchdog: pid \d+ \(parent \d+\) [SR] \(/);
    assert.match(out, /# watchdog: node report of pid \d+ \[(?:(?!--test )[^\]])*b-hang-once\.test\.js\]: active handles: .*\btimer(,|$)/m);
    assert.match(out, /# file .*b-hang-once\.test\.js \(attempt 2\)/);
    assert.match(out, /# all files: 2; tests 2, pass 2, fail 0/);
    assert.match(out, /# run again after ending by time: .*b-hang-once\.test\.js/);
    assert.match(out, /# every file passed/);
    assert.deepEqual(survivors(dir), []);
  });

  it("runs again a file that Node's own test timeout ended, when nothing else failed", async () => {
    const dir = testDir({ 'a-slow-once.test.js': (d) => ONCE(marker(d), 'await new Promise((r) => setTimeout(r, 5000));') });
    const { code, out } = await runRunner('--dir', dir, '--watchdog-ms', '30000', '--test-timeout-ms', '1000', '--attempts', '2');
    assert.equal(code, 0, out);
    assert.match(out, /failureType: 'testTimeoutFailure'/);
    assert.doesNotMatch(out, /# watchdog/);
    assert.match(out, /a-slow-once\.test\.js ended by time and failed nothing else; it runs once more/);
    assert.match(out, /# every file passed/);
  });

  it('never runs again a file whose assertion failed, even when it also ran out of time', async () => {
    const dir = testDir({
      'a-fail-and-slow.test.js': (d) => `${FAIL}${ONCE(marker(d), 'await new Promise((r) => setTimeout(r, 5000));').replace(/^import test from 'node:test';\n/, '')}`,
    });
    const { code, out } = await runRunner('--dir', dir, '--watchdog-ms', '30000', '--test-timeout-ms', '1000', '--attempts', '2');
    assert.equal(code, 1, out);
    assert.match(out, /failureType: 'testTimeoutFailure'/);
    assert.doesNotMatch(out, /\(attempt 2\)/);
    assert.match(out, /# failed files:\n# {3}.*a-fail-and-slow\.test\.js \(exit 1\)/);
  });

  it('fails a file that hangs twice and one whose assertion fails, which it runs only once', async () => {
    const dir = testDir({ 'a-hang.test.js': HANG_ALWAYS, 'b-fail.test.js': FAIL });
    const { code, out } = await onFixtures(dir);
    assert.equal(code, 1, out);
    assert.equal(out.match(new RegExp(`still running after ${WATCHDOG_MS} ms`, 'g'))?.length, 2, out);
    assert.doesNotMatch(out, /b-fail\.test\.js \(attempt 2\)/);
    assert.match(out, /# failed files:\n# {3}.*a-hang\.test\.js \(stuck\)\n# {3}.*b-fail\.test\.js \(exit 1\)/);
    assert.deepEqual(survivors(dir), []);
  });

  it('goes on when a file ends while the watchdog waits for its reports', async () => {
    // The file waits for a Node child that handles SIGUSR2 but writes no report, and ends
    // by itself a moment after the watchdog fired, while the runner waits for that report.
    const child = `process.on('SIGUSR2', () => {}); setTimeout(() => {}, ${WATCHDOG_MS + 700});`;
    const dir = testDir({
      'a-ends-late.test.js': (d) => `import test from 'node:test';
import { spawn } from 'node:child_process';
test('waits for a child', async () => {
  const c = spawn(process.execPath, ['-e', ${JSON.stringify(child)}, ${JSON.stringify(d)}], { stdio: 'ignore' });
  await new Promise((r) => c.on('exit', r));
});
`,
      'b-next.test.js': PASS,
    });
    const { code, out } = await runRunner('--dir', dir, '--watchdog-ms', String(WATCHDOG_MS), '--attempts', '1');
    assert.equal(code, 1, out);
    assert.match(out, /# watchdog: 1 of 3 Node processes wrote no report/);
    assert.match(out, /# file .*b-next\.test\.js\n/);
    assert.match(out, /# all files: 2;/);
    assert.match(out, /# failed files:\n# {3}.*a-ends-late\.test\.js \(stuck\)\n\n?$/);
    assert.deepEqual(survivors(dir), []);
  });

  it('kills what a passing file left running in its process group', async () => {
    const dir = testDir({
      'a-leaves-a-process.test.js': (d) => `import test from 'node:test';
import { spawn } from 'node:child_process';
test('starts a process and passes', () => {
  spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ${JSON.stringify(d)}], { stdio: 'ignore' }).unref();
});
`,
    });
    const { code, out } = await onFixtures(dir);
    assert.equal(code, 0, out);
    assert.deepEqual(survivors(dir), []);
  });

  it('fails a file that runs no test or only empty suites, and a folder with no test file', async () => {
    const empty = await onFixtures(testDir({ 'a-empty.test.js': `// no test here\n`, 'b-suite.test.js': `import { describe } from 'node:test';\ndescribe('nothing', () => {});\n` }));
    assert.equal(empty.code, 1, empty.out);
    assert.match(empty.out, /# failed files:\n# {3}.*a-empty\.test\.js \(ran no test\)\n# {3}.*b-suite\.test\.js \(ran no test\)/);
    const none = await onFixtures(testDir({ 'notes.txt': 'not a test' }));
    assert.equal(none.code, 1, none.out);
    assert.match(none.out, /# all files: 0;/);
  });

  it('refuses an unknown argument or a bad number, naming it and what it takes', async () => {
    const unknown = await runRunner('everything');
    assert.equal(unknown.code, 1);
    assert.match(unknown.out, /unknown argument everything: give unit, integration, --dir/);
    const zero = await runRunner('--attempts', '0');
    assert.equal(zero.code, 1);
    assert.match(zero.out, /--attempts 0: give a whole number above 0/);
  });
});
