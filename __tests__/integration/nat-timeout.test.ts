/**
 * udp-timeout, proven with packets: an idle mapping is gone after the timeout, not
 * before, and traffic keeps it alive. Timeout 3 s; every wait is on a condition with
 * a bound.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { arrival, arrivedAfterControl, conntrackEntries, node, readSysctl, receivedTagged, routerOf, send } from './nat-support.js';
import { bringUpProbes, eventually, labelledResources, nodeProbe, startPublicHost, type Probe, type TestTopology } from './support.js';

const TIMEOUT_S = 3;
/**
 * Times are taken where they err towards failing (A's receipt of the last keep-alive is
 * after the router saw it; a probe's send is before B sends it), so load only makes
 * the lower bound stricter; this much of that is forgiven.
 */
const TOLERANCE_MS = 750;

describe(`udp-timeout ${TIMEOUT_S}`, { timeout: 300_000 }, () => {
  let topo: TestTopology;
  let a: Probe;
  let b: Probe;

  before(async () => {
    topo = await bringUpProbes({ name: 'nat-timeout', peers: '2', nat: 'full-cone,port-restricted', 'udp-timeout': String(TIMEOUT_S), 'ready-timeout': '180' });
    [a, b] = await Promise.all([startPublicHost(topo, 'A'), startPublicHost(topo, 'B')]);
    // A answers on 5002, as a gateway does: the peer's flow to it is then an ESTABLISHED one.
    await Promise.all([a.post('/bind', { port: 5000 }), a.post('/echo', { port: 5002 }), b.post('/bind', { port: 5000 })]);
  });

  after(async () => {
    if (!topo) return;
    await topo.down();
    assert.deepEqual(await labelledResources(topo.record.topologyId), []);
  });

  it('is set in each router\'s own network namespace', async () => {
    for (const r of topo.record.routers) {
      assert.equal(await readSysctl(topo, r.containerId, 'net.netfilter.nf_conntrack_udp_timeout'), String(TIMEOUT_S), r.name);
      assert.equal(await readSysctl(topo, r.containerId, 'net.netfilter.nf_conntrack_udp_timeout_stream'), String(TIMEOUT_S), r.name);
    }
  });

  it('full-cone: unsolicited inbound is delivered while the peer keeps sending, and stops after it idles for the timeout', async (t) => {
    const peer = nodeProbe(topo, 'peer-0');
    const pub = routerOf(topo, 'peer-0').publicAddress;
    const localPort = 4100;
    let nextPort = 6000;
    /** B, from a port it never used, sends one datagram to the peer's mapping; says whether it arrived within `ms`. */
    const unsolicited = async (ms: number): Promise<{ arrived: boolean; sentAt: number }> => {
      const from = nextPort++;
      const tag = `b${from}`;
      const sentAt = Date.now();
      await send(b, from, `${pub}:${localPort}`, tag, 1);
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if ((await receivedTagged(peer, localPort, tag)).length > 0) return { arrived: true, sentAt };
        await new Promise((r) => setTimeout(r, 50));
      }
      return { arrived: false, sentAt };
    };

    // The peer talks to A only (A answers); B is never contacted.
    await send(peer, localPort, `${a.address}:5002`, 'open', 1);
    await arrival(peer, localPort, 'echo:open');
    assert.ok((await unsolicited(10_000)).arrived, 'a full-cone mapping accepts a first datagram from anyone');

    // Keep-alive: the peer sends to A once a second for more than twice the timeout; after each one,
    // B sends from a fresh port, and every such datagram must arrive.
    const keepAlives = 2 * TIMEOUT_S + 2;
    const keepAlive = peer.post('/send', { from: localPort, to: `${a.address}:5002`, data: 'keepalive', count: keepAlives, gapMs: 1000 });
    const start = Date.now();
    for (let i = 0; i < keepAlives; i++) {
      await arrival(a, 5002, `keepalive#${i}`);
      const r = await unsolicited(5_000);
      assert.ok(r.arrived, `B's datagram after keep-alive ${i} (${r.sentAt - start} ms in) was dropped: outbound traffic must refresh the mapping`);
    }
    await keepAlive;
    // When A received the last keep-alive: no earlier than the router refreshed the mapping with it.
    const lastOutbound = (await arrival(a, 5002, `keepalive#${keepAlives - 1}`)).at;
    assert.ok(lastOutbound - start > 2 * TIMEOUT_S * 1000, 'the keep-alive phase outlasted the timeout');
    t.diagnostic(`${keepAlives} unsolicited datagrams delivered during ${lastOutbound - start} ms of keep-alive`);

    // Idle: probe until one is dropped, bounded.
    let miss: { arrived: boolean; sentAt: number } | undefined;
    let lastHit = lastOutbound;
    while (Date.now() - lastOutbound < (TIMEOUT_S + 20) * 1000) {
      const r = await unsolicited(1_000);
      if (!r.arrived) {
        miss = r;
        break;
      }
      lastHit = r.sentAt;
    }
    assert.ok(miss, `unsolicited datagrams were still delivered ${TIMEOUT_S + 20} s after the peer went idle`);
    const idleAtMiss = miss.sentAt - lastOutbound;
    t.diagnostic(`last delivered ${lastHit - lastOutbound} ms after the last outbound datagram; first dropped ${idleAtMiss} ms after`);
    assert.ok(idleAtMiss >= TIMEOUT_S * 1000 - TOLERANCE_MS, `the mapping expired after only ${idleAtMiss} ms idle`);
    assert.ok(idleAtMiss <= TIMEOUT_S * 1000 + 10_000, `the mapping lived ${idleAtMiss} ms idle`);

    // The path itself still works: a new outbound datagram opens the mapping again.
    await send(peer, localPort, `${a.address}:5002`, 'reopen', 1);
    await arrival(peer, localPort, 'echo:reopen');
    assert.ok((await unsolicited(10_000)).arrived, 'after the peer sends again, the mapping accepts again');
  });

  it('port-restricted: a reply after the mapping idled out does not arrive', async (t) => {
    const peerNode = node(topo, 'peer-1');
    const peer = nodeProbe(topo, 'peer-1');
    const router = routerOf(topo, 'peer-1');
    const pub = router.publicAddress;
    const localPort = 4200;

    await send(peer, localPort, `${a.address}:5000`, 'hello', 1);
    const seen = await arrival(a, 5000, 'hello');
    assert.equal(seen.from, `${pub}:${localPort}`);
    await send(a, 5000, seen.from, 'reply', 1);
    await arrival(peer, localPort, 'reply');
    const lastPacket = Date.now(); // no earlier than the reply's pass through the router

    // Conntrack's own account, when the first look comes in time (an exec can be slow on a loaded machine).
    const first = await conntrackEntries(topo, router, peerNode.address, localPort).catch(() => [] as string[]);
    assert.ok(first.length <= 1, `one conntrack entry for the flow: ${first.join(' | ')}`);
    if (first.length === 1) {
      const remaining = Number(first[0].split(/\s+/)[2]);
      assert.ok(remaining <= TIMEOUT_S, `conntrack gives the flow ${remaining} s, more than udp-timeout`);
    }

    // Gone = two complete looks in a row find no entry (one look is one dump of a table that changes under it).
    let firstEmptyAt: number | undefined;
    const goneAt = await eventually(
      'the conntrack entry expiring',
      async () => {
        const empty = (await conntrackEntries(topo, router, peerNode.address, localPort)).length === 0;
        if (!empty) firstEmptyAt = undefined;
        else if (firstEmptyAt === undefined) firstEmptyAt = Date.now();
        else return firstEmptyAt;
        return undefined;
      },
      (TIMEOUT_S + 20) * 1000,
    );
    const lifetime = goneAt - lastPacket;
    t.diagnostic(`mapping seen gone ${lifetime} ms after the last packet (udp-timeout ${TIMEOUT_S} s)`);
    assert.ok(lifetime <= TIMEOUT_S * 1000 + 10_000, `the mapping lived ${lifetime} ms idle`);

    // The same mapping is now open towards B only; A's late reply must not get in, B's control must.
    await send(peer, localPort, `${b.address}:5000`, 'to-b', 1);
    await arrival(b, 5000, 'to-b');
    await send(a, 5000, seen.from, 'late-reply', 1);
    await send(b, 5000, seen.from, 'control', 1);
    const got = await arrivedAfterControl(peer, localPort, ['late-reply'], 'control');
    assert.ok(!got.has('late-reply'), "A's reply arrived after the mapping had expired");
  });
});
