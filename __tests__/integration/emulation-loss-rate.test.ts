/**
 * Loss and rate land on the public link each node's traffic really takes (a NATed
 * peer's router, a gateway's own interface), and not on its WebSocket path. These
 * settings work with and without netem, so they run on every kernel.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binomialRange, burst, httpRoundTrips, throughput } from './emulation-support.js';
import { bringUpProbes, labelledResources, nodeProbe, startPublicHost } from './support.js';

const N = 2000;

test('loss: 50 % on every node drops about half of what each sends into the public network, and nothing on the WebSocket path', async () => {
  const t = await bringUpProbes({ gateways: '1', peers: '1', emulation: 'custom', 'loss-percent': '50' });
  try {
    const mechanism = t.record.emulation!.nodes.map((n) => `${n.node}: ${n.mechanisms.loss}`).join('; ');
    console.log(`# loss mechanism: ${mechanism}`);
    const host = await startPublicHost(t);
    const gateway = nodeProbe(t, 'gateway-0');
    const peer = nodeProbe(t, 'peer-0');

    // Positive control: the unshaped direction (the host sends; a node's inbound is not shaped) loses nothing.
    const control = await burst(host, 5100, gateway, gateway.address, 6100, { count: N, tag: 'control' });
    assert.equal(control.sent, N);
    assert.ok(control.received.length >= N * 0.99, `the unshaped path delivered ${control.received.length} of ${N}; the measurement itself loses packets`);

    const [lo, hi] = binomialRange(N, 0.5);
    for (const [who, probe, fromPort, hostPort] of [
      ['gateway-0 (its own interface)', gateway, 6101, 5101],
      ['peer-0 (its router)', peer, 4101, 5102],
    ] as const) {
      const { sent, received } = await burst(probe, fromPort, host, host.address, hostPort, { count: N, tag: `loss-${fromPort}` });
      assert.equal(sent, N);
      const got = received.length;
      console.log(`# ${who}: ${got} of ${N} arrived (allowed ${lo} to ${hi})`);
      assert.ok(got >= lo && got <= hi, `${who}: ${got} of ${N} arrived with 50 % loss; a binomial count lands in ${lo}..${hi} (5 sigma)`);
    }

    // The WebSocket path (host <-> node) is not shaped: a request on a fresh connection needs
    // the node's SYN-ACK and reply; if 50 % loss applied to them, about half the requests would
    // wait for a SYN retransmission (1 s). A few slow ones are allowed for a busy machine.
    for (const [who, probe] of [
      ['gateway-0', gateway],
      ['peer-0', peer],
    ] as const) {
      const durations = await httpRoundTrips(probe.port, 100);
      const slow = durations.filter((ms) => ms >= 900).length;
      console.log(`# ${who} WebSocket path: 100 of 100 answered, ${slow} took 900 ms or more`);
      assert.ok(slow <= 5, `${who}: ${slow} of 100 requests on the WebSocket path took 900 ms or more: the host path is being shaped`);
    }
  } finally {
    await t.down();
  }
  assert.deepEqual(await labelledResources(t.record.topologyId), []);
});

test('rate: 1mbit on every node holds each one\'s public throughput near 1 Mbit/s', async () => {
  const t = await bringUpProbes({ gateways: '1', peers: '1', emulation: 'custom', rate: '1mbit' });
  try {
    console.log(`# rate mechanism: ${t.record.emulation!.nodes.map((n) => `${n.node}: ${n.mechanisms.rate}`).join('; ')}`);
    const host = await startPublicHost(t);
    const gateway = nodeProbe(t, 'gateway-0');
    const peer = nodeProbe(t, 'peer-0');
    // Four paced loops of 1200-byte datagrams (no fragmentation): several times the limit even on a busy machine.
    const opts = { count: 1500, streams: 4, size: 1200, gapMs: 2 };

    // Positive control: the same sender pace on the unshaped direction is well above the limit.
    const control = await burst(host, 5200, gateway, gateway.address, 6200, { ...opts, tag: 'rate-control' });
    const offered = throughput(control.received);
    console.log(`# unshaped: ${(offered.bitsPerSecond / 1e6).toFixed(2)} Mbit/s over ${offered.spanMs} ms`);
    assert.ok(offered.bitsPerSecond >= 2.5e6, `the sender reached only ${(offered.bitsPerSecond / 1e6).toFixed(2)} Mbit/s unshaped; it must offer well over the 1 Mbit/s limit`);

    for (const [who, probe, fromPort, hostPort] of [
      ['gateway-0 (its own interface)', gateway, 6201, 5201],
      ['peer-0 (its router)', peer, 4201, 5202],
    ] as const) {
      const { sent: total, received } = await burst(probe, fromPort, host, host.address, hostPort, { ...opts, tag: `rate-${fromPort}` });
      const { bitsPerSecond, spanMs } = throughput(received);
      console.log(`# ${who}: ${received.length} of ${total} arrived, ${(bitsPerSecond / 1e6).toFixed(3)} Mbit/s over ${spanMs} ms`);
      assert.ok(spanMs >= 1500, `${who}: arrivals spanned only ${spanMs} ms`);
      assert.ok(received.length < total * 0.5, `${who}: ${received.length} of ${total} arrived; the limit did not hold the burst back`);
      // Payload rate: 1 Mbit/s on the wire less 42 bytes of headers per ~1200-byte datagram (about 0.97).
      assert.ok(bitsPerSecond >= 0.75e6 && bitsPerSecond <= 1.15e6, `${who}: ${(bitsPerSecond / 1e6).toFixed(3)} Mbit/s is not near the 1 Mbit/s limit`);
    }
  } finally {
    await t.down();
  }
  assert.deepEqual(await labelledResources(t.record.topologyId), []);
});
