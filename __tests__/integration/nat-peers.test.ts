/**
 * End to end with the stand-in peer, which registers with the gateway, learns the
 * other peers from it and punches holes to them. Which pairs end up with a direct
 * connection is decided by the NAT behaviours alone:
 *
 *   0 port-restricted  punches        1 port-restricted  punches
 *   2 symmetric        punches        3 full-cone        never punches
 *   4 port-restricted  never punches (3's twin but for the behaviour: the control)
 *
 * - 0 and 1 connect (cone mappings, both punch: each punch opens the way for the other's);
 * - 2 connects with neither 0 nor 1 (its mapping towards them is not the one the gateway saw);
 * - 3 accepts a first packet from a peer it never sent anything to (0, 1 and even 2);
 * - 4 accepts none, though everyone punches it as often as 3.
 * Negatives are read once every puncher has given up (its bounded punch window is over).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { routerOf } from './nat-support.js';
import { bringUpForTest, eventually, labelledResources, status } from './support.js';

interface PeerStatus {
  publicKey: string;
  punching: boolean;
  gateways: { registered: boolean; observedAs: string | null }[];
  learned: { key: string; addr: string; punch: 'punching' | 'acked' | 'gave-up' | 'disabled'; punchesSent: number }[];
  direct: { key: string; addr: string; inbound: boolean; outbound: boolean }[];
}

const TOPOLOGY = `peers:
  - nat: port-restricted
  - nat: port-restricted
  - nat: symmetric
  - nat: full-cone
    env: { NAT_NET_TEST_PEER_NO_PUNCH: "1" }
  - nat: port-restricted
    env: { NAT_NET_TEST_PEER_NO_PUNCH: "1" }
`;
const PEERS = 5;
const PUNCHING = [0, 1, 2];
const NETWORK_PORT = 31337;
/** Pairs expected to connect directly; every other pair must not. */
const DIRECT = new Set(['0-1', '0-3', '1-3', '2-3']);

test('stand-in peers connect directly exactly where the NAT behaviours allow', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nat-net-peers-'));
  writeFileSync(join(dir, 'topology.yaml'), TOPOLOGY);
  const topo = await bringUpForTest({ name: 'nat-peers', 'topology-file': join(dir, 'topology.yaml'), 'ready-timeout': '180' }).finally(() =>
    rmSync(dir, { recursive: true, force: true }),
  );
  try {
    const ports = Array.from({ length: PEERS }, (_, i) => topo.record.nodes.find((n) => n.key === `peer-${i}`)!.wsHostPort);
    const all = () => Promise.all(ports.map((p) => status<PeerStatus>(p)));
    const first = await all();
    const keys = first.map((s) => s.publicKey);
    const index = (key: string) => keys.indexOf(key);
    const pub = (i: number) => `${routerOf(topo, `peer-${i}`).publicAddress}`;

    assert.deepEqual(first.map((s) => s.punching), [true, true, true, false, false], 'per-peer env from the topology file');

    // Positive control: every peer registered, seen at its router's public address, and knows all the others.
    await eventually(
      'every peer registered with the gateway and learned the other four',
      async () => {
        const s = await all();
        return s.every((p) => p.gateways.every((g) => g.registered) && p.learned.length === PEERS - 1) ? s : undefined;
      },
      60_000,
    );
    const registered = await all();
    registered.forEach((s, i) => assert.equal(s.gateways[0].observedAs?.split(':')[0], pub(i), `peer-${i} is seen at its router`));

    // Done: every punching peer has an answer from, or has given up on, each peer it learned.
    const settled = await eventually(
      'every punch to end (acked or given up)',
      async () => {
        const s = await all();
        return PUNCHING.every((i) => s[i].learned.every((l) => l.punch === 'acked' || l.punch === 'gave-up')) ? s : undefined;
      },
      90_000,
    );

    const connected = (i: number, j: number) =>
      settled[i].direct.some((d) => index(d.key) === j) || settled[j].direct.some((d) => index(d.key) === i);
    const lines: string[] = [];
    for (let i = 0; i < PEERS; i++) {
      for (let j = i + 1; j < PEERS; j++) lines.push(`${i}-${j}: ${connected(i, j) ? 'direct' : 'no direct'}`);
    }
    t.diagnostic(lines.join(', '));
    for (let i = 0; i < PEERS; i++) {
      for (let j = i + 1; j < PEERS; j++) {
        assert.equal(connected(i, j), DIRECT.has(`${i}-${j}`), `peers ${i} and ${j}: ${connected(i, j) ? 'connected' : 'did not connect'}`);
      }
    }

    // Two port-restricted peers: each lists the other at the other's router public address.
    for (const [i, j] of [
      [0, 1],
      [1, 0],
    ]) {
      const d = settled[i].direct.find((x) => index(x.key) === j);
      assert.equal(d?.addr, `${pub(j)}:${NETWORK_PORT}`, `peer-${i} sees peer-${j} at its router`);
    }

    // The full-cone peer never punched, yet took a first packet from each cone puncher and from the symmetric one.
    for (const l of settled[3].learned) assert.deepEqual([l.punch, l.punchesSent], ['disabled', 0]);
    for (const j of [0, 1, 2]) {
      const d = settled[3].direct.find((x) => index(x.key) === j);
      assert.ok(d?.inbound, `peer-3 recorded an inbound direct connection from peer-${j}`);
      if (j !== 2) assert.equal(d.addr, `${pub(j)}:${NETWORK_PORT}`);
    }
    // The symmetric peer reached it from a mapping other than the one the gateway saw: endpoint-dependent.
    const viaGateway = registered[2].gateways[0].observedAs;
    const viaPunch = settled[3].direct.find((x) => index(x.key) === 2)!.addr;
    assert.equal(viaPunch.split(':')[0], pub(2));
    assert.notEqual(viaPunch, viaGateway, 'symmetric: a new public port towards peer-3');

    // The control: punched as much as peer-3, by the same peers, but port-restricted: nothing got in.
    for (const i of PUNCHING) {
      const towards4 = settled[i].learned.find((l) => index(l.key) === 4)!;
      assert.equal(towards4.punch, 'gave-up', `peer-${i} gave up on peer-4`);
      assert.ok(towards4.punchesSent > 10, `peer-${i} punched peer-4 ${towards4.punchesSent} times`);
    }
    assert.deepEqual(settled[4].direct, []);
  } finally {
    await topo.down();
  }
  assert.deepEqual(await labelledResources(topo.record.topologyId), []);
});
