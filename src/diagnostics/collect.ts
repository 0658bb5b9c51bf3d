/**
 * collect: everything a developer needs to understand a failed P2P test, read from the
 * running topology into one folder, before anything is removed:
 *
 *   <dir>/topology.json   the record (or, when main did not finish, what the plan and labels say)
 *   <dir>/inputs.json     the resolved inputs, `env` values masked (action only)
 *   <dir>/summary.md      each node: role, NAT, addresses, port, ready time, end state, last log lines of the dead
 *   <dir>/errors.txt      what could not be collected, one line each
 *   <dir>/<node>/state.json, log.txt, ip-addr.txt, ip-route.txt, tc-qdisc.txt, ...
 *   <dir>/router-N/iptables-nat.txt, iptables-filter.txt, ipset.txt, conntrack-udp.txt, ...
 *
 * All containers are collected in parallel (a bounded number at a time); every engine
 * call has a deadline, each container has one, and so has the whole collection. A
 * container that is gone or does not answer is noted in errors.txt and never stops the
 * others.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { TopologyRecord } from '../core/record.js';
import { isNotFound, Slots, type Engine } from '../engine/engine.js';
import { runInNamespace } from '../engine/helper.js';
import { demux } from '../engine/resources.js';
import { LABEL, TOOL, topologyFilter } from '../plan/labels.js';
import { commandsFor, helperScript, NAMESPACE_COMMANDS, splitSections } from './commands.js';
import { execIn } from './exec.js';
import { maskInputs } from './inputs.js';
import { summaryMarkdown } from './summary.js';
import { mergeViews, viewsFromRecord, type DiagnosticsResult, type EndState, type ListedContainer, type NodeReport, type NodeView } from './views.js';

export interface CollectOptions {
  topologyId: string;
  /** The folder to write; created when missing. */
  dir: string;
  /** The topology record, when main finished. */
  record?: TopologyRecord;
  /** What main planned (no secrets), when there is no record. */
  planned?: NodeView[];
  /** The resolved inputs (action); `env` values are masked before writing. */
  inputs?: Record<string, string>;
  /** Image for the helpers that read gateways' and peers' namespaces when no router container names one. */
  helperImage?: string;
  /** Whole collection; containers not done by then are noted and left. Default 120 s. */
  deadlineMs?: number;
  /** Containers collected at once. Default 8. */
  concurrency?: number;
  log?: (line: string) => void;
}

export const LOG_LINES = 20_000;
export const DEAD_LOG_TAIL_LINES = 20;
const INSPECT_TIMEOUT_MS = 10_000;
const LOGS_TIMEOUT_MS = 30_000;
const EXEC_TIMEOUT_MS = 15_000;
const HELPER_TIMEOUT_MS = 30_000;
const NODE_TIMEOUT_MS = 60_000;

function describeState(state: Docker.ContainerInspectInfo['State']): EndState {
  return {
    status: state.Status,
    exitCode: state.Running ? undefined : state.ExitCode,
    oomKilled: state.OOMKilled || undefined,
    error: state.Error || undefined,
    startedAt: state.StartedAt,
    finishedAt: state.Running ? undefined : state.FinishedAt,
  };
}

function timeout(ms: number): { promise: Promise<'timeout'>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.slice(0, 300) ?? '';
}

class Collector {
  readonly errors: string[] = [];
  /** Set when the collection's deadline passed: late results are dropped, not half-written. */
  private closed = false;

  constructor(
    private readonly engine: Engine,
    private readonly opts: CollectOptions,
    private readonly helperImage: string | undefined,
  ) {}

  close(): void {
    this.closed = true;
  }

  note(key: string, message: string): void {
    if (!this.closed) this.errors.push(`${key}: ${message}`);
  }

  write(report: NodeReport, file: string, content: string): void {
    if (this.closed) return;
    writeFileSync(join(this.opts.dir, report.key, file), content);
    report.files.push(file);
  }

  async node(report: NodeReport): Promise<void> {
    if (!report.containerId) {
      report.end = { status: this.opts.record ? 'gone' : 'not created' };
      if (this.opts.record) this.note(report.key, `container ${report.name} is gone; nothing to collect`);
      return;
    }
    mkdirSync(join(this.opts.dir, report.key), { recursive: true });
    const id = report.containerId;
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.engine.call(`inspect ${report.name}`, (abortSignal) => this.engine.docker.getContainer(id).inspect({ abortSignal } as object), INSPECT_TIMEOUT_MS);
    } catch (error) {
      report.end = { status: isNotFound(error) ? 'gone' : 'unknown' };
      this.note(report.key, isNotFound(error) ? `container ${report.name} is gone; nothing to collect` : `inspect failed: ${(error as Error).message}`);
      return;
    }
    report.end = describeState(info.State);
    this.fillFromInspect(report, info);
    this.write(
      report,
      'state.json',
      `${JSON.stringify(
        {
          name: report.name,
          id,
          key: report.key,
          role: report.role,
          image: info.Config.Image,
          state: info.State,
          restartCount: info.RestartCount,
          networks: Object.fromEntries(Object.entries(info.NetworkSettings.Networks ?? {}).map(([n, s]) => [n, s.IPAddress])),
          ports: info.NetworkSettings.Ports ?? {},
          labels: info.Config.Labels ?? {},
        },
        null,
        2,
      )}\n`,
    );

    const running = info.State.Running;
    await Promise.all([this.logs(report, running), running ? this.networkState(report) : this.notRunning(report)]);
  }

  private fillFromInspect(report: NodeReport, info: Docker.ContainerInspectInfo): void {
    const networks = Object.values(info.NetworkSettings.Networks ?? {});
    if (!report.address && networks.length > 0) report.address = networks.map((n) => n.IPAddress).filter(Boolean).join(', ') || undefined;
    if (report.wsHostPort === undefined) {
      const binding = Object.values(info.NetworkSettings.Ports ?? {}).find((b) => b?.[0]?.HostPort)?.[0];
      if (binding) report.wsHostPort = Number(binding.HostPort);
    }
  }

  private async logs(report: NodeReport, running: boolean): Promise<void> {
    try {
      const raw = (await this.engine.call(
        `logs of ${report.name}`,
        (abortSignal) =>
          this.engine.docker
            .getContainer(report.containerId!)
            .logs({ stdout: true, stderr: true, timestamps: true, tail: LOG_LINES, follow: false, abortSignal } as object),
        LOGS_TIMEOUT_MS,
      )) as unknown as Buffer;
      const text = demux(raw);
      this.write(report, 'log.txt', text);
      const lines = text.split('\n').filter((l) => l.trim() !== '');
      if (lines.length >= LOG_LINES) this.note(report.key, `log.txt holds only the last ${LOG_LINES} lines of the log`);
      if (!running) report.logTail = lines.slice(-DEAD_LOG_TAIL_LINES);
    } catch (error) {
      this.note(report.key, `log: ${(error as Error).message}`);
    }
  }

  private async notRunning(report: NodeReport): Promise<void> {
    const how = report.end.exitCode !== undefined ? `${report.end.status}, exit code ${report.end.exitCode}` : report.end.status;
    this.note(report.key, `not running (${how}): its network namespace is gone, so addresses, routes and qdiscs were not collected`);
  }

  private async networkState(report: NodeReport): Promise<void> {
    if (report.role === 'router') {
      // Routers have the tools and NET_ADMIN + NET_RAW: exec there, all commands at once.
      await Promise.all(
        commandsFor('router').map(async (command) => {
          try {
            const result = await execIn(this.engine, report.containerId!, command.argv, EXEC_TIMEOUT_MS);
            this.write(report, command.file, result.output);
            if (result.exitCode === null) this.note(report.key, `${command.file}: '${command.argv.join(' ')}' did not finish within ${EXEC_TIMEOUT_MS / 1000} s (partial output kept)`);
            else if (result.exitCode !== 0) this.note(report.key, `${command.file}: '${command.argv.join(' ')}' exited with ${result.exitCode}: ${firstLine(result.output)}`);
          } catch (error) {
            this.note(report.key, `${command.file}: ${(error as Error).message}`);
          }
        }),
      );
      return;
    }
    if (!this.helperImage) {
      this.note(report.key, 'no router image on the engine to read its network state with (set router-image); addresses, routes and qdiscs were not collected');
      return;
    }
    try {
      const result = await runInNamespace(this.engine, {
        targetId: report.containerId!,
        image: this.helperImage,
        script: helperScript(NAMESPACE_COMMANDS),
        labels: { [LABEL.tool]: TOOL, [LABEL.topology]: this.opts.topologyId },
        what: `diagnostics of ${report.name}`,
        timeoutMs: HELPER_TIMEOUT_MS,
        captureOutput: true,
      });
      const sections = splitSections(result.output);
      for (const command of NAMESPACE_COMMANDS) {
        const section = sections.get(command.file);
        if (!section) {
          this.note(report.key, `${command.file}: the helper gave no output for it (exit ${result.exitCode}): ${firstLine(result.output)}`);
          continue;
        }
        this.write(report, command.file, section.output);
        if (section.exitCode !== 0) this.note(report.key, `${command.file}: '${command.argv.join(' ')}' exited with ${section.exitCode ?? 'no code'}: ${firstLine(section.output)}`);
      }
    } catch (error) {
      this.note(report.key, `network state: ${(error as Error).message}`);
    }
  }
}

async function listTopologyContainers(engine: Engine, topologyId: string): Promise<(ListedContainer & { image: string })[]> {
  const listed = await engine.call('list containers', (abortSignal) =>
    engine.docker.listContainers({ all: true, filters: JSON.stringify(topologyFilter(topologyId)), abortSignal } as object),
  );
  return listed.map((c) => ({ id: c.Id, name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''), labels: c.Labels ?? {}, image: c.Image }));
}

async function imageExists(engine: Engine, image: string | undefined): Promise<boolean> {
  if (!image) return false;
  try {
    await engine.call(`inspect image ${image}`, (abortSignal) => engine.docker.getImage(image).inspect({ abortSignal } as object), INSPECT_TIMEOUT_MS);
    return true;
  } catch {
    return false;
  }
}

/** Collects the topology into `opts.dir`. Never throws for a node's failure; only for a folder that cannot be written. */
export async function collectDiagnostics(engine: Engine, opts: CollectOptions): Promise<DiagnosticsResult> {
  const started = Date.now();
  mkdirSync(opts.dir, { recursive: true });
  const errors: string[] = [];
  let listed: Awaited<ReturnType<typeof listTopologyContainers>> = [];
  try {
    listed = await listTopologyContainers(engine, opts.topologyId);
  } catch (error) {
    errors.push(`engine: listing the topology's containers failed: ${(error as Error).message}`);
  }
  const known = opts.record ? viewsFromRecord(opts.record) : (opts.planned ?? []);
  const views = mergeViews(opts.topologyId, known, listed);

  // The routers' own image has the tools; a user-given router image is what the job already uses.
  const routerImage = listed.find((c) => c.labels[LABEL.role] === 'router')?.image;
  const helperImage = routerImage ?? ((await imageExists(engine, opts.helperImage)) ? opts.helperImage : undefined);

  const collector = new Collector(engine, opts, helperImage);
  const reports: NodeReport[] = views.map((v) => ({ ...v, end: { status: 'unknown' }, files: [] }));
  const done = new Set<NodeReport>();
  const overall = timeout(opts.deadlineMs ?? 120_000);
  const collectOne = async (report: NodeReport) => {
    const perNode = timeout(NODE_TIMEOUT_MS);
    const outcome = await Promise.race([
      collector.node(report).then(
        () => 'done' as const,
        (error: Error) => {
          collector.note(report.key, `collection failed: ${error.message}`);
          return 'done' as const;
        },
      ),
      perNode.promise,
    ]);
    perNode.cancel();
    if (outcome === 'timeout') collector.note(report.key, `collection did not finish within ${NODE_TIMEOUT_MS / 1000} s; what was read by then is kept`);
    done.add(report);
  };
  const slots = new Slots(opts.concurrency ?? 8);
  const all = Promise.all(reports.map((report) => slots.run(() => collectOne(report))));
  const finished = await Promise.race([all.then(() => 'done' as const), overall.promise]);
  overall.cancel();
  if (finished === 'timeout') {
    const pending = reports.filter((r) => !done.has(r)).map((r) => r.key);
    collector.note('diagnostics', `collection stopped after ${(opts.deadlineMs ?? 120_000) / 1000} s; not finished: ${pending.join(', ')}`);
  }
  collector.close();
  errors.push(...collector.errors);

  const result: DiagnosticsResult = {
    topologyId: opts.topologyId,
    dir: opts.dir,
    collectedAt: new Date().toISOString(),
    fromRecord: opts.record !== undefined,
    nodes: reports,
    errors,
  };
  const topology = opts.record ?? {
    topologyId: opts.topologyId,
    complete: false,
    note: 'main did not finish bringing the topology up: this is what the plan and the engine\'s labels say',
    nodes: views,
  };
  writeFileSync(join(opts.dir, 'topology.json'), `${JSON.stringify(topology, null, 2)}\n`);
  if (opts.inputs) writeFileSync(join(opts.dir, 'inputs.json'), `${JSON.stringify(maskInputs(opts.inputs), null, 2)}\n`);
  writeFileSync(join(opts.dir, 'errors.txt'), errors.length > 0 ? `${errors.join('\n')}\n` : 'nothing: every file was collected\n');
  writeFileSync(join(opts.dir, 'summary.md'), summaryMarkdown(result));
  opts.log?.(`collected diagnostics of ${reports.length} containers in ${((Date.now() - started) / 1000).toFixed(1)} s into ${opts.dir}`);
  return result;
}

/**
 * The end state of every container from one listing, without collecting anything:
 * what the job summary shows when no diagnostics were needed.
 */
export async function quickReports(engine: Engine, topologyId: string, record?: TopologyRecord, planned?: NodeView[]): Promise<NodeReport[]> {
  const listed = await engine.call('list containers', (abortSignal) =>
    engine.docker.listContainers({ all: true, filters: JSON.stringify(topologyFilter(topologyId)), abortSignal } as object),
  );
  const byId = new Map(listed.map((c) => [c.Id, c]));
  const containers = listed.map((c) => ({ id: c.Id, name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''), labels: c.Labels ?? {} }));
  const views = mergeViews(topologyId, record ? viewsFromRecord(record) : (planned ?? []), containers);
  return views.map((view) => {
    const container = view.containerId ? byId.get(view.containerId) : undefined;
    let end: EndState;
    if (!container) end = { status: view.containerId ? 'gone' : 'not created' };
    else {
      const code = /Exited \((\d+)\)/.exec(container.Status ?? '');
      end = { status: container.State, exitCode: code ? Number(code[1]) : undefined };
    }
    return { ...view, end, files: [] };
  });
}
