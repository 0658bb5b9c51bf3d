/**
 * Helpers for the NAT behaviour tests: reading what a probe received, proving that a
 * datagram did NOT arrive (only after a later datagram on the same path did), and
 * read-only looks inside a router (conntrack table, sysctls).
 */
import type { NodeRecord, RouterRecord } from '../../src/core/record.js';
import { demux } from '../../src/engine/resources.js';
import { eventually, type Probe, type TestTopology } from './support.js';

export interface Datagram {
  port: number;
  from: string;
  data: string;
  at: number;
}

export function node(t: TestTopology, key: string): NodeRecord {
  const found = t.record.nodes.find((n) => n.key === key);
  if (!found) throw new Error(`no node ${key} in ${t.record.topologyId}`);
  return found;
}

export function routerOf(t: TestTopology, peerKey: string): RouterRecord {
  const name = node(t, peerKey).router?.name;
  const router = t.record.routers.find((r) => r.name === name);
  if (!router) throw new Error(`${peerKey} has no router`);
  return router;
}

/** Datagrams received on `port` whose data starts with `tag` (probes number repeated sends tag#i). */
export async function receivedTagged(probe: Probe, port: number, tag: string): Promise<Datagram[]> {
  const all = await probe.get<Datagram[]>('/received', { port });
  return all.filter((d) => d.data === tag || d.data.startsWith(`${tag}#`));
}

/** Waits until a datagram tagged `tag` has arrived on the probe's `port`; returns the first. */
export async function arrival(probe: Probe, port: number, tag: string, timeoutMs = 20_000): Promise<Datagram> {
  return eventually(
    `'${tag}' arriving at ${probe.address}:${port}`,
    async () => {
      const got = await receivedTagged(probe, port, tag);
      return got.length > 0 ? got[0] : undefined;
    },
    timeoutMs,
  );
}

/** Sends `count` datagrams from the probe's local port `from` to `to`, each tagged. */
export async function send(probe: Probe, from: number, to: string, tag: string, count = 2): Promise<void> {
  await probe.post('/send', { from, to, data: tag, count });
}

/**
 * Which of `tags` reached `probe` on `port`. The caller sent them first and then a
 * control datagram (`controlTag`) that must arrive on the same path: once it has, the
 * earlier ones had their chance, and a short extra window covers reordering. So a
 * "did not arrive" can't pass because the path itself was broken.
 */
export async function arrivedAfterControl(probe: Probe, port: number, tags: string[], controlTag: string, windowMs = 1500): Promise<Set<string>> {
  await arrival(probe, port, controlTag);
  const seen = new Set<string>();
  const deadline = Date.now() + windowMs;
  for (;;) {
    for (const tag of tags) if ((await receivedTagged(probe, port, tag)).length > 0) seen.add(tag);
    if (seen.size === tags.length || Date.now() >= deadline) return seen;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs argv in a running container (no shell, no privileges beyond the container's own); returns exit code and output. */
export async function execIn(t: TestTopology, containerId: string, argv: string[]): Promise<{ exitCode: number; output: string }> {
  const container = t.engine.docker.getContainer(containerId);
  const exec = await container.exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
  const stream = (await exec.start({ hijack: true, stdin: false })) as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec ${argv.join(' ')} did not finish within 20 s`)), 20_000);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve();
    });
    stream.on('error', (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? -1, output: demux(Buffer.concat(chunks)) };
}

/** A sysctl of a container's network namespace, read from /proc. */
export async function readSysctl(t: TestTopology, containerId: string, name: string): Promise<string> {
  const r = await execIn(t, containerId, ['cat', `/proc/sys/${name.replace(/\./g, '/')}`]);
  if (r.exitCode !== 0) throw new Error(`reading ${name}: ${r.output}`);
  return r.output.trim();
}

/**
 * The router's conntrack entries for UDP from `source` (private address) and local port,
 * as conntrack -L prints them. The whole UDP table is listed and filtered here (no
 * kernel-side filter), and a look counts only when conntrack exits 0 and the number of
 * entries it says it showed is the number printed: anything else is a failed look, not
 * "no entry".
 */
export async function conntrackEntries(t: TestTopology, router: RouterRecord, source: string, sport: number): Promise<string[]> {
  const r = await execIn(t, router.containerId, ['conntrack', '-L', '-p', 'udp']);
  const shown = /(\d+) flow entries have been shown/.exec(r.output);
  const lines = r.output.split('\n').filter((l) => l.startsWith('udp'));
  if (r.exitCode !== 0 || !shown || Number(shown[1]) !== lines.length) {
    throw new Error(`conntrack gave no complete answer (exit ${r.exitCode}): ${r.output.slice(0, 300)}`);
  }
  // The first src= and sport= of a line are the original direction's.
  return lines.filter((l) => /\ssrc=(\S+)/.exec(l)?.[1] === source && /\ssport=(\d+)/.exec(l)?.[1] === String(sport));
}
