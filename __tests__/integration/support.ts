/**
 * Shared helpers for integration tests against the real Docker engine. Every test
 * brings up its own topology and removes it; tests send packets only to containers
 * they created (through the probes' HTTP control on 127.0.0.1).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bringUp, newTopologyId, prepareImages } from '../../src/core/bring-up.js';
import { down } from '../../src/core/down.js';
import type { TopologyRecord } from '../../src/core/record.js';
import { connectEngine, type Engine } from '../../src/engine/engine.js';
import { inspectContainer, putFiles, removeContainer, startContainer, tarOf } from '../../src/engine/resources.js';
import { httpAnswers, pollUntil } from '../../src/engine/wait.js';
import { LABEL } from '../../src/plan/labels.js';
import type { Plan } from '../../src/plan/types.js';
import { parseSpec, type RawInputs } from '../../src/spec/parse.js';

export const ROOT = process.cwd();
export const TEST_PEER = join(ROOT, 'dist/test-peer/nat-net-test-peer.cjs');
export const UDP_PROBE = join(ROOT, '__tests__/fixtures/udp-probe.cjs');

let shared: Engine | undefined;
export async function engine(): Promise<Engine> {
  shared ??= await connectEngine();
  return shared;
}

export interface TestTopology {
  engine: Engine;
  record: TopologyRecord;
  plan: Plan;
  down: () => Promise<void>;
}

/** Brings a topology up with the stand-in peer unless inputs say otherwise; removes it on failure. */
export async function bringUpForTest(inputs: RawInputs): Promise<TestTopology> {
  const e = await engine();
  const spec = parseSpec({ binary: TEST_PEER, 'ready-timeout': '60', ...inputs }, { cwd: ROOT, env: process.env });
  const topologyId = newTopologyId(spec.name);
  const images = await prepareImages(e, spec, () => {});
  let plan: Plan | undefined;
  const remove = async () => {
    const result = await down(e, topologyId);
    if (result.errors.length > 0) throw new Error(`teardown failed: ${result.errors.join('; ')}`);
  };
  try {
    const record = await bringUp(e, spec, { topologyId, images, teardown: remove, onPlan: (p) => (plan = p) });
    return { engine: e, record, plan: plan!, down: remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** Brings up a topology whose every node runs the UDP probe (generic profile). */
export function bringUpProbes(inputs: RawInputs): Promise<TestTopology> {
  return bringUpForTest({ binary: UDP_PROBE, profile: 'generic', command: '{binary} --http {ws_port}', ...inputs });
}

export interface Probe {
  port: number; // host port of its HTTP control
  address: string; // its address on its network
  id: string;
  post(path: string, query?: Record<string, string | number>): Promise<unknown>;
  get<T = unknown>(path: string, query?: Record<string, string | number>): Promise<T>;
}

export function probeAt(port: number, address: string, id: string): Probe {
  const call = async (method: string, path: string, query: Record<string, string | number> = {}) => {
    const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
    const response = await fetch(`http://127.0.0.1:${port}${path}${qs ? `?${qs}` : ''}`, { method, signal: AbortSignal.timeout(30_000) });
    const body = await response.json();
    if (!response.ok) throw new Error(`probe ${address} ${path}: ${JSON.stringify(body)}`);
    return body;
  };
  return { port, address, id, post: (p, q) => call('POST', p, q), get: (p, q) => call('GET', p, q) as never };
}

/** A probe node of a topology brought up with bringUpProbes. */
export function nodeProbe(t: TestTopology, key: string): Probe {
  const node = t.record.nodes.find((n) => n.key === key);
  if (!node) throw new Error(`no node ${key}`);
  return probeAt(node.wsHostPort, node.address, node.containerId);
}

/**
 * A host of the test's own on the topology's public network (Docker picks its
 * address from the spare range), running the UDP probe. Labelled as part of the
 * topology, so the topology's teardown removes it too.
 */
export async function startPublicHost(t: TestTopology, label = 'host'): Promise<Probe> {
  const e = t.engine;
  const network = t.plan.networks.find((n) => n.kind === 'public')!;
  const container = await e.docker.createContainer({
    Image: t.plan.peerImage,
    Cmd: ['node', '/probe/udp-probe.cjs', '--http', '9000'],
    Labels: { ...t.plan.labels, [LABEL.role]: 'test-host', 'dev.nat-net.test-host': label },
    ExposedPorts: { '9000/tcp': {} },
    HostConfig: { NetworkMode: network.name, PortBindings: { '9000/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  try {
    await putFiles(e, container.id, await tarOf([{ path: '/probe/udp-probe.cjs', content: readFileSync(UDP_PROBE, 'utf8'), mode: 0o755 }]), label);
    await startContainer(e, container.id, label);
    const info = await inspectContainer(e, container.id);
    const port = Number(info.NetworkSettings.Ports['9000/tcp'][0].HostPort);
    const address = info.NetworkSettings.Networks[network.name].IPAddress;
    const ok = await pollUntil(async () => ((await httpAnswers(port)) ? true : undefined), Date.now() + 20_000);
    if (!ok) throw new Error(`test host ${label} did not answer`);
    return probeAt(port, address, container.id);
  } catch (error) {
    await removeContainer(e, container.id);
    throw error;
  }
}

/** Polls until `check` gives a value; fails naming `what` after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  let last: unknown;
  const result = await pollUntil(async () => {
    try {
      return await check();
    } catch (error) {
      last = error;
      return undefined;
    }
  }, Date.now() + timeoutMs);
  if (result === undefined) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s${last ? ` (last error: ${(last as Error).message})` : ''}`);
  return result;
}

/** Every container, network and volume on the engine carrying this topology's label. */
export async function labelledResources(topologyId: string): Promise<string[]> {
  const e = await engine();
  const filters = JSON.stringify({ label: [`${LABEL.topology}=${topologyId}`] });
  const [c, n, v] = await Promise.all([
    e.docker.listContainers({ all: true, filters }),
    e.docker.listNetworks({ filters }),
    e.docker.listVolumes({ filters }),
  ]);
  return [...c.map((x) => `container ${x.Names[0]}`), ...n.map((x) => `network ${x.Name}`), ...(v.Volumes ?? []).map((x) => `volume ${x.Name}`)];
}

/** The stand-in peer's status API. */
export async function status<T = Record<string, unknown>>(port: number): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(5000) });
  return (await response.json()) as T;
}
