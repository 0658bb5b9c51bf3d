/**
 * Changes during a test, through the CLI as a workflow step would run it: partition
 * cuts a node's public link both ways (flows already open included) and heal restores
 * it; impair changes one node's link and no other; every change lands in the log.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../../src/cli/main.js';
import { changeLogPath, type ChangeEntry } from '../../src/emulation/changes.js';
import type { Datagram } from './emulation-support.js';
import { httpRoundTrips } from './emulation-support.js';
import { bringUpProbes, eventually, labelledResources, nodeProbe, startPublicHost, type Probe } from './support.js';

const HOST_PORT = 5000;
const WINDOW_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function has(probe: Probe, port: number, data: string): Promise<boolean> {
  const all = await probe.get<Datagram[]>('/received', { port });
  return all.some((d) => d.data === data || d.data.startsWith(`${data}#`));
}

interface End {
  who: string;
  probe: Probe;
  port: number;
  /** Where the host reaches it: its own address, or its router's public address (its mapping). */
  publicAddress: string;
}

/** Both directions work: node -> host, the host's echo back, and the host sending on its own. */
async function linkWorks(host: Probe, end: End, tag: string): Promise<void> {
  await end.probe.post('/send', { from: end.port, to: `${host.address}:${HOST_PORT}`, data: `${tag}-out`, count: 3 });
  await eventually(`${tag}-out from ${end.who} at the host`, async () => ((await has(host, HOST_PORT, `${tag}-out`)) ? true : undefined));
  await eventually(`the echo of ${tag}-out back at ${end.who}`, async () => ((await has(end.probe, end.port, `echo:${tag}-out`)) ? true : undefined));
  await host.post('/send', { from: HOST_PORT, to: `${end.publicAddress}:${end.port}`, data: `${tag}-in`, count: 3 });
  await eventually(`${tag}-in from the host at ${end.who}`, async () => ((await has(end.probe, end.port, `${tag}-in`)) ? true : undefined));
}

/** Neither direction works; called only right after linkWorks proved the same path. */
async function linkCut(host: Probe, end: End, tag: string, inbound = true): Promise<void> {
  await end.probe.post('/send', { from: end.port, to: `${host.address}:${HOST_PORT}`, data: `${tag}-out`, count: 5, gapMs: 20 });
  if (inbound) await host.post('/send', { from: HOST_PORT, to: `${end.publicAddress}:${end.port}`, data: `${tag}-in`, count: 5, gapMs: 20 });
  const deadline = Date.now() + WINDOW_MS;
  while (Date.now() < deadline) {
    assert.equal(await has(host, HOST_PORT, `${tag}-out`), false, `${tag}-out from ${end.who} reached the host`);
    if (inbound) assert.equal(await has(end.probe, end.port, `${tag}-in`), false, `${tag}-in from the host reached ${end.who}`);
    await sleep(200);
  }
}

test('partition, heal and impair through the CLI, each logged', async () => {
  const runnerTemp = mkdtempSync(join(tmpdir(), 'nat-net-emulation-'));
  const env = { ...process.env, RUNNER_TEMP: runnerTemp };
  process.env.RUNNER_TEMP = runnerTemp;
  const t = await bringUpProbes({ gateways: '1', peers: '1' });
  const id = t.record.topologyId;
  const cli = async (...argv: string[]): Promise<ChangeEntry> => {
    let out = '';
    let err = '';
    const code = await runCli([...argv, '--topology', id], (s) => (out += s), (s) => (err += s));
    assert.equal(code, 0, `nat-net ${argv.join(' ')} failed: ${err}`);
    console.log(`# ${err.trim()}`);
    return JSON.parse(out) as ChangeEntry;
  };
  try {
    const host = await startPublicHost(t);
    await host.post('/echo', { port: HOST_PORT });
    const node = (key: string) => t.record.nodes.find((n) => n.key === key)!;
    const ends: End[] = [
      { who: 'peer-0 (behind its router)', probe: nodeProbe(t, 'peer-0'), port: 4000, publicAddress: node('peer-0').publicAddress },
      { who: 'gateway-0 (on the public network)', probe: nodeProbe(t, 'gateway-0'), port: 6000, publicAddress: node('gateway-0').address },
    ];
    for (const end of ends) await end.probe.post('/bind', { port: end.port });

    for (const [key, end] of [
      ['peer-0', ends[0]],
      ['gateway-0', ends[1]],
    ] as const) {
      await linkWorks(host, end, `${key}-before`);
      const cut = await cli('partition', key);
      assert.equal(cut.after.partitioned, true);
      await linkCut(host, end, `${key}-cut`);
      // The WebSocket path (host <-> node) stays open during a partition.
      const durations = await httpRoundTrips(end.probe.port, 10);
      assert.equal(durations.length, 10);
      const healed = await cli('heal', key);
      assert.equal(healed.after.partitioned, false);
      await linkWorks(host, end, `${key}-after`);
    }

    // impair changes one node: peer-0 loses everything it sends, gateway-0 is untouched.
    const impaired = await cli('impair', 'peer-0', '--loss-percent', '100');
    assert.equal(impaired.after.settings.lossPercent, 100);
    assert.equal(impaired.appliedAt.startsWith('router-0 public interface'), true);
    await linkWorks(host, ends[1], 'gateway-0-while-peer-impaired');
    await linkCut(host, ends[0], 'peer-0-impaired', false);
    // Values given change just those settings; a preset sets them all.
    const rate = await cli('impair', 'peer-0', '--rate', '10mbit');
    assert.deepEqual(rate.after.settings, { delayMs: 0, jitterMs: 0, lossPercent: 100, lossCorrelation: 0, rateBitsPerSecond: 10_000_000 });
    const cleared = await cli('impair', 'peer-0', '--preset', 'none');
    assert.equal(cleared.after.description, 'none');
    await linkWorks(host, ends[0], 'peer-0-restored');

    const log = readFileSync(changeLogPath(id, env), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as ChangeEntry);
    assert.deepEqual(
      log.map((e) => `${e.action} ${e.node}`),
      ['partition peer-0', 'heal peer-0', 'partition gateway-0', 'heal gateway-0', 'impair peer-0', 'impair peer-0', 'impair peer-0'],
    );
    assert.match(log[0].mechanisms.partition, /NATNET_EMU_IN/);
    assert.equal(log[4].before.description, 'none');
    assert.equal(log[4].after.description, 'loss 100 %');
  } finally {
    await t.down();
    rmSync(runnerTemp, { recursive: true, force: true });
  }
  assert.deepEqual(await labelledResources(id), []);
});
