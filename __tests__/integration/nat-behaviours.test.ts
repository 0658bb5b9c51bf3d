/**
 * Each NAT behaviour, proven with real packets: one topology with a peer of every
 * behaviour, and three hosts of the test's own on the public network (A, B, C).
 * For every peer and for two local ports (the network port and an arbitrary one):
 * - mapping: the peer sends from one local port to A and to B; both must see the
 *   same public address:port (endpoint-independent) or different ports (symmetric);
 * - filtering: then A from another port, and C (which the peer never contacted),
 *   send to the address A saw; last, A from the exact port the peer sent to sends a
 *   control that must arrive. What else arrived shows the filtering.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeTable } from '../../src/core/record.js';
import type { NatBehaviour } from '../../src/spec/types.js';
import { arrival, arrivedAfterControl, node, readSysctl, routerOf, send } from './nat-support.js';
import { bringUpProbes, labelledResources, nodeProbe, startPublicHost, type Probe } from './support.js';

const BEHAVIOURS: NatBehaviour[] = ['full-cone', 'address-restricted', 'port-restricted', 'symmetric', 'none'];
const NETWORK_PORT = 31337;

interface Row {
  peer: string;
  nat: NatBehaviour;
  localPort: number;
  seenByA: string;
  seenByB: string;
  fromOtherPortOfA: boolean;
  fromUncontactedHost: boolean;
}

/** What RFC 4787 says each behaviour does, in the terms the rows measure. */
const EXPECTED: Record<NatBehaviour, { sameMapping: boolean; fromOtherPortOfA: boolean; fromUncontactedHost: boolean }> = {
  'full-cone': { sameMapping: true, fromOtherPortOfA: true, fromUncontactedHost: true },
  'address-restricted': { sameMapping: true, fromOtherPortOfA: true, fromUncontactedHost: false },
  'port-restricted': { sameMapping: true, fromOtherPortOfA: false, fromUncontactedHost: false },
  symmetric: { sameMapping: false, fromOtherPortOfA: false, fromUncontactedHost: false },
  none: { sameMapping: true, fromOtherPortOfA: true, fromUncontactedHost: true },
};

test('every NAT behaviour maps and filters as RFC 4787 says, on any UDP port', { timeout: 300_000 }, async (t) => {
  const topo = await bringUpProbes({
    name: 'nat-mix',
    peers: String(BEHAVIOURS.length),
    nat: BEHAVIOURS.join(','),
    'network-port': String(NETWORK_PORT),
    'ready-timeout': '180',
  });
  try {
    // The record (the `topology` output) and the summary's node table show each peer's behaviour.
    BEHAVIOURS.forEach((nat, k) => assert.equal(node(topo, `peer-${k}`).nat, nat));
    assert.deepEqual(topo.record.routers.map((r) => r.nat).sort(), BEHAVIOURS.filter((b) => b !== 'none').sort());
    const [header, ...tableRows] = nodeTable(topo.record);
    const natColumn = header.indexOf('nat');
    assert.ok(natColumn >= 0, 'the node table has a nat column');
    BEHAVIOURS.forEach((nat, k) => assert.equal(tableRows.find((r) => r[0] === `peer-${k}`)?.[natColumn], nat));

    const [a, b, c] = await Promise.all(['A', 'B', 'C'].map((l) => startPublicHost(topo, l)));
    await Promise.all([a, b, c].flatMap((h) => [h.post('/bind', { port: 5000 }), h.post('/bind', { port: 5001 })]));

    const measure = async (k: number, localPort: number): Promise<Row> => {
      const peer: Probe = nodeProbe(topo, `peer-${k}`);
      const tag = `p${k}-l${localPort}`;
      await send(peer, localPort, `${a.address}:5000`, `${tag}-toA`);
      await send(peer, localPort, `${b.address}:5000`, `${tag}-toB`);
      const seenByA = (await arrival(a, 5000, `${tag}-toA`)).from;
      const seenByB = (await arrival(b, 5000, `${tag}-toB`)).from;
      await send(a, 5001, seenByA, `${tag}-fromAq`);
      await send(c, 5000, seenByA, `${tag}-fromC`);
      await send(a, 5000, seenByA, `${tag}-control`);
      const got = await arrivedAfterControl(peer, localPort, [`${tag}-fromAq`, `${tag}-fromC`], `${tag}-control`);
      return {
        peer: `peer-${k}`,
        nat: BEHAVIOURS[k],
        localPort,
        seenByA,
        seenByB,
        fromOtherPortOfA: got.has(`${tag}-fromAq`),
        fromUncontactedHost: got.has(`${tag}-fromC`),
      };
    };
    const rows = (
      await Promise.all(
        BEHAVIOURS.map(async (_, k) => [await measure(k, NETWORK_PORT), await measure(k, 40_123 + k * 1_111)]),
      )
    ).flat();
    for (const r of rows) {
      t.diagnostic(
        `${r.peer} ${r.nat.padEnd(18)} local ${r.localPort}: A saw ${r.seenByA}, B saw ${r.seenByB}; from A's other port ${r.fromOtherPortOfA ? 'in' : 'dropped'}, from uncontacted C ${r.fromUncontactedHost ? 'in' : 'dropped'}`,
      );
    }

    for (const r of rows) {
      const want = EXPECTED[r.nat];
      const peerNode = node(topo, r.peer);
      const [addrA, portA] = r.seenByA.split(':');
      const [addrB, portB] = r.seenByB.split(':');
      const where = `${r.peer} (${r.nat}), local port ${r.localPort}`;
      if (r.nat === 'none') {
        // On the public network with its own address: nobody translates anything.
        assert.equal(peerNode.router, undefined, `${where} has a router`);
        assert.equal(r.seenByA, `${peerNode.address}:${r.localPort}`, where);
      } else {
        const pub = routerOf(topo, r.peer).publicAddress;
        assert.equal(addrA, pub, `${where}: A must see the router's public address`);
        assert.equal(addrB, pub, `${where}: B must see the router's public address`);
      }
      assert.equal(portA === portB, want.sameMapping, `${where}: A saw port ${portA}, B saw ${portB}`);
      if (want.sameMapping) assert.equal(Number(portA), r.localPort, `${where}: the port is preserved (it is free on a router of its own)`);
      assert.equal(r.fromOtherPortOfA, want.fromOtherPortOfA, `${where}: a datagram from A's other port was ${r.fromOtherPortOfA ? 'delivered' : 'dropped'}`);
      assert.equal(r.fromUncontactedHost, want.fromUncontactedHost, `${where}: a datagram from never-contacted C was ${r.fromUncontactedHost ? 'delivered' : 'dropped'}`);
    }

    // The kernel's own UDP timeouts, as a router without udp-timeout has them (for the README).
    const router = routerOf(topo, 'peer-0');
    const unreplied = await readSysctl(topo, router.containerId, 'net.netfilter.nf_conntrack_udp_timeout');
    const stream = await readSysctl(topo, router.containerId, 'net.netfilter.nf_conntrack_udp_timeout_stream');
    t.diagnostic(`Linux defaults in a router: nf_conntrack_udp_timeout=${unreplied} s, nf_conntrack_udp_timeout_stream=${stream} s`);
    assert.match(unreplied, /^\d+$/);
    assert.match(stream, /^\d+$/);
  } finally {
    await topo.down();
  }
  assert.deepEqual(await labelledResources(topo.record.topologyId), []);
});
