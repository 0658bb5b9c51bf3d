/**
 * `npm run bench`: our bring-up and teardown against the engine's own floor (see
 * scripts/floor.ts), in one process, for several topology sizes, alternating the
 * contenders so that load from anything else on the machine falls on all of them.
 * Prints medians and ratios and writes every raw figure as JSON. Not a test: no
 * thresholds; a regression shows in the table.
 *
 *   npm run bench -- [--sizes 3,5,10,20] [--repeats 3] [--gateways 1]
 *                    [--floors bare,wired] [--diagnostics-sizes 10] [--warmup 1]
 *                    [--out bench-results.json]
 *
 * Sizes count peers; every topology also has --gateways gateways. Each peer is behind
 * its own router (the default), so N peers and G gateways are N+1 networks, N routers
 * and N+G nodes. Interrupted (SIGINT/SIGTERM), it stops, removes everything it made
 * (found by its labels) and exits.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { bringUp, hostRoutes, newTopologyId, ownerLabel, prepareImages } from '../src/core/bring-up.js';
import { down } from '../src/core/down.js';
import type { PhaseTimings, TopologyRecord } from '../src/core/record.js';
import { collectDiagnostics } from '../src/diagnostics/collect.js';
import { connectEngine, type Engine } from '../src/engine/engine.js';
import { engineSubnets } from '../src/engine/resources.js';
import { pollUntil } from '../src/engine/wait.js';
import { LABEL } from '../src/plan/labels.js';
import { makePlan } from '../src/plan/plan.js';
import { parseSpec } from '../src/spec/parse.js';
import type { TopologySpec } from '../src/spec/types.js';
import { floorCounts, floorDown, floorLeftovers, floorUp, removeAbandonedFloors, type FloorCounts, type FloorShape } from './floor.js';

const ROOT = process.cwd();
const TEST_PEER = join(ROOT, 'dist/test-peer/nat-net-test-peer.cjs');
const ROUTER_LIMIT_BYTES = 10 * 1024 * 1024;

interface Options {
  sizes: number[];
  repeats: number;
  gateways: number;
  floors: FloorShape[];
  diagnosticsSizes: number[];
  warmup: number;
  out: string;
}

function parseOptions(argv: string[]): Options {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}'`);
    const [key, inline] = arg.slice(2).split('=', 2);
    if (key === 'help') {
      console.log('npm run bench -- [--sizes 3,5,10,20] [--repeats 3] [--gateways 1] [--floors bare,wired] [--diagnostics-sizes 10] [--warmup 1] [--out bench-results.json]');
      process.exit(0);
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${key} needs a value`);
    flags.set(key, value);
  }
  const known = new Set(['sizes', 'repeats', 'gateways', 'floors', 'diagnostics-sizes', 'warmup', 'out']);
  for (const key of flags.keys()) if (!known.has(key)) throw new Error(`unknown flag --${key}; known: ${[...known].map((k) => `--${k}`).join(' ')}`);
  const ints = (key: string, fallback: string, min: number) => {
    const list = (flags.get(key) ?? fallback).split(',').filter((s) => s.trim() !== '').map((s) => Number(s.trim()));
    if (list.some((n) => !Number.isInteger(n) || n < min)) throw new Error(`--${key}: whole numbers >= ${min}, comma separated`);
    return list;
  };
  const floors = (flags.get('floors') ?? 'bare,wired').split(',').map((s) => s.trim()) as FloorShape[];
  if (floors.some((f) => f !== 'bare' && f !== 'wired') || !floors.includes('bare')) throw new Error('--floors: bare, or bare,wired');
  return {
    sizes: [...new Set(ints('sizes', '3,5,10,20', 1))].sort((a, b) => a - b),
    repeats: ints('repeats', '3', 1)[0],
    gateways: ints('gateways', '1', 1)[0],
    floors,
    diagnosticsSizes: ints('diagnostics-sizes', '10', 0),
    warmup: ints('warmup', '1', 0)[0],
    out: resolve(flags.get('out') ?? 'bench-results.json'),
  };
}

type Contender = 'ours' | FloorShape;

interface Run {
  contender: Contender;
  peers: number;
  repeat: number;
  upMs: number;
  downMs: number;
  phases?: PhaseTimings;
  diagnosticsMs?: number;
  diagnosticsError?: string;
  leftovers: number;
  /** Why this run does not count (it is left out of the medians). */
  error?: string;
  /** Floor runs: what was created. */
  counts?: FloorCounts;
}

interface MemorySample {
  peers: number;
  name: string;
  role: string;
  /** What `docker stats` shows: usage minus inactive page cache. */
  usageBytes: number;
  /** Anonymous resident memory of the container's processes (cgroup rss / anon). */
  rssBytes: number;
}

// ---- clean-up on interrupt -------------------------------------------------------

const benchId = randomBytes(3).toString('hex');
const interrupt = new AbortController();
const ourTopologies = new Set<string>();
const floorRuns = new Set<string>();
const inFlight = new Set<Promise<unknown>>();
const track = (p: Promise<unknown>) => {
  inFlight.add(p);
  p.then(
    () => inFlight.delete(p),
    () => inFlight.delete(p),
  );
};

function onSignal(signal: string) {
  if (interrupt.signal.aborted) {
    console.error(`\n${signal} again: still removing what the bench made; please wait`);
    return;
  }
  console.error(`\n${signal}: stopping, then removing everything this bench made`);
  interrupt.abort();
}

/**
 * Removes every topology and floor this process made, again (with growing pauses)
 * until the labels find nothing or a deadline passes. Returns what could not be removed.
 */
async function cleanUp(engine: Engine): Promise<string[]> {
  // An engine that went away (restarted meanwhile) is asked again until the deadline.
  const gone = (count: Promise<number>) => count.then((n) => n === 0, () => false);
  await pollUntil(async () => {
    await Promise.allSettled([...inFlight]);
    for (const id of ourTopologies) {
      const result = await down(engine, id).catch((e: Error) => ({ containers: 0, networks: 0, volumes: 0, errors: [e.message] }));
      if (result.errors.length === 0 && (await gone(ourLeftovers(engine, id)))) ourTopologies.delete(id);
    }
    for (const run of floorRuns) {
      await floorDown(engine.docker, run).catch(() => {});
      if (await gone(floorLeftovers(engine.docker, run))) floorRuns.delete(run);
    }
    return ourTopologies.size + floorRuns.size === 0 ? true : undefined;
  }, Date.now() + 60_000);
  return [...[...ourTopologies].map((id) => `topology ${id}`), ...[...floorRuns].map((run) => `floor run ${run}`)];
}

async function ourLeftovers(engine: Engine, topologyId: string): Promise<number> {
  const filters = JSON.stringify({ label: [`${LABEL.topology}=${topologyId}`] });
  const [c, n, v] = await Promise.all([
    engine.docker.listContainers({ all: true, filters }),
    engine.docker.listNetworks({ filters }),
    engine.docker.listVolumes({ filters }),
  ]);
  return c.length + n.length + (v.Volumes ?? []).length;
}

function checkInterrupted(): void {
  if (interrupt.signal.aborted) throw new Error('interrupted');
}

// ---- the contenders ----------------------------------------------------------------

function specFor(peers: number, gateways: number): TopologySpec {
  return parseSpec(
    { binary: TEST_PEER, gateways: String(gateways), peers: String(peers), name: 'bench', 'ready-timeout': '300' },
    { cwd: ROOT, env: process.env },
  );
}

async function memoryOf(engine: Engine, record: TopologyRecord, peers: number): Promise<MemorySample[]> {
  const targets = [
    ...record.routers.map((r) => ({ id: r.containerId, name: r.name, role: 'router' })),
    ...record.nodes.map((n) => ({ id: n.containerId, name: n.name, role: n.role })),
  ];
  return Promise.all(
    targets.map(async (t) => {
      const stats = await engine.call(`stats of ${t.name}`, () => engine.docker.getContainer(t.id).stats({ stream: false, 'one-shot': true }));
      const m = stats.memory_stats as { usage?: number; stats?: Record<string, number> };
      const s = m.stats ?? {};
      // cgroup v1 names, then v2.
      const inactive = s.total_inactive_file ?? s.inactive_file ?? 0;
      const rss = s.total_rss ?? s.rss ?? s.anon ?? 0;
      return { peers, name: t.name.replace(`nn-${record.topologyId}-`, ''), role: t.role, usageBytes: Math.max(0, (m.usage ?? 0) - inactive), rssBytes: rss };
    }),
  );
}

async function runOurs(
  engine: Engine,
  opts: Options,
  peers: number,
  repeat: number,
  extras: { memory: boolean; collect?: boolean },
  memory: MemorySample[],
): Promise<Run> {
  const spec = specFor(peers, opts.gateways);
  const topologyId = newTopologyId(spec.name);
  ourTopologies.add(topologyId);
  const run: Run = { contender: 'ours', peers, repeat, upMs: NaN, downMs: NaN, leftovers: 0 };
  let teardownErrors: string[] = [];
  try {
    const t0 = performance.now();
    const images = await prepareImages(engine, spec, () => {});
    const record = await bringUp(engine, spec, {
      topologyId,
      images,
      hooks: { signal: interrupt.signal },
      teardown: () => down(engine, topologyId),
    });
    run.upMs = performance.now() - t0;
    record.timingsMs.images = images.imagesMs;
    run.phases = record.timingsMs;
    checkInterrupted();
    if (extras.memory) memory.push(...(await memoryOf(engine, record, peers)));
    if (extras.collect) {
      const dir = join(ROOT, 'build', 'bench-diagnostics', topologyId);
      const d0 = performance.now();
      try {
        await collectDiagnostics(engine, { topologyId, dir, record });
        run.diagnosticsMs = performance.now() - d0;
      } catch (error) {
        run.diagnosticsError = (error as Error).message.split('\n')[0];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } catch (error) {
    if (interrupt.signal.aborted) throw error;
    run.error = `bring-up: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    const t1 = performance.now();
    teardownErrors = await down(engine, topologyId).then(
      (r) => r.errors,
      (e: Error) => [e.message],
    );
    run.downMs = performance.now() - t1;
  }
  if (teardownErrors.length > 0) run.error = `${run.error ? `${run.error}; ` : ''}teardown: ${teardownErrors.join('; ')}`;
  if (run.error) run.upMs = run.downMs = NaN;
  run.leftovers = await ourLeftovers(engine, topologyId);
  if (run.leftovers === 0) ourTopologies.delete(topologyId);
  return run;
}

let floorCount = 0;
async function runFloor(engine: Engine, opts: Options, shape: FloorShape, peers: number, repeat: number): Promise<Run> {
  const spec = specFor(peers, opts.gateways);
  const runId = `${benchId}-${++floorCount}`;
  const images = await prepareImages(engine, spec, () => {});
  // The same subnets, names and counts our plan would choose (planned before the clock starts).
  const plan = makePlan(spec, {
    topologyId: `bf-${runId}`,
    createdAt: new Date().toISOString(),
    owner: ownerLabel(),
    taken: [...(await engineSubnets(engine)), ...hostRoutes()],
    routerImage: images.routerImage,
    peerImage: images.peerImage,
    startHint: randomBytes(2).readUInt16BE(0),
  });
  floorRuns.add(runId);
  const run: Run = { contender: shape, peers, repeat, upMs: NaN, downMs: NaN, leftovers: 0, counts: floorCounts(plan) };
  const t0 = performance.now();
  try {
    await floorUp(engine.docker, plan, runId, shape, track);
    run.upMs = performance.now() - t0;
  } catch (error) {
    // e.g. another topology took a planned subnet meanwhile: this run does not count.
    run.error = `bring-up: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    await Promise.allSettled([...inFlight]);
    const t1 = performance.now();
    await floorDown(engine.docker, runId).then(
      () => (run.downMs = performance.now() - t1),
      (error: Error) => (run.error = `${run.error ? `${run.error}; ` : ''}teardown: ${error.message}`),
    );
  }
  if (run.error) run.upMs = run.downMs = NaN;
  run.leftovers = await floorLeftovers(engine.docker, runId);
  if (run.leftovers === 0) floorRuns.delete(runId);
  if (interrupt.signal.aborted) throw new Error('interrupted');
  return run;
}

// ---- figures -------------------------------------------------------------------------

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const sec = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '-');
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : '-');
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

interface SizeSummary {
  peers: number;
  nodes: number;
  networks: number;
  floorContainers: number;
  ourContainers: number;
  runs: number;
  /** Runs of any contender at this size that failed and are left out of the medians. */
  failedRuns: number;
  up: Record<Contender, number>;
  down: Record<Contender, number>;
  upRatio: Partial<Record<FloorShape, number>>;
  downRatio: Partial<Record<FloorShape, number>>;
  phases: Omit<PhaseTimings, 'total'> & { total: number };
  diagnosticsMs?: number;
  diagnosticsToUp?: number;
}

function summarize(opts: Options, runs: Run[]): SizeSummary[] {
  return opts.sizes.map((peers) => {
    const of = (c: Contender) => runs.filter((r) => r.peers === peers && r.contender === c && !r.error);
    const up = {} as Record<Contender, number>;
    const dn = {} as Record<Contender, number>;
    for (const c of ['ours', ...opts.floors] as Contender[]) {
      up[c] = median(of(c).map((r) => r.upMs));
      dn[c] = median(of(c).map((r) => r.downMs));
    }
    const ours = of('ours');
    const phase = (k: keyof PhaseTimings) => median(ours.map((r) => r.phases![k]));
    const diag = ours.filter((r) => r.diagnosticsMs !== undefined).map((r) => r.diagnosticsMs!);
    const upRatio: Partial<Record<FloorShape, number>> = {};
    const downRatio: Partial<Record<FloorShape, number>> = {};
    for (const f of opts.floors) {
      upRatio[f] = up.ours / up[f];
      downRatio[f] = dn.ours / dn[f];
    }
    const nodes = peers + opts.gateways;
    const counts = of('bare')[0]?.counts;
    return {
      peers,
      nodes,
      networks: counts?.networks ?? peers + 1,
      floorContainers: counts?.containers ?? peers + nodes,
      // routers + nodes + one helper per gateway (the sizes' peers are all NATed) + the binary loader
      ourContainers: peers + nodes + opts.gateways + 1,
      runs: ours.length,
      failedRuns: runs.filter((r) => r.peers === peers && r.error).length,
      up,
      down: dn,
      upRatio,
      downRatio,
      phases: { images: phase('images'), networks: phase('networks'), routers: phase('routers'), nodes: phase('nodes'), readiness: phase('readiness'), total: phase('total') },
      ...(diag.length ? { diagnosticsMs: median(diag), diagnosticsToUp: median(diag) / up.ours } : {}),
    };
  });
}

function growth(opts: Options, summary: SizeSummary[]): { from: number; to: number; note: string; up: Record<string, number>; down: Record<string, number> } | undefined {
  if (summary.length < 2) return undefined;
  const want = summary.find((s) => s.peers === 5) && summary.find((s) => s.peers === 20);
  const from = want ? summary.find((s) => s.peers === 5)! : summary[0];
  const to = want ? summary.find((s) => s.peers === 20)! : summary[summary.length - 1];
  const up: Record<string, number> = {};
  const dn: Record<string, number> = {};
  for (const c of ['ours', ...opts.floors]) {
    up[c] = to.up[c as Contender] / from.up[c as Contender];
    dn[c] = to.down[c as Contender] / from.down[c as Contender];
  }
  const note = want
    ? 'time(20 peers) / time(5 peers), the issue\'s linearity figure (linear would be 4.0; the issue allows 4.5)'
    : `time(${to.peers} peers) / time(${from.peers} peers) (5 and 20 were not both measured; linear would be ${(to.peers / from.peers).toFixed(2)})`;
  return { from: from.peers, to: to.peers, note, up, down: dn };
}

function report(opts: Options, summary: SizeSummary[], memory: MemorySample[]): string {
  const lines: string[] = [];
  const head = ['peers', 'nodes', 'nets', 'ctrs', 'ours up', ...opts.floors.map((f) => `${f} up`), ...opts.floors.map((f) => `up/${f}`)];
  head.push('ours down', ...opts.floors.map((f) => `${f} down`), ...opts.floors.map((f) => `down/${f}`), 'diag', 'diag/up');
  const rows = [head];
  for (const s of summary) {
    rows.push([
      String(s.peers),
      String(s.nodes),
      String(s.networks),
      String(s.floorContainers),
      sec(s.up.ours),
      ...opts.floors.map((f) => sec(s.up[f])),
      ...opts.floors.map((f) => ratio(s.up.ours, s.up[f])),
      sec(s.down.ours),
      ...opts.floors.map((f) => sec(s.down[f])),
      ...opts.floors.map((f) => ratio(s.down.ours, s.down[f])),
      s.diagnosticsMs !== undefined ? sec(s.diagnosticsMs) : opts.diagnosticsSizes.includes(s.peers) ? 'failed' : '-',
      s.diagnosticsToUp !== undefined ? s.diagnosticsToUp.toFixed(2) : '-',
    ]);
  }
  lines.push(`Medians of ${opts.repeats} run(s) each, seconds (${opts.gateways} gateway(s); each peer behind its own router):`, '', table(rows), '');
  const failed = summary.filter((s) => s.failedRuns > 0);
  if (failed.length > 0) lines.push(`Left out of the medians, failed runs: ${failed.map((s) => `${s.failedRuns} at ${s.peers} peers`).join(', ')} (see the run lines above).`, '');
  lines.push(
    'nets/ctrs: networks and long-lived containers of the topology (the floor creates exactly these).',
    '  Ours also runs one short-lived helper container per gateway and one loader container, and makes one volume.',
    "ours up: from the first call (image check, subnet listing, plan) until every node's WebSocket port answers HTTP.",
    'bare: the floor - the same networks and containers, created and started in parallel, running sleep.',
    ...(opts.floors.includes('wired')
      ? ['wired: bare plus the shape: fixed addresses, routers also on their LAN, one 127.0.0.1 port per node, init.']
      : []),
    `diag: collectDiagnostics (what the post step saves)${opts.diagnosticsSizes.length ? `, timed at ${opts.diagnosticsSizes.join(', ')} peers` : ''}.`,
    '',
  );
  const g = growth(opts, summary);
  if (g) {
    lines.push(`Growth, ${g.note}:`);
    lines.push(`  bring-up: ${Object.entries(g.up).map(([c, v]) => `${c} ${v.toFixed(2)}`).join(', ')}`);
    lines.push(`  teardown: ${Object.entries(g.down).map(([c, v]) => `${c} ${v.toFixed(2)}`).join(', ')}`, '');
  }
  const phaseRows = [['peers', 'images', 'networks', 'routers', 'nodes', 'readiness', 'total']];
  for (const s of summary) {
    const p = s.phases;
    phaseRows.push([String(s.peers), sec(p.images), sec(p.networks), sec(p.routers), sec(p.nodes), sec(p.readiness), sec(p.total)]);
  }
  lines.push('Our phase timings (medians; networks/routers/nodes are elapsed since the start of apply, readiness is its own span):', '', table(phaseRows), '');
  if (memory.length > 0) {
    const memRows = [['peers', 'role', 'count', 'usage median', 'usage max', 'rss median', 'rss max']];
    for (const peers of opts.sizes) {
      for (const role of ['router', 'gateway', 'peer']) {
        const m = memory.filter((x) => x.peers === peers && x.role === role);
        if (m.length === 0) continue;
        memRows.push([
          String(peers),
          role,
          String(m.length),
          mib(median(m.map((x) => x.usageBytes))),
          mib(Math.max(...m.map((x) => x.usageBytes))),
          mib(median(m.map((x) => x.rssBytes))),
          mib(Math.max(...m.map((x) => x.rssBytes))),
        ]);
      }
    }
    lines.push('Engine memory per container after bring-up, MiB (stats API, one-shot; usage = as `docker stats` shows, rss = anonymous resident):', '', table(memRows), '');
    const heavy = memory.filter((x) => x.role === 'router' && x.usageBytes > ROUTER_LIMIT_BYTES);
    lines.push(
      heavy.length === 0
        ? 'Every router is under 10 MiB.'
        : `ROUTERS ABOVE 10 MiB: ${heavy.map((x) => `${x.name} (${x.peers} peers) ${mib(x.usageBytes)} MiB`).join(', ')}`,
      '',
    );
  }
  return lines.join('\n');
}

// ---- main ----------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const engine = await connectEngine();
  const abandoned = await removeAbandonedFloors(engine.docker);
  const started = new Date();
  console.log(`nat-net bench ${benchId} on ${engine.describe}, ${cpus().length} CPUs, ${mib(totalmem())} MiB memory`);
  console.log(`sizes ${opts.sizes.join(',')} peers x ${opts.repeats} repeats; contenders ours, ${opts.floors.join(', ')}; diagnostics for ${opts.diagnosticsSizes.join(',') || 'none'}\n`);
  if (abandoned.length > 0) console.log(`removed the floors of earlier bench runs that were killed: ${abandoned.join(', ')}\n`);

  const runs: Run[] = [];
  const memory: MemorySample[] = [];
  let failure: Error | undefined;
  let left: string[] = [];
  try {
    for (let w = 0; w < opts.warmup; w++) {
      console.log(`warm-up (${opts.sizes[0]} peers, not counted)`);
      await runOurs(engine, opts, opts.sizes[0], -1, { memory: false }, memory);
      await runFloor(engine, opts, 'bare', opts.sizes[0], -1);
    }
    for (let repeat = 0; repeat < opts.repeats; repeat++) {
      for (const peers of opts.sizes) {
        // Alternate who goes first, so a drift in background load falls on both.
        const order: Contender[] = repeat % 2 === 0 ? ['ours', ...opts.floors] : [...([...opts.floors].reverse() as Contender[]), 'ours'];
        for (const contender of order) {
          checkInterrupted();
          const run =
            contender === 'ours'
              ? await runOurs(
                  engine,
                  opts,
                  peers,
                  repeat,
                  { memory: repeat === 0, collect: opts.diagnosticsSizes.includes(peers) },
                  memory,
                )
              : await runFloor(engine, opts, contender, peers, repeat);
          runs.push(run);
          console.log(
            `  run ${repeat + 1}/${opts.repeats}  ${String(peers).padStart(3)} peers  ${contender.padEnd(5)}  up ${sec(run.upMs)} s  down ${sec(run.downMs)} s` +
              (run.phases ? `  (networks ${run.phases.networks}, routers ${run.phases.routers}, nodes ${run.phases.nodes}, readiness ${run.phases.readiness} ms)` : '') +
              (run.diagnosticsMs !== undefined ? `  diagnostics ${sec(run.diagnosticsMs)} s` : '') +
              (run.diagnosticsError ? `  diagnostics failed: ${run.diagnosticsError}` : '') +
              (run.error ? `  FAILED (not counted): ${run.error}` : '') +
              (run.leftovers ? `  LEFT ${run.leftovers} RESOURCES` : ''),
          );
        }
      }
    }
  } catch (error) {
    failure = error as Error;
  } finally {
    left = await cleanUp(engine);
    console.log(
      left.length === 0
        ? '\nengine clean: nothing labelled by this bench remains'
        : `\nWARNING: not removed (see \`docker network ls\` / \`docker ps -a\` with these labels): ${left.join(', ')}`,
    );
  }
  if (failure) {
    console.error(`bench stopped: ${failure.message}`);
    if (runs.length === 0) return 1;
  }

  const summary = summarize(opts, runs);
  console.log(`\n${report(opts, summary, memory)}`);
  const result = {
    tool: 'nat-net bench',
    benchId,
    date: started.toISOString(),
    machine: { cpus: cpus().length, memoryMiB: Math.round(totalmem() / 1024 / 1024), engine: engine.describe, node: process.version },
    options: { ...opts, out: undefined },
    definitions: {
      up: "first call (image check, subnet listing, plan, apply) until every node's WebSocket port answers HTTP",
      down: 'teardown by label until the engine answers for every removal',
      bare: 'the same networks (same subnets) and long-lived containers (routers + nodes) created and started in parallel via dockerode, running sleep; removed the same way',
      wired: 'bare plus fixed addresses, each router connected to its LAN before start, one 127.0.0.1 published port per node, init',
      notInFloor: "our helper containers (one per node on the public network), the binary loader container and the binary volume",
      diagnostics: 'collectDiagnostics: logs, iptables counters, conntrack, routes of every container, written to a folder',
    },
    interrupted: interrupt.signal.aborted,
    notRemoved: left,
    error: failure?.message,
    summary,
    growth: growth(opts, summary),
    memory,
    runs,
  };
  writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`results written to ${opts.out}`);
  return failure ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`bench failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
