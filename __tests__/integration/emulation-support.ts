/**
 * Measurements for the emulation tests: bursts of UDP between probes the test made,
 * counted at the receiver once the stream has stopped; throughput from arrival times;
 * HTTP round trips on a node's WebSocket path. Every loop is bounded in count and time.
 */
import { request } from 'node:http';
import { hasNetem } from '../../src/emulation/detect.js';
import { defaultImage } from '../../src/engine/images.js';
import { LABEL, TOOL } from '../../src/plan/labels.js';
import { engine, type Probe } from './support.js';

export interface Datagram {
  port: number;
  from: string;
  data: string;
  at: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether the engine's kernel has sch_netem (the same check bring-up makes). */
export async function kernelHasNetem(): Promise<boolean> {
  return hasNetem(await engine(), defaultImage('router'), { [LABEL.tool]: TOOL, [LABEL.topology]: 'emulation-test-netem-check' });
}

/**
 * What `probe` received on `port`, once nothing new has come for `quietMs` (bounded by
 * `timeoutMs`): the sender has returned before this is called, so only packets still
 * queued on the path (a rate limit's queue, a delay) can arrive meanwhile.
 */
export async function receivedWhenQuiet(probe: Probe, port: number, quietMs = 1000, timeoutMs = 30_000): Promise<Datagram[]> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let quietSince = Date.now();
  for (;;) {
    const got = await probe.get<Datagram[]>('/received', { port });
    if (got.length !== last) {
      last = got.length;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs || Date.now() >= deadline) {
      return got;
    }
    await sleep(200);
  }
}

/**
 * Sends `count` datagrams of about `size` bytes from `from`'s local port, one every
 * `gapMs`, in each of `streams` parallel loops; returns what `to` received on `toPort`.
 */
export async function burst(
  from: Probe,
  fromPort: number,
  to: Probe,
  toAddress: string,
  toPort: number,
  opts: { count: number; size?: number; gapMs?: number; tag: string; streams?: number },
): Promise<{ sent: number; received: Datagram[] }> {
  await to.post('/bind', { port: toPort });
  const data = opts.tag.padEnd(opts.size ?? opts.tag.length, 'x');
  // The probe answers when it has sent all: on a busy machine that can take far longer than count × gap.
  const query = new URLSearchParams({ from: String(fromPort), to: `${toAddress}:${toPort}`, data, count: String(opts.count), gapMs: String(opts.gapMs ?? 1) });
  // Several sends at once from the same socket multiply what one timer-paced loop offers.
  const sends = Array.from({ length: opts.streams ?? 1 }, async () => {
    const response = await fetch(`http://127.0.0.1:${from.port}/send?${query}`, { method: 'POST', signal: AbortSignal.timeout(180_000) });
    const result = (await response.json()) as { sent: number };
    if (!response.ok) throw new Error(`probe ${from.address} /send: ${JSON.stringify(result)}`);
    return result.sent;
  });
  const sent = (await Promise.all(sends)).reduce((a, b) => a + b, 0);
  const received = (await receivedWhenQuiet(to, toPort)).filter((d) => d.data.startsWith(`${data}#`));
  return { sent, received };
}

/** Bits per second at the receiver: the bytes after the first datagram over the time from the first to the last arrival. */
export function throughput(received: Datagram[]): { bitsPerSecond: number; spanMs: number } {
  const sorted = [...received].sort((a, b) => a.at - b.at);
  const spanMs = sorted[sorted.length - 1].at - sorted[0].at;
  const bytes = sorted.slice(1).reduce((sum, d) => sum + Buffer.byteLength(d.data), 0);
  return { bitsPerSecond: (bytes * 8 * 1000) / Math.max(spanMs, 1), spanMs };
}

/**
 * The range a binomial count lands in with `sigmas` standard deviations either side:
 * wide enough that noise never fails it, narrow enough that a wrong loss rate does.
 */
export function binomialRange(n: number, p: number, sigmas = 5): [number, number] {
  const sd = Math.sqrt(n * p * (1 - p));
  return [Math.floor(n * p - sigmas * sd), Math.ceil(n * p + sigmas * sd)];
}

/** One HTTP GET on a fresh connection (no keep-alive, so every request needs the node's SYN-ACK and reply). */
export function httpRoundTrip(port: number, path = '/status', timeoutMs = 10_000): Promise<number> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { Connection: 'close' }, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(Date.now() - start) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** `n` sequential round trips; the durations of all of them (throws on the first failure). */
export async function httpRoundTrips(port: number, n: number): Promise<number[]> {
  const durations: number[] = [];
  for (let i = 0; i < n; i++) durations.push(await httpRoundTrip(port));
  return durations;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
