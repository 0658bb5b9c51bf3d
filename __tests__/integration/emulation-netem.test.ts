/**
 * Delay and jitter need the kernel's netem qdisc. Where it is missing, asking for them
 * fails before anything is created, with an error that says what to do; where it is
 * there, the delay shows in real round trips on the public link, not on the WebSocket
 * path. Each test says in its output when this kernel means it was skipped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bringUp, newTopologyId, prepareImages } from '../../src/core/bring-up.js';
import { NetemMissingError } from '../../src/emulation/commands.js';
import { parseSpec } from '../../src/spec/parse.js';
import type { Datagram } from './emulation-support.js';
import { httpRoundTrips, kernelHasNetem, median } from './emulation-support.js';
import { ROOT, UDP_PROBE, bringUpProbes, engine, eventually, labelledResources, nodeProbe, startPublicHost, type Probe } from './support.js';

const PROBE_INPUTS = { binary: UDP_PROBE, profile: 'generic', command: '{binary} --http {ws_port}', peers: '2' };

test('without netem, delay fails before anything is created, with the clear error, from the input or the environment', async (t) => {
  if (await kernelHasNetem()) {
    t.skip('this kernel has sch_netem, so delay works here and there is no error to see');
    return;
  }
  const e = await engine();
  for (const [inputs, env, origin] of [
    [{ emulation: 'high_latency' }, {}, /from input 'emulation' \(high_latency\)/],
    [{}, { FREENET_TEST_NETWORK_EMULATION: 'regional' }, /from FREENET_TEST_NETWORK_EMULATION=regional/],
    [{ emulation: 'custom', 'delay-ms': '50', 'loss-percent': '1' }, {}, /delay 50 ms, loss 1 %/],
  ] as const) {
    const spec = parseSpec({ ...PROBE_INPUTS, ...inputs }, { cwd: ROOT, env });
    const topologyId = newTopologyId(spec.name);
    const images = await prepareImages(e, spec, () => {});
    let tornDown = false;
    await assert.rejects(
      bringUp(e, spec, { topologyId, images, teardown: async () => void (tornDown = true) }),
      (error: Error) => {
        assert.ok(error instanceof NetemMissingError, `not the netem error: ${error.message}`);
        assert.match(error.message, /^input 'emulation': asks for delay or jitter, but this kernel has no netem qdisc \(sch_netem/);
        assert.match(error.message, /nothing was created/);
        assert.match(error.message, /gateway-0, peer-0, peer-1: /);
        assert.match(error.message, origin);
        assert.match(error.message, /modprobe sch_netem/);
        return true;
      },
    );
    assert.equal(tornDown, false, 'nothing needed tearing down');
    assert.deepEqual(await labelledResources(topologyId), [], 'the failed bring-up left resources on the engine');
  }
});

test('netem: the delay of each node adds to round trips on the public link, and the WebSocket path stays fast', async (t) => {
  if (!(await kernelHasNetem())) {
    t.skip("this kernel lacks sch_netem ('tc qdisc add ... netem': Specified qdisc kind is unknown); this test runs where netem exists, e.g. GitHub-hosted runners");
    return;
  }
  const DELAY = 100;
  const topology = await bringUpProbes({ gateways: '1', peers: '1', emulation: 'custom', 'delay-ms': String(DELAY), 'loss-percent': '0' });
  try {
    assert.equal(topology.record.emulation!.netem, true);
    assert.equal(topology.record.emulation!.nodes[0].mechanisms.delay, 'netem');
    const host = await startPublicHost(topology);
    await host.post('/echo', { port: 5000 });
    for (const [key, port, probe] of [
      ['peer-0', 4300, nodeProbe(topology, 'peer-0')],
      ['gateway-0', 6300, nodeProbe(topology, 'gateway-0')],
    ] as [string, number, Probe][]) {
      await probe.post('/bind', { port });
      const oneWay: number[] = [];
      const back: number[] = [];
      for (let i = 0; i < 5; i++) {
        const tag = `${key}-rtt-${i}`;
        const sentAt = Date.now();
        await probe.post('/send', { from: port, to: `${host.address}:5000`, data: tag });
        const atHost = await eventually(`${tag} at the host`, async () => (await host.get<Datagram[]>('/received', { port: 5000 })).find((d) => d.data === tag));
        const echoed = await eventually(`the echo of ${tag}`, async () => (await probe.get<Datagram[]>('/received', { port })).find((d) => d.data === `echo:${tag}`));
        oneWay.push(atHost.at - sentAt);
        back.push(echoed.at - atHost.at);
      }
      console.log(`# ${key}: out ${oneWay.join(', ')} ms; back ${back.join(', ')} ms`);
      // Out: the node's delay (the send call can only add). Back: the host is not shaped.
      assert.ok(Math.min(...oneWay) >= DELAY - 5, `${key}: a datagram reached the host in ${Math.min(...oneWay)} ms, under the ${DELAY} ms delay`);
      assert.ok(median(back) < DELAY / 2, `${key}: the way back took ${median(back)} ms; only the sender's link is delayed`);
      const ws = await httpRoundTrips(probe.port, 20);
      console.log(`# ${key}: WebSocket path median ${median(ws)} ms`);
      assert.ok(median(ws) < DELAY, `${key}: requests on the WebSocket path took ${median(ws)} ms (median): they are being delayed`);
    }
  } finally {
    await topology.down();
  }
  assert.deepEqual(await labelledResources(topology.record.topologyId), []);
});
