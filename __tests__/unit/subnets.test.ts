import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { genericProfile } from '../../src/profiles/generic.js';
import { makePlan } from '../../src/plan/plan.js';
import {
  addressAt,
  allocate,
  blockSize,
  contains,
  formatCidr,
  formatIpv4,
  overlaps,
  parseCidr,
  parseIpv4,
  prefixFor,
  SubnetPoolExhausted,
  type Cidr,
} from '../../src/plan/subnets.js';
import type { TopologySpec } from '../../src/spec/types.js';

const cidr = (text: string): Cidr => parseCidr(text);
const slash24 = (address: string): number => Math.floor(parseIpv4(address) / 256);

describe('IPv4 parse and format', () => {
  it('round-trips addresses, including the extremes', () => {
    for (const text of ['0.0.0.0', '10.200.1.1', '192.168.255.254', '255.255.255.255']) {
      assert.equal(formatIpv4(parseIpv4(text)), text);
    }
    assert.equal(parseIpv4('10.200.1.1'), 10 * 2 ** 24 + 200 * 2 ** 16 + 256 + 1);
    assert.equal(parseIpv4('255.255.255.255'), 2 ** 32 - 1);
  });

  it('rejects what is not a dotted quad', () => {
    for (const bad of ['', '10.200.1', '10.200.1.1.1', '10.200.1.256', '10.-1.0.0', 'a.b.c.d', '10.200.1.1 ', '1000.0.0.0', '10..1.1']) {
      assert.throws(() => parseIpv4(bad), /is not an IPv4 address/, bad);
    }
  });

  it('parses and formats CIDRs', () => {
    assert.deepEqual(parseCidr('10.200.0.0/13'), { base: parseIpv4('10.200.0.0'), prefix: 13 });
    assert.equal(formatCidr(parseCidr('10.200.4.0/22')), '10.200.4.0/22');
    assert.equal(formatCidr(parseCidr(' 0.0.0.0/0 ')), '0.0.0.0/0');
    assert.equal(formatCidr(parseCidr('10.1.2.3/32')), '10.1.2.3/32');
  });

  it('rejects bad CIDRs, and names the network for one with host bits set', () => {
    assert.throws(() => parseCidr('10.200.0.0'), /not an IPv4 CIDR/);
    assert.throws(() => parseCidr('10.200.0.0/33'), /not an IPv4 CIDR/);
    assert.throws(() => parseCidr('10.200.0.0/-1'), /not an IPv4 CIDR/);
    assert.throws(() => parseCidr('10.200.0.0/1a'), /not an IPv4 CIDR/);
    assert.throws(() => parseCidr('10.300.0.0/16'), /not an IPv4 address/);
    assert.throws(() => parseCidr('10.200.1.0/16'), /host bits set; did you mean 10\.200\.0\.0\/16\?/);
  });

  it('addressAt counts across octets and refuses to leave the block', () => {
    const block = cidr('10.200.0.0/22');
    assert.equal(addressAt(block, 0), '10.200.0.0');
    assert.equal(addressAt(block, 256 + 10), '10.200.1.10');
    assert.equal(addressAt(block, 1023), '10.200.3.255');
    assert.throws(() => addressAt(block, 1024), /outside 10\.200\.0\.0\/22/);
    assert.throws(() => addressAt(block, -1), /outside/);
  });

  it('prefixFor gives the smallest block holding that many /24s', () => {
    assert.equal(prefixFor(1, 24), 24);
    assert.equal(prefixFor(2, 24), 23);
    assert.equal(prefixFor(3, 24), 22);
    assert.equal(prefixFor(4, 24), 22);
    assert.equal(prefixFor(5, 24), 21);
    assert.equal(prefixFor(256, 24), 16);
    assert.equal(prefixFor(257, 24), 15);
  });
});

describe('overlap', () => {
  it('sees nesting, identity and partial overlap, and not adjacency', () => {
    assert.ok(overlaps(cidr('10.200.0.0/16'), cidr('10.200.7.0/24')));
    assert.ok(overlaps(cidr('10.200.7.0/24'), cidr('10.200.0.0/16')));
    assert.ok(overlaps(cidr('10.200.7.0/24'), cidr('10.200.7.0/24')));
    assert.ok(overlaps(cidr('0.0.0.0/0'), cidr('10.0.0.0/8')));
    assert.ok(!overlaps(cidr('10.200.0.0/24'), cidr('10.200.1.0/24')));
    assert.ok(!overlaps(cidr('10.199.255.0/24'), cidr('10.200.0.0/16')));
    assert.ok(!overlaps(cidr('10.201.0.0/16'), cidr('10.200.0.0/16')));
  });

  it('contains checks the first and last address of a block', () => {
    const block = cidr('10.200.4.0/22');
    assert.ok(contains(block, parseIpv4('10.200.4.0')));
    assert.ok(contains(block, parseIpv4('10.200.7.255')));
    assert.ok(!contains(block, parseIpv4('10.200.8.0')));
    assert.ok(!contains(block, parseIpv4('10.200.3.255')));
  });
});

describe('allocate', () => {
  const pool = cidr('10.200.0.0/20'); // 16 /24s

  function assertAligned(blocks: Cidr[]): void {
    for (const b of blocks) assert.equal(b.base % blockSize(b.prefix), 0, `${formatCidr(b)} is not aligned`);
  }
  function assertDisjoint(blocks: Cidr[], taken: Cidr[] = []): void {
    for (let i = 0; i < blocks.length; i++) {
      assert.ok(contains(pool, blocks[i].base) && contains(pool, blocks[i].base + blockSize(blocks[i].prefix) - 1), `${formatCidr(blocks[i])} outside the pool`);
      for (const t of taken) assert.ok(!overlaps(blocks[i], t), `${formatCidr(blocks[i])} overlaps taken ${formatCidr(t)}`);
      for (let j = i + 1; j < blocks.length; j++) assert.ok(!overlaps(blocks[i], blocks[j]), `${formatCidr(blocks[i])} overlaps ${formatCidr(blocks[j])}`);
    }
  }

  it('returns blocks in request order, with the requested prefixes', () => {
    const blocks = allocate(pool, [], [24, 22, 24, 23]);
    assert.deepEqual(blocks.map((b) => b.prefix), [24, 22, 24, 23]);
    assertAligned(blocks);
    assertDisjoint(blocks);
  });

  it('avoids every taken block, including ones larger or smaller than the request', () => {
    const taken = [cidr('10.200.0.0/22'), cidr('10.200.5.0/24'), cidr('10.200.12.0/22')];
    for (const hint of [0, 1, 2, 3]) {
      const blocks = allocate(pool, taken, [22, 24, 24, 24], hint);
      assertAligned(blocks);
      assertDisjoint(blocks, taken);
      // The only free /22 is 10.200.8.0/22 (4.0/22 holds the taken .5).
      assert.equal(formatCidr(blocks[0]), '10.200.8.0/22');
    }
  });

  it('fails with SubnetPoolExhausted, naming the pool and what is taken, when nothing fits', () => {
    const taken = [cidr('10.200.0.0/22'), cidr('10.200.5.0/24'), cidr('10.200.8.0/21')];
    assert.throws(
      () => allocate(pool, taken, [22]),
      (err: unknown) =>
        err instanceof SubnetPoolExhausted && /no free \/22 left in the pool 10\.200\.0\.0\/20/.test(err.message) && err.message.includes('10.200.5.0/24'),
    );
    // Three /24s are free (4, 6, 7): three fit, a fourth does not.
    const three = allocate(pool, taken, [24, 24, 24]);
    assert.deepEqual(three.map(formatCidr).sort(), ['10.200.4.0/24', '10.200.6.0/24', '10.200.7.0/24']);
    assert.throws(() => allocate(pool, taken, [24, 24, 24, 24]), SubnetPoolExhausted);
  });

  it('refuses a block larger than the pool', () => {
    assert.throws(() => allocate(pool, [], [19]), (err: unknown) => err instanceof SubnetPoolExhausted && /does not fit in the pool/.test(err.message));
  });

  it('a taken block covering the whole pool leaves nothing', () => {
    assert.throws(() => allocate(pool, [cidr('10.0.0.0/8')], [24]), SubnetPoolExhausted);
  });

  it('fills the pool exactly, with any start hint, never overlapping and always aligned', () => {
    for (const hint of [0, 1, 7, 15, 16, 65535]) {
      const blocks = allocate(pool, [], [22, 22, 23, 24, 24, 24, 24, 23]);
      const hinted = allocate(pool, [], [22, 22, 23, 24, 24, 24, 24, 23], hint);
      for (const set of [blocks, hinted]) {
        assertAligned(set);
        assertDisjoint(set);
        assert.equal(set.reduce((sum, b) => sum + blockSize(b.prefix), 0), blockSize(pool.prefix));
      }
    }
  });

  it('the start hint rotates where the search begins, and is deterministic', () => {
    const a = allocate(pool, [], [24], 0);
    const b = allocate(pool, [], [24], 5);
    assert.equal(formatCidr(a[0]), '10.200.0.0/24');
    assert.equal(formatCidr(b[0]), '10.200.5.0/24');
    assert.deepEqual(allocate(pool, [], [24, 23], 1234), allocate(pool, [], [24, 23], 1234));
  });

  it('does not modify the taken list it is given', () => {
    const taken = [cidr('10.200.0.0/24')];
    allocate(pool, taken, [24, 24]);
    assert.deepEqual(taken, [cidr('10.200.0.0/24')]);
  });
});

describe('addressing at scale: 300 peers', () => {
  const spec: TopologySpec = {
    name: 'big',
    gateways: 2,
    peers: Array.from({ length: 300 }, (_, index) => ({ index, nat: 'port-restricted' as const, group: `peer-${index}` })),
    binary: '/tmp/peer',
    profile: 'generic',
    command: '{binary} --port {network_port}',
    wsPort: 9000,
    networkPort: 31337,
    readyTimeoutMs: 60_000,
    subnetPool: '10.200.0.0/13',
    hairpin: false,
    logLevel: 'info',
    env: {},
  };
  // Some of the pool is taken by other networks, so blocks are not simply consecutive.
  const taken = [cidr('10.200.0.0/16'), cidr('10.203.17.0/24'), cidr('10.204.0.0/20')];
  const plan = makePlan(spec, {
    topologyId: 'big-abc123',
    createdAt: '2026-01-01T00:00:00.000Z',
    owner: 'test',
    taken,
    routerImage: 'r:1',
    peerImage: 'p:1',
    startHint: 4321,
    profile: genericProfile(),
  });

  it('gives every container address once', () => {
    const addresses = [...plan.nodes.map((n) => n.address), ...plan.routers.flatMap((r) => [r.publicAddress, r.privateAddress])];
    assert.equal(addresses.length, 302 + 600);
    assert.equal(new Set(addresses).size, addresses.length, 'an address is used twice');
    for (const a of addresses) assert.equal(formatIpv4(parseIpv4(a)), a);
  });

  it('puts every router and gateway in a /24 of its own, inside the public subnet', () => {
    const publicNet = plan.networks.find((n) => n.kind === 'public')!;
    const publicCidr = cidr(publicNet.subnet);
    const hosts = [...plan.nodes.filter((n) => n.role === 'gateway').map((n) => n.address), ...plan.routers.map((r) => r.publicAddress)];
    assert.equal(hosts.length, 302);
    for (const h of hosts) assert.ok(contains(publicCidr, parseIpv4(h)), `${h} is outside ${publicNet.subnet}`);
    assert.equal(new Set(hosts.map(slash24)).size, hosts.length, 'two routers/gateways share a /24');
    // Docker's own range for test hosts is a further /24 of its own.
    const auto = cidr(publicNet.autoRange!);
    assert.equal(auto.prefix, 24);
    assert.ok(contains(publicCidr, auto.base));
    assert.ok(!hosts.some((h) => slash24(h) === slash24(formatIpv4(auto.base))));
  });

  it('wraps no octet: router 255 and beyond get addresses further up, not back at the start', () => {
    const r0 = parseIpv4(plan.routers[0].publicAddress);
    for (const r of plan.routers) {
      // Consecutive /24s from router 0, whatever the octet boundaries.
      assert.equal(parseIpv4(r.publicAddress) - r0, r.index * 256, `router ${r.index} at ${r.publicAddress}`);
      assert.match(r.publicAddress, /\.10$/);
    }
    assert.ok(plan.routers.length === 300 && slash24(plan.routers[299].publicAddress) - slash24(plan.routers[0].publicAddress) === 299);
  });

  it('gives each LAN its own /24, overlapping nothing taken, nothing else planned and not the public network', () => {
    const subnets = plan.networks.map((n) => cidr(n.subnet));
    assert.equal(subnets.length, 301);
    for (let i = 0; i < subnets.length; i++) {
      for (const t of taken) assert.ok(!overlaps(subnets[i], t), `${plan.networks[i].subnet} overlaps taken ${formatCidr(t)}`);
      for (let j = i + 1; j < subnets.length; j++) assert.ok(!overlaps(subnets[i], subnets[j]), `${plan.networks[i].subnet} overlaps ${plan.networks[j].subnet}`);
      assert.ok(contains(cidr(spec.subnetPool), subnets[i].base));
    }
    for (const r of plan.routers) {
      const lan = cidr(r.privateSubnet);
      assert.equal(lan.prefix, 24);
      assert.ok(contains(lan, parseIpv4(r.privateAddress)));
      for (const p of r.peerAddresses) assert.ok(contains(lan, parseIpv4(p)));
    }
  });

  it('fails clearly when the pool is too small for the topology', () => {
    assert.throws(
      () =>
        makePlan({ ...spec, subnetPool: '10.200.0.0/22' }, {
          topologyId: 'big-abc123',
          createdAt: '2026-01-01T00:00:00.000Z',
          owner: 'test',
          taken: [],
          routerImage: 'r:1',
          peerImage: 'p:1',
          profile: genericProfile(),
        }),
      SubnetPoolExhausted,
    );
  });
});
