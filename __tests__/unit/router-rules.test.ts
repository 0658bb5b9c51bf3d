import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contactedSet, mappingSet, natRules } from '../../src/nat/behaviours.js';
import { ROUTER_READY_MARKER, routerRuleset, routerScript, routerSysctls, shellQuote } from '../../src/nat/router-script.js';
import type { RouterPlan } from '../../src/plan/types.js';

const PUB = '10.200.1.10';
const PEERS = ['10.201.0.100', '10.201.0.101'];

/** The host's address on the public network (its bridge). */
const HOST = '10.200.0.1';

function router(nat: RouterPlan['nat'], overrides: Partial<RouterPlan> = {}): RouterPlan {
  return {
    key: 'router-0',
    name: 'nn-t-000001-router-0',
    index: 0,
    image: 'nat-net-router:test',
    nat,
    publicNetwork: 'nn-t-000001-public',
    publicAddress: PUB,
    privateNetwork: 'nn-t-000001-lan-0',
    privateAddress: '10.201.0.1',
    lanEndpointAddress: '10.201.0.2',
    privateSubnet: '10.201.0.0/24',
    hostAddress: HOST,
    peerAddresses: PEERS,
    wsForwards: PEERS.map((peerAddress, k) => ({ peerKey: `peer-${k}`, peerAddress, peerPort: 9000, routerPort: 29000 + k })),
    hairpin: false,
    labels: {},
    ...overrides,
  };
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Lines of a table section of the iptables-restore text. */
function table(restore: string, name: 'nat' | 'filter'): string[] {
  const lines = restore.split('\n');
  const start = lines.indexOf(`*${name}`);
  assert.ok(start >= 0, `no *${name} table`);
  const end = lines.indexOf('COMMIT', start);
  assert.ok(end > start, `*${name} has no COMMIT`);
  return lines.slice(start + 1, end);
}
/** The host's WebSocket forwards (TCP from the host only), checked on their own below. */
const isWsForward = (l: string) => l.includes(`-s ${HOST}/32 `) && / -p tcp --dport 29\d{3} /.test(l);
/** Inbound DNAT from the public side that any public node could use. */
const inboundDnat = (lines: string[]) => lines.filter((l) => /^-A PREROUTING\b/.test(l) && /-i \$PUB\b/.test(l) && /-j DNAT\b/.test(l) && !isWsForward(l));
const snat = (lines: string[]) => lines.filter((l) => /^-A POSTROUTING\b/.test(l) && /-o \$PUB\b/.test(l) && /-j SNAT\b/.test(l));

describe('every behaviour', () => {
  for (const nat of ['full-cone', 'address-restricted', 'port-restricted', 'symmetric'] as const) {
    it(`${nat}: SNATs outbound to the router's public address, default-drops forwarding, loads atomically`, () => {
      const { restore } = routerRuleset(router(nat));
      const script = routerScript(router(nat));
      const natLines = table(restore, 'nat');
      const filter = table(restore, 'filter');
      const out = snat(natLines);
      assert.ok(out.length >= 1, 'no outbound SNAT');
      for (const line of out) {
        assert.match(line, new RegExp(`--to-source ${esc(PUB)}(?::|\\s|$)`));
        // iptables refuses a port range without a protocol; the whole restore would fail.
        if (/--to-source [\d.]+:\d/.test(line)) assert.match(line, /-p (udp|tcp|sctp|dccp)\b/, line);
      }
      // UDP leaves through SNAT whatever the order: the first rule that matches UDP is a SNAT.
      assert.ok(out.some((l) => !/-p /.test(l) || /-p udp\b/.test(l)), 'no SNAT applies to UDP');
      assert.ok(filter.includes(':FORWARD DROP [0:0]'));
      assert.ok(filter.includes(':INPUT DROP [0:0]'));
      assert.ok(filter.includes('-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT'));
      // Outbound from the LAN is accepted, and nothing accepts new inbound except DNATed traffic.
      assert.ok(filter.some((l) => /^-A FORWARD -i \$LAN -o \$PUB\b.* -j ACCEPT$/.test(l)));
      for (const l of filter.filter((l) => /^-A FORWARD -i \$PUB\b/.test(l))) assert.match(l, /--ctstate DNAT -j ACCEPT$/);
      // The peers' gateway address is taken after the rules, before the marker.
      const takeGateway = script.indexOf(`ip addr replace 10.201.0.1/24 dev "$LAN"`);
      assert.ok(takeGateway > script.lastIndexOf('COMMIT') && takeGateway < script.indexOf(ROUTER_READY_MARKER), 'gateway taken at the wrong time');
      assert.match(script, /^LAN=\$\(iface_of 10\.201\.0\.2\)$/m);
      assert.match(script, new RegExp(`^echo ${ROUTER_READY_MARKER}\\b`, 'm'));
      assert.match(script, /^iptables-restore <<NATNET_RULES$/m);
      assert.match(script, /^ip route del default/m);
      assert.match(script, /^set -eu$/m);
      // The marker comes after the rules are loaded.
      assert.ok(script.indexOf(ROUTER_READY_MARKER) > script.indexOf('NATNET_RULES\n*nat'));
      assert.ok(script.indexOf(ROUTER_READY_MARKER) > script.lastIndexOf('COMMIT'));
    });
  }
});

describe("the host's WebSocket forwards", () => {
  for (const nat of ['full-cone', 'address-restricted', 'port-restricted', 'symmetric'] as const) {
    it(`${nat}: TCP from the host's address only, each router port to one peer's WebSocket port`, () => {
      const { restore } = routerRuleset(router(nat));
      const forwards = table(restore, 'nat').filter((l) => /-j DNAT\b/.test(l) && / -p tcp /.test(l));
      assert.deepEqual(forwards, [
        `-A PREROUTING -i $PUB -s ${HOST}/32 -d ${PUB}/32 -p tcp --dport 29000 -j DNAT --to-destination ${PEERS[0]}:9000`,
        `-A PREROUTING -i $PUB -s ${HOST}/32 -d ${PUB}/32 -p tcp --dport 29001 -j DNAT --to-destination ${PEERS[1]}:9000`,
      ]);
      const accepts = table(restore, 'filter').filter((l) => / -p tcp /.test(l) && /-i \$PUB -o \$LAN/.test(l));
      assert.equal(accepts.length, PEERS.length);
      for (const l of accepts) assert.match(l, new RegExp(`^-A FORWARD -i \\$PUB -o \\$LAN -s ${esc(HOST)}/32 -d 10\\.201\\.0\\.10[01]/32 -p tcp --dport 9000 -m conntrack --ctstate DNAT -j ACCEPT$`));
    });
  }
});

describe('port-restricted (the default)', () => {
  const r = router('port-restricted');
  const { restore } = routerRuleset(r);
  const natLines = table(restore, 'nat');

  it('preserves the source port (no random, no port range) and has no inbound DNAT', () => {
    // Endpoint-independent mapping with port preservation: a plain SNAT to the address, no randomising, no range.
    for (const out of snat(natLines)) assert.match(out, new RegExp(`-j SNAT --to-source ${esc(PUB)}$`));
    assert.deepEqual(inboundDnat(natLines), []);
    const hostToWsPort = (l: string) => l.includes(`-s ${HOST}/32 `) && / -p tcp --dport 9000 -m conntrack --ctstate DNAT -j ACCEPT$/.test(l);
    assert.ok(!table(restore, 'filter').some((l) => /-i \$PUB -o \$LAN/.test(l) && !hostToWsPort(l)), 'nothing unsolicited may be forwarded inbound');
  });

  it('with hairpin: DNAT only from the LAN, never from the public side', () => {
    const hp = routerRuleset(router('port-restricted', { hairpin: true }));
    const lines = table(hp.restore, 'nat');
    assert.deepEqual(inboundDnat(lines), []);
    const lanDnat = lines.filter((l) => /-i \$LAN/.test(l) && /-j DNAT/.test(l));
    assert.equal(lanDnat.length, PEERS.length);
    // PREROUTING hairpin lines precede the outbound SNAT.
    const firstPre = lines.findIndex((l) => l.startsWith('-A PREROUTING'));
    const snatAt = lines.findIndex((l) => l.startsWith('-A POSTROUTING -o $PUB'));
    assert.ok(firstPre >= 0 && firstPre < snatAt);
  });
});

describe('full-cone', () => {
  const r = router('full-cone');
  const rules = natRules(r);

  it('tracks each peer\'s mapped ports in a set, and DNATs inbound to a live mapping from anyone', () => {
    const dnat = inboundDnat(rules.nat);
    assert.equal(dnat.length, PEERS.length);
    PEERS.forEach((peer, k) => {
      const line = dnat.find((l) => l.endsWith(`--to-destination ${peer}`));
      assert.ok(line, `no DNAT to ${peer}`);
      assert.match(line, new RegExp(`-d ${esc(PUB)}\\b`));
      assert.match(line, new RegExp(`--match-set ${mappingSet(k)} dst`));
      assert.doesNotMatch(line, new RegExp(contactedSet(k)), 'full cone filters nobody');
      assert.ok(rules.sets.some((s) => s[0] === 'create' && s[1] === mappingSet(k)), `set ${mappingSet(k)} is not created`);
      assert.ok(rules.filter.some((l) => new RegExp(`-s ${esc(peer)} .*--add-set ${mappingSet(k)} src`).test(l)), `mapping of ${peer} is not recorded`);
    });
    assert.ok(rules.filter.includes('-A FORWARD -i $PUB -o $LAN -m conntrack --ctstate DNAT -j ACCEPT'));
    for (const out of snat(rules.nat)) assert.doesNotMatch(out, /--random|:\d+-\d+/, 'port preservation');
  });

  it('the set bookkeeping comes before the FORWARD accept that would end the chain', () => {
    const { restore } = routerRuleset(r);
    const filter = table(restore, 'filter');
    const accept = filter.findIndex((l) => /^-A FORWARD -i \$LAN -o \$PUB -j ACCEPT$/.test(l));
    const lastSet = filter.map((l, i) => (/--add-set/.test(l) ? i : -1)).reduce((a, b) => Math.max(a, b));
    assert.ok(lastSet >= 0 && lastSet < accept);
  });

  it('set timeouts follow udp-timeout', () => {
    assert.ok(natRules(router('full-cone', { udpTimeout: 33 })).sets.every((s) => s.join(' ').endsWith('timeout 33')));
    assert.ok(rules.sets.every((s) => /timeout \d+$/.test(s.join(' '))));
  });
});

describe('address-restricted', () => {
  it('DNATs inbound only from addresses the peer contacted', () => {
    const rules = natRules(router('address-restricted'));
    const dnat = inboundDnat(rules.nat);
    assert.equal(dnat.length, PEERS.length);
    PEERS.forEach((peer, k) => {
      const line = dnat.find((l) => l.endsWith(`--to-destination ${peer}`))!;
      assert.match(line, new RegExp(`--match-set ${mappingSet(k)} dst`));
      assert.match(line, new RegExp(`--match-set ${contactedSet(k)} src,dst`));
      assert.ok(rules.sets.some((s) => s[1] === contactedSet(k)));
    });
  });
});

describe('symmetric', () => {
  const rules = natRules(router('symmetric'));

  it('SNATs with --random-fully over a port range, and lets nothing unsolicited in', () => {
    const out = snat(rules.nat);
    // The first SNAT a UDP packet meets decides its mapping: it must randomise.
    const udp = out.find((l) => !/-p /.test(l) || /-p udp\b/.test(l));
    assert.ok(udp, 'no SNAT for UDP');
    assert.match(udp, new RegExp(`-p udp -j SNAT --to-source ${esc(PUB)}:\\d+-\\d+ --random-fully$`));
    for (const l of out) assert.match(l, /--random-fully$/);
    assert.deepEqual(inboundDnat(rules.nat), []);
    assert.deepEqual(rules.sets, []);
  });

  it('ignores hairpin (a symmetric NAT has no stable mapping to hairpin to)', () => {
    assert.deepEqual(natRules(router('symmetric', { hairpin: true })), rules);
  });
});

describe('router script', () => {
  it('holds only plan data: finds interfaces by address and quotes set arguments', () => {
    const script = routerScript(router('full-cone'));
    assert.match(script, new RegExp(`^PUB=\\$\\(iface_of ${esc(PUB)}\\)$`, 'm'));
    assert.match(script, /^LAN=\$\(iface_of 10\.201\.0\.2\)$/m);
    assert.match(script, new RegExp(`^ipset create ${mappingSet(0)} bitmap:port range 0-65535 timeout \\d+$`, 'm'));
    assert.match(script, /^exec sleep infinity$/m);
    // It refuses to come up when the engine made its LAN the gateway network (ports published there lead nowhere).
    assert.ok(script.indexOf('exit 71') < script.indexOf('ip route del default'));
    assert.match(script, /\$\{5:-\}" != "\$PUB"/);
  });

  it('appends extra lines before the ready marker', () => {
    const script = routerScript(router('port-restricted'), ['tc qdisc show']);
    assert.ok(script.indexOf('tc qdisc show') < script.indexOf(`echo ${ROUTER_READY_MARKER}`));
  });

  it('shellQuote leaves plain words and quotes the rest safely', () => {
    assert.equal(shellQuote('10.0.0.1/24'), '10.0.0.1/24');
    assert.equal(shellQuote('a b'), "'a b'");
    assert.equal(shellQuote("it's"), "'it'\\''s'");
    assert.equal(shellQuote('$(id)'), "'$(id)'");
  });

  it('sysctls: forwarding on, redirects off, conntrack timeouts only when asked', () => {
    assert.deepEqual(routerSysctls(router('port-restricted')), { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.send_redirects': '0' });
    const s = routerSysctls(router('port-restricted', { udpTimeout: 45 }));
    assert.equal(s['net.netfilter.nf_conntrack_udp_timeout'], '45');
    assert.equal(s['net.netfilter.nf_conntrack_udp_timeout_stream'], '45');
  });
});
