// The test command's runner: every test file in its own `node --test` (TAP), one at a
// time, the unit files first (seconds) and then the integration files (minutes).
//
// Each file has a wall-clock watchdog that fires before Node's own --test-timeout (which
// Node 20 applies to a file as a whole too, and which says nothing about where a file
// hung). When the watchdog fires, the runner asks each Node process of the file that
// handles SIGUSR2 for a diagnostic report (JavaScript stack, open handles), prints it
// with every process's kernel state, wait channel and kernel stack, the load and the free
// memory, then kills the file's process group. A unit file (pure logic, no engine) that
// ended by time, by the watchdog or by Node's timeout, and failed nothing else, runs
// once more with its first output kept above; ending by time again fails it. A failed
// assertion is never run again, nor is an integration file. A file that ran no test
// fails. After every file its process group is killed, so nothing it started in that
// group outlives it (a test that starts a process in a session of its own, as the engine
// restart test does with dockerd, owns that process).
//
//   node scripts/run-tests.mjs [unit] [integration]      (both when none is named)
//   for the runner's own test: --dir D (the files of D, one phase), --test-timeout-ms N,
//   --watchdog-ms N, --attempts N
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';

const PHASES = {
  unit: { dir: 'build/__tests__/unit', watchdogMs: 90_000, testTimeoutMs: 180_000, attempts: 2 },
  integration: { dir: 'build/__tests__/integration', watchdogMs: 900_000, testTimeoutMs: 1_200_000, attempts: 1 },
};
const COUNTS = ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];
/** Failure types that only say a test ran out of time (or sat under one that did). */
const TIME_ONLY = new Set(['testTimeoutFailure', 'cancelledByParent', 'subtestsFailed']);
/** How long a killed process group may take to go, and reports to be written. */
const KILL_GRACE_MS = 30_000;
const REPORT_WAIT_MS = 5_000;

function parseArgs(argv) {
  const phases = [];
  const custom = {};
  const NUMERIC = { '--test-timeout-ms': 'testTimeoutMs', '--watchdog-ms': 'watchdogMs', '--attempts': 'attempts' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--dir' || arg in NUMERIC) {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      if (arg === '--dir') custom.dir = value;
      else if (/^[1-9]\d*$/.test(value)) custom[NUMERIC[arg]] = Number(value);
      else throw new Error(`${arg} ${value}: give a whole number above 0`);
    } else if (arg in PHASES) phases.push(arg);
    else throw new Error(`unknown argument ${arg}: give unit, integration, --dir, --test-timeout-ms, --watchdog-ms or --attempts`);
  }
  if (custom.dir !== undefined) return [{ name: 'custom', ...PHASES.unit, ...custom }];
  return (phases.length ? phases : Object.keys(PHASES)).map((name) => ({ name, ...PHASES[name], ...custom }));
}

const testFiles = (dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => join(dir, f));

const readOr = (path, fallback = '') => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
};
const listOr = (dir) => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};
const sleep = (ms) => new Promise((wake) => setTimeout(wake, ms));

/** The pids below root (root included), from every process's parent in /proc. */
function processTree(root) {
  const children = new Map();
  for (const entry of listOr('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    const stat = readOr(`/proc/${entry}/stat`);
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(entry));
  }
  const tree = [];
  const queue = [root];
  while (queue.length && tree.length < 1000) {
    const pid = queue.shift();
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

const statusField = (status, name) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '?';
/** A process that has a handler for SIGUSR2 (bit 12 of SigCgt): a Node started with --report-on-signal. */
const catchesUsr2 = (pid) => (BigInt(`0x${statusField(readOr(`/proc/${pid}/status`), 'SigCgt').replace('?', '0')}`) & 0x800n) !== 0n;

/** What the watchdog prints of a stuck file: the kernel side of every process, then the Node reports. */
async function describeStuck(root, reportDir) {
  const pids = processTree(root);
  const asked = pids.filter((pid) => {
    if (!catchesUsr2(pid)) return false;
    try {
      process.kill(pid, 'SIGUSR2');
      return true;
    } catch {
      return false;
    }
  });
  // Each report is written from its process's own event loop: wait, bounded, until every
  // asked process has one that parses (or is gone).
  const reports = new Map();
  for (let waited = 0; waited < REPORT_WAIT_MS; waited += 250) {
    for (const file of listOr(reportDir)) {
      if (reports.has(file)) continue;
      try {
        reports.set(file, JSON.parse(readFileSync(join(reportDir, file), 'utf8')));
      } catch {
        // still being written
      }
    }
    if (asked.every((pid) => !readOr(`/proc/${pid}/stat`) || [...reports.values()].some((r) => r.header?.processId === pid))) break;
    await sleep(250);
  }
  const lines = [`load ${readOr('/proc/loadavg').trim()}; ${/MemAvailable:.*/.exec(readOr('/proc/meminfo'))?.[0] ?? ''}`];
  for (const pid of pids) {
    const status = readOr(`/proc/${pid}/status`);
    lines.push(
      `pid ${pid} (parent ${statusField(status, 'PPid')}) ${statusField(status, 'State')}, wchan ${readOr(`/proc/${pid}/wchan`) || '?'}, threads ${statusField(status, 'Threads')}: ${readOr(`/proc/${pid}/cmdline`).split('\0').join(' ').trim()}`,
    );
    const stack = readOr(`/proc/${pid}/stack`).trim();
    if (stack) lines.push(...stack.split('\n').map((l) => `    ${l}`));
  }
  for (const report of reports.values()) {
    const handles = (report.libuv ?? []).filter((h) => h.is_active).map((h) => `${h.type}${h.is_referenced ? '' : ' (unref)'}`);
    lines.push(`node report of pid ${report.header?.processId} [${(report.header?.commandLine ?? []).join(' ')}]: active handles: ${handles.join(', ') || 'none'}`);
    for (const frame of report.javascriptStack?.stack ?? []) lines.push(`    ${frame}`);
  }
  const missing = asked.length - reports.size;
  if (missing > 0) lines.push(`${missing} of ${asked.length} Node processes wrote no report (gone, or stuck outside their event loop)`);
  return lines.map((l) => `# watchdog: ${l}`).join('\n');
}

let current;
function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
}

/** The outcome of one attempt at a file, from its exit and its TAP. */
function outcome(output, file, { stuck, gone, code, signal }) {
  const counts = Object.fromEntries(COUNTS.map((name) => [name, Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? 0)]));
  const failureTypes = [...output.matchAll(/^\s*failureType: '([^']*)'$/gm)].map((m) => m[1]);
  const timedOut = stuck || failureTypes.includes('testTimeoutFailure');
  // A file that ran no test has proven nothing: Node reports a file without tests as one
  // passing test named by its path, and a file of empty suites passes nothing either.
  const titles = [...output.matchAll(/^\s*# Subtest: (.*)$/gm)].map((m) => m[1]);
  const empty = !titles.some((title) => title !== resolve(file)) || counts.pass + counts.skipped + counts.todo === 0;
  const passed = !stuck && !empty && code === 0 && signal === null;
  const why = stuck ? (gone ? 'stuck' : 'stuck, and still there after SIGKILL') : signal ? `signal ${signal}` : code !== 0 ? `exit ${code}` : empty ? 'ran no test' : '';
  return { passed, onlyTime: timedOut && failureTypes.every((t) => TIME_ONLY.has(t)), counts, why };
}

/** One attempt at one file: its TAP goes through to our stdout as it comes. */
function runFile(file, phase) {
  const reportDir = mkdtempSync(join(tmpdir(), 'nat-net-test-report-'));
  const args = [
    '--report-on-signal',
    '--report-signal=SIGUSR2',
    `--report-directory=${reportDir}`,
    '--test',
    '--test-reporter=tap',
    `--test-timeout=${phase.testTimeoutMs}`,
    file,
  ];
  // Each file is a run of its own, even where this runner itself runs inside a test.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  current = { child, reportDir };
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
    process.stdout.write(chunk);
  });
  const closed = new Promise((done) => child.on('close', (code, signal) => done({ code, signal })));
  let stuck = false;
  let timer;
  // The watchdog: describe the file's processes, then kill its group.
  const fired = new Promise(
    (done) =>
      (timer = setTimeout(() => {
        stuck = true;
        done(
          describeStuck(child.pid, reportDir)
            .then(
              (text) => `its processes:\n${text}`,
              (err) => `describing it failed: ${err.message}`,
            )
            .then((text) => {
              process.stdout.write(`\n# watchdog: ${file} still running after ${phase.watchdogMs} ms; ${text}\n`);
              killGroup(child);
              return 'stuck';
            }),
        );
      }, phase.watchdogMs)),
  );
  return (async () => {
    const first = await Promise.race([closed, fired]);
    // Killed after the watchdog: it has a bounded time to go (a process stuck in the kernel may not).
    const exit = first === 'stuck' ? await within(closed, KILL_GRACE_MS) : first;
    clearTimeout(timer);
    // The watchdog may have fired as the file ended: let it finish with the reports first.
    if (stuck) await fired;
    // Whatever the file started in its group goes with it.
    killGroup(child);
    current = undefined;
    rmSync(reportDir, { recursive: true, force: true });
    return outcome(output, file, { stuck, gone: exit !== undefined, ...(exit ?? { code: null, signal: null }) });
  })();
}

/** promise's value, or undefined after ms. */
async function within(promise, ms) {
  let timer;
  const expiry = new Promise((done) => (timer = setTimeout(done, ms)));
  try {
    return await Promise.race([promise, expiry]);
  } finally {
    clearTimeout(timer);
  }
}

function cleanUpAndExit(code) {
  if (current) {
    killGroup(current.child);
    rmSync(current.reportDir, { recursive: true, force: true });
  }
  process.exit(code);
}
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) process.on(sig, () => cleanUpAndExit(code));

async function main() {
  const phases = parseArgs(process.argv.slice(2));
  const totals = Object.fromEntries(COUNTS.map((name) => [name, 0]));
  const failed = [];
  const reran = [];
  let files = 0;
  for (const phase of phases) {
    for (const file of testFiles(phase.dir)) {
      files++;
      const name = relative(process.cwd(), file);
      let result;
      for (let attempt = 1; attempt <= phase.attempts; attempt++) {
        process.stdout.write(`# file ${name}${attempt > 1 ? ` (attempt ${attempt})` : ''}\n`);
        result = await runFile(file, phase);
        if (result.passed || !result.onlyTime || attempt === phase.attempts) break;
        process.stdout.write(`# ${name} ended by time and failed nothing else; it runs once more\n`);
        reran.push(name);
      }
      for (const count of COUNTS) totals[count] += result.counts[count];
      if (!result.passed) failed.push(`${name} (${result.why})`);
    }
  }
  process.stdout.write(
    `\n# all files: ${files}; ${COUNTS.map((c) => `${c} ${totals[c]}`).join(', ')}\n` +
      (reran.length ? `# run again after ending by time: ${reran.join(', ')}\n` : '') +
      (failed.length
        ? `# failed files:\n${failed.map((f) => `#   ${f}`).join('\n')}\n`
        : files === 0
          ? `# no test file in ${phases.map((p) => p.dir).join(', ')}\n`
          : '# every file passed\n'),
  );
  return failed.length || files === 0 ? 1 : 0;
}

main().then(
  (code) => cleanUpAndExit(code),
  (err) => {
    process.stderr.write(`run-tests: ${err.message}\n`);
    cleanUpAndExit(1);
  },
);
