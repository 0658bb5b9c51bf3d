// The test command's runner: every test file in its own `node --test` (TAP), one at a
// time, the unit files first (seconds) and then the integration files (minutes).
//
// Node's --test-timeout ends a test that runs too long, but not a file whose process
// never exits (a handle left open) or a process that is stuck where no timer of its own
// runs. So each file also has a wall-clock watchdog. When it fires, the runner asks each
// Node process in the file's tree for a diagnostic report (JavaScript stack, libuv
// handles), prints that with every process's kernel state, wait channel and kernel
// stack, the load and the free memory, and kills the tree. A unit file (pure logic, no
// engine) that ended by time, by the watchdog or by Node's own timeout, is run once more
// with the first attempt's output kept above; it fails if it ends by time again, and a
// failed assertion is never run again. Integration files run once.
//
//   node scripts/run-tests.mjs [unit] [integration]      (both when none is named)
//   options for the runner's own test: --dir D (files of D, one phase), --test-timeout-ms N,
//   --watchdog-ms N, --attempts N
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';

const PHASES = {
  unit: { dir: 'build/__tests__/unit', testTimeoutMs: 60_000, watchdogMs: 180_000, attempts: 2 },
  integration: { dir: 'build/__tests__/integration', testTimeoutMs: 600_000, watchdogMs: 1_800_000, attempts: 1 },
};
const COUNTS = ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];

function parseArgs(argv) {
  const phases = [];
  const custom = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--dir') custom.dir = value();
    else if (arg === '--test-timeout-ms') custom.testTimeoutMs = Number(value());
    else if (arg === '--watchdog-ms') custom.watchdogMs = Number(value());
    else if (arg === '--attempts') custom.attempts = Number(value());
    else if (arg in PHASES) phases.push(arg);
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

/** The pids below root (root included), from every process's parent in /proc. */
function processTree(root) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
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

const sleep = (ms) => new Promise((wake) => setTimeout(wake, ms));

/** What the watchdog prints of a stuck file: kernel side of every process, then the Node reports. */
async function describeStuck(root, reportDir) {
  const pids = processTree(root);
  const nodes = pids.filter((pid) => /(^|\/)node$/.test(readOr(`/proc/${pid}/cmdline`).split('\0')[0]));
  for (const pid of nodes) {
    try {
      process.kill(pid, 'SIGUSR2');
    } catch {
      // gone already
    }
  }
  // A report is written from the process's own event loop; give it a moment, bounded.
  for (let i = 0; i < 20 && readdirSync(reportDir).length < nodes.length; i++) await sleep(250);
  const lines = [`load ${readOr('/proc/loadavg').trim()}; ${/MemAvailable:.*/.exec(readOr('/proc/meminfo'))?.[0] ?? ''}`];
  for (const pid of pids) {
    const status = readOr(`/proc/${pid}/status`);
    const field = (name) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '?';
    lines.push(
      `pid ${pid} (parent ${field('PPid')}) ${field('State')}, wchan ${readOr(`/proc/${pid}/wchan`) || '?'}, threads ${field('Threads')}: ${readOr(`/proc/${pid}/cmdline`).split('\0').join(' ').trim()}`,
    );
    const stack = readOr(`/proc/${pid}/stack`).trim();
    if (stack) lines.push(...stack.split('\n').map((l) => `    ${l}`));
  }
  for (const file of readdirSync(reportDir)) {
    try {
      const report = JSON.parse(readFileSync(join(reportDir, file), 'utf8'));
      lines.push(`node report of pid ${report.header?.processId}: ${report.javascriptStack?.message ?? ''}`);
      for (const frame of report.javascriptStack?.stack ?? []) lines.push(`    ${frame}`);
      const handles = (report.libuv ?? []).filter((h) => h.is_active).map((h) => `${h.type}${h.is_referenced ? '' : ' (unref)'}`);
      lines.push(`    active handles: ${handles.join(', ') || 'none'}`);
    } catch (err) {
      lines.push(`node report ${file} unreadable: ${err.message}`);
    }
  }
  if (!readdirSync(reportDir).length) lines.push('no node report came (a process stuck outside its event loop cannot write one)');
  return lines.map((l) => `# watchdog: ${l}`).join('\n');
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
  current = child;
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
    process.stdout.write(chunk);
  });
  return new Promise((done) => {
    let stuck = false;
    const watchdog = setTimeout(async () => {
      stuck = true;
      const described = await describeStuck(child.pid, reportDir);
      process.stdout.write(`\n# watchdog: ${file} still running after ${phase.watchdogMs} ms; its processes:\n${described}\n`);
      killGroup(child);
    }, phase.watchdogMs);
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      current = undefined;
      rmSync(reportDir, { recursive: true, force: true });
      const counts = Object.fromEntries(
        COUNTS.map((name) => [name, Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? 0)]),
      );
      const timedOut = stuck || /test timed out after \d+ms/.test(output);
      // A file that ran no test has proven nothing: that is a failure too. (Node reports a
      // file without tests as one passing test named by the file's path.)
      const subtests = [...output.matchAll(/^\s*# Subtest: (.*)$/gm)].map((m) => m[1]);
      const empty = !subtests.some((title) => title !== resolve(file));
      const passed = !stuck && !empty && code === 0 && signal === null;
      done({ passed, timedOut, stuck, empty, counts, code, signal });
    });
  });
}

let current;
function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
}
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.on(sig, () => {
    if (current) killGroup(current);
    process.exit(code);
  });
}

const why = (r) => (r.stuck ? 'stuck' : r.signal ? `signal ${r.signal}` : r.code !== 0 ? `exit ${r.code}` : 'ran no test');

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
        if (result.passed || !result.timedOut || attempt === phase.attempts) break;
        process.stdout.write(`# ${name} ended by time (${result.stuck ? 'watchdog' : "node's test timeout"}); a unit file, so it runs once more\n`);
        reran.push(name);
      }
      for (const count of COUNTS) totals[count] += result.counts[count];
      if (!result.passed) failed.push(`${name} (${why(result)})`);
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
  process.exitCode = failed.length || files === 0 ? 1 : 0;
}

await main();
