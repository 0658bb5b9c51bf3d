/**
 * Rule generation per NAT behaviour. What the rules do is proven with packets by
 * __tests__/integration/nat-*.test.ts; these pin the shape those tests rely on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contactedSet, DEFAULT_MAPPING_LIFETIME_S, isBookkeeping, mappingSet, natRules } from '../../src/nat/behaviours.js';
import { routerRuleset } from '../../src/nat/router-script.js';
import type { RouterPlan } from '../../src/plan/types.js';

const PUB = '10.200.3.10';
const LAN = ['10.201.7.100', '10.201.7.101'];

/** The host's address on the public network (its bridge). */
const HOST = '10.200.0.1';

function router(nat: RouterPlan['nat'], overrides: Partial<RouterPlan> = {}): RouterPlan {
  return {
    key: 'router-0',
    name: 'nn-x-router-0',
    index: 0,
    image: 'nat-net-router:test',
    nat,
    publicNetwork: 'nn-x-public',
    publicAddress: PUB,
    privateNetwork: 'nn-x-lan-0',
    privateAddress: '10.201.7.1',
    lanEndpointAddress: '10.201.7.2',
    privateSubnet: '10.201.7.0/24',
    hostAddress: HOST,
    peerAddresses: LAN,
    wsForwards: LAN.map((peerAddress, k) => ({ peerKey: `peer-${k}`, peerAddress, peerPort: 9000, routerPort: 29000 + k })),
    hairpin: false,
    labels: {},
    ...overrides,
  };
}

function filterTable(r: RouterPlan): string[] {
  const lines = routerRuleset(r).restore.split('\n');
  const start = lines.indexOf('*filter');
  return lines.slice(start + 1, lines.indexOf('COMMIT', start));
}

const CONE = ['full-cone', 'address-restricted', 'port-restricted'] as const;

describe('nat rules: mapping lifetime', () => {
  for (const nat of CONE) {
    it(`${nat}: every outbound packet refreshes the mapping, also in established flows`, () => {
      const filter = filterTable(router(nat));
      const established = filter.indexOf('-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT');
      const sets = filter.map((l, i) => (isBookkeeping(l) ? i : -1)).filter((i) => i >= 0);
      assert.ok(established > 0);
      assert.ok(sets.length >= LAN.length, 'each peer\'s mapping is recorded');
      // The bug traffic showed: bookkeeping after the ESTABLISHED accept saw only a flow's first packets,
      // so a full-cone mapping expired under a peer that kept talking to an answering host.
      for (const i of sets) assert.ok(i < established, `${filter[i]} comes after the ESTABLISHED accept`);
      // The policies stay first, so iptables-restore reads them before any rule.
      assert.deepEqual(filter.slice(0, 3), [':INPUT DROP [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]']);
    });
  }

  it('set entries live udp-timeout seconds, else Linux\'s answered-flow timeout', () => {
    assert.equal(DEFAULT_MAPPING_LIFETIME_S, 120);
    for (const nat of CONE) {
      for (const [timeout, want] of [[undefined, '120'], [3, '3']] as const) {
        const sets = natRules(router(nat, { udpTimeout: timeout })).sets;
        assert.ok(sets.length > 0);
        for (const s of sets) assert.equal(s[s.indexOf('timeout') + 1], want, `${nat}: ${s.join(' ')}`);
      }
    }
  });

  it('only SET lines count as bookkeeping', () => {
    assert.ok(isBookkeeping('-A FORWARD -i $LAN -o $PUB -s 1.2.3.4 -p udp -j SET --add-set nn_map_0 src --exist'));
    assert.ok(!isBookkeeping('-A FORWARD -i $PUB -o $LAN -m conntrack --ctstate DNAT -j ACCEPT'));
    assert.ok(!isBookkeeping('-A FORWARD -m set --match-set nn_map_0 dst -j ACCEPT'));
  });
});

describe('nat rules: filtering', () => {
  it('full-cone: inbound to a live mapping from anyone; address-restricted: only from addresses sent to', () => {
    const fc = natRules(router('full-cone'));
    const ar = natRules(router('address-restricted'));
    LAN.forEach((peer, k) => {
      const fcIn = fc.nat.filter((l) => l.includes('-i $PUB') && l.endsWith(`--to-destination ${peer}`));
      const arIn = ar.nat.filter((l) => l.includes('-i $PUB') && l.endsWith(`--to-destination ${peer}`));
      assert.deepEqual(fcIn, [`-A PREROUTING -i $PUB -d ${PUB} -p udp -m set --match-set ${mappingSet(k)} dst -j DNAT --to-destination ${peer}`]);
      assert.deepEqual(arIn, [
        `-A PREROUTING -i $PUB -d ${PUB} -p udp -m set --match-set ${mappingSet(k)} dst -m set --match-set ${contactedSet(k)} src,dst -j DNAT --to-destination ${peer}`,
      ]);
      // Recorded as (remote address, local port) going out, looked up as (source address, mapped port) coming in.
      assert.ok(ar.filter.includes(`-A FORWARD -i $LAN -o $PUB -s ${peer} -p udp -j SET --add-set ${contactedSet(k)} dst,src --exist`));
      assert.ok(ar.sets.some((s) => s.join(' ') === `create ${contactedSet(k)} hash:ip,port timeout 120`));
    });
  });

  it('port-restricted and symmetric leave inbound to conntrack: no DNAT from the public side', () => {
    for (const nat of ['port-restricted', 'symmetric'] as const) {
      const rules = natRules(router(nat));
      assert.deepEqual(rules.nat.filter((l) => l.includes('-i $PUB')), [], nat);
      assert.deepEqual(rules.filter.filter((l) => l.includes('-i $PUB')), [], nat);
    }
  });

  it('symmetric randomises the port of every flow and keeps no sets', () => {
    const rules = natRules(router('symmetric'));
    assert.ok(rules.nat.some((l) => l === `-A POSTROUTING -o $PUB -p udp -j SNAT --to-source ${PUB}:1024-65535 --random-fully`));
    assert.deepEqual(rules.sets, []);
  });

  it('the cone behaviours preserve the source port: a plain SNAT, no range, no randomising', () => {
    for (const nat of CONE) assert.ok(natRules(router(nat)).nat.includes(`-A POSTROUTING -o $PUB -j SNAT --to-source ${PUB}`), nat);
  });
});

describe('nat rules: hairpin', () => {
  for (const nat of CONE) {
    it(`${nat}: only with hairpin on, a LAN packet to a live mapping goes to its owner, seen from the public address`, () => {
      const off = natRules(router(nat));
      const on = natRules(router(nat, { hairpin: true }));
      const lanDnat = (rules: typeof on) => rules.nat.filter((l) => l.includes('-i $LAN') && l.includes('-j DNAT'));
      assert.deepEqual(lanDnat(off), []);
      assert.ok(!off.nat.some((l) => l.includes('-o $LAN')));
      assert.ok(!off.filter.some((l) => l.includes('-i $LAN -o $LAN')));
      assert.deepEqual(
        lanDnat(on),
        LAN.map((peer, k) => `-A PREROUTING -i $LAN -d ${PUB} -p udp -m set --match-set ${mappingSet(k)} dst -j DNAT --to-destination ${peer}`),
      );
      assert.ok(on.nat.includes(`-A POSTROUTING -o $LAN -s 10.201.7.0/24 -m conntrack --ctstate DNAT -j SNAT --to-source ${PUB}`));
      assert.ok(on.filter.includes('-A FORWARD -i $LAN -o $LAN -m conntrack --ctstate DNAT -j ACCEPT'));
      // Hairpin DNAT is decided in PREROUTING before anything else in nat.
      assert.ok(on.nat.findIndex((l) => l.includes('-i $LAN')) < on.nat.findIndex((l) => l.includes('POSTROUTING')));
    });
  }
});
