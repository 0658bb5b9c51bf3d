import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeNetworkScript } from '../../src/core/up.js';
import { LABEL, TOOL } from '../../src/plan/labels.js';
import { procRouteHex } from '../../src/plan/node-launch.js';
import { makePlan, type PlanContext } from '../../src/plan/plan.js';
import { contains, overlaps, parseCidr, parseIpv4 } from '../../src/plan/subnets.js';
import type { Plan } from '../../src/plan/types.js';
import { genericProfile } from '../../src/profiles/generic.js';
import type { NatBehaviour, PeerSpec, TopologySpec } from '../../src/spec/types.js';

const TOPOLOGY_ID = 'demo-1a2b3c';

function spec(overrides: Partial<TopologySpec> = {}): TopologySpec {
  return {
    name: 'demo',
    gateways: 2,
    peers: peers(['port-restricted', 'port-restricted', 'port-restricted']),
    binary: '/home/runner/work/freenet',
    profile: 'generic',
    command: '{binary} --role {role} --port {network_port}',
    wsPort: 9000,
    networkPort: 31337,
    readyTimeoutMs: 60_000,
    subnetPool: '10.200.0.0/13',
    hairpin: false,
    logLevel: 'info',
    env: {},
    ...overrides,
  };
}

function peers(nats: NatBehaviour[], groups?: string[]): PeerSpec[] {
  return nats.map((nat, index) => ({ index, nat, group: groups?.[index] ?? `peer-${index}` }));
}

function plan(s: TopologySpec = spec(), ctx: Partial<PlanContext> = {}): Plan {
  return makePlan(s, {
    topologyId: TOPOLOGY_ID,
    createdAt: '2026-01-01T00:00:00.000Z',
    owner: '{"host":"runner","pid":1}',
    taken: [],
    routerImage: 'nat-net-router:test',
    peerImage: 'nat-net-peer:test',
    profile: genericProfile(),
    ...ctx,
  });
}

const slash24 = (address: string) => Math.floor(parseIpv4(address) / 256);

describe('plan: names and labels', () => {
  const p = plan();

  it('names every network, router, node and the binary volume after the topology id', () => {
    const names = [...p.networks.map((n) => n.name), ...p.routers.map((r) => r.name), ...p.nodes.map((n) => n.name), p.binaryMount.volume];
    assert.equal(names.length, 4 + 3 + 5 + 1);
    for (const name of names) assert.ok(name.startsWith(`nn-${TOPOLOGY_ID}-`), name);
    assert.equal(new Set(names).size, names.length, 'a name is used twice');
    assert.deepEqual(
      p.nodes.map((n) => n.name),
      ['gateway-0', 'gateway-1', 'peer-0', 'peer-1', 'peer-2'].map((k) => `nn-${TOPOLOGY_ID}-${k}`),
    );
  });

  it('labels every network, router and node with tool, topology, name and role', () => {
    const expectRole = (labels: Record<string, string>, role: string, what: string) => {
      assert.equal(labels[LABEL.tool], TOOL, what);
      assert.equal(labels[LABEL.topology], TOPOLOGY_ID, what);
      assert.equal(labels[LABEL.name], 'demo', what);
      assert.equal(labels[LABEL.role], role, what);
      assert.equal(labels[LABEL.owner], '{"host":"runner","pid":1}', what);
    };
    for (const n of p.networks) expectRole(n.labels, n.kind === 'public' ? 'public-network' : 'private-network', n.name);
    for (const r of p.routers) {
      expectRole(r.labels, 'router', r.name);
      assert.equal(r.labels[LABEL.index], String(r.index));
    }
    for (const n of p.nodes) {
      expectRole(n.labels, n.role, n.name);
      assert.equal(n.labels[LABEL.index], String(n.index));
    }
    assert.equal(p.labels[LABEL.tool], TOOL);
    assert.equal(p.labels[LABEL.topology], TOPOLOGY_ID);
    assert.equal(p.labels[LABEL.role], undefined, 'the topology-wide labels carry no role');
  });

  it('plans one public network, one LAN per router, gateways on the public network', () => {
    assert.deepEqual(p.networks.map((n) => n.kind), ['public', 'private', 'private', 'private']);
    const pub = p.networks[0];
    for (const g of p.nodes.filter((n) => n.role === 'gateway')) {
      assert.equal(g.network, pub.name);
      assert.equal(g.publicAddress, g.address);
      assert.equal(g.routerKey, undefined);
      assert.equal(g.nat, 'none');
    }
  });
});

describe('plan: addresses and routes', () => {
  const p = plan();
  const pub = p.networks.find((n) => n.kind === 'public')!;

  it("gives each NATed peer its own LAN, its router's private address as default route, and its router's public address", () => {
    for (const node of p.nodes.filter((n) => n.role === 'peer')) {
      const router = p.routers.find((r) => r.key === node.routerKey);
      assert.ok(router, `${node.name} has no router`);
      assert.equal(node.network, router.privateNetwork);
      assert.notEqual(node.network, pub.name);
      assert.equal(node.routerAddress, router.privateAddress);
      assert.equal(node.publicAddress, router.publicAddress);
      assert.ok(contains(parseCidr(router.privateSubnet), parseIpv4(node.address)));
      assert.ok(router.peerAddresses.includes(node.address));
      // The wait script compares /proc/net/route with this; the engine sets it as the LAN's gateway.
      assert.equal(node.env.NAT_NET_DEFAULT_ROUTE, procRouteHex(router.privateAddress));
      const lan = p.networks.find((n) => n.name === node.network)!;
      assert.equal(lan.gateway, router.privateAddress);
      assert.equal(lan.hostHoldsGateway, false, 'the host must not hold the peers\' gateway');
      assert.notEqual(router.lanEndpointAddress, router.privateAddress);
      assert.ok(contains(parseCidr(router.privateSubnet), parseIpv4(router.lanEndpointAddress)));
      // Its WebSocket port is published through its router.
      const forward = router.wsForwards.find((f) => f.peerKey === node.key)!;
      assert.deepEqual([forward.peerAddress, forward.peerPort, forward.routerPort], [node.address, node.wsPort, node.wsRouterPort]);
      assert.equal(router.hostAddress, pub.gateway);
    }
  });

  it("names every LAN so that it sorts after the public network (the engine's tie-break for a router's gateway network)", () => {
    const lans = p.networks.filter((n) => n.kind === 'private');
    assert.ok(lans.length > 0);
    for (const lan of lans) assert.ok(lan.name > pub.name, `${lan.name} sorts before ${pub.name}`);
    // Two-digit router indexes too.
    const big = plan(spec({ peers: peers(Array.from({ length: 12 }, () => 'symmetric' as const)) }));
    const bigPub = big.networks.find((n) => n.kind === 'public')!.name;
    for (const lan of big.networks.filter((n) => n.kind === 'private')) assert.ok(lan.name > bigPub, lan.name);
  });

  it('gateways have no default route at all', () => {
    for (const node of p.nodes.filter((n) => n.role === 'gateway')) {
      assert.equal(node.env.NAT_NET_DEFAULT_ROUTE, 'none');
      assert.doesNotMatch(nodeNetworkScript(), /route (replace|add) default/);
      assert.match(nodeNetworkScript(), /ip route del default/);
      assert.equal(node.wsRouterPort, undefined);
    }
  });

  it('puts every gateway and router public address in a distinct /24 of the public subnet', () => {
    const publicAddresses = [...p.nodes.filter((n) => n.role === 'gateway').map((n) => n.address), ...p.routers.map((r) => r.publicAddress)];
    assert.equal(publicAddresses.length, 5);
    assert.equal(new Set(publicAddresses.map(slash24)).size, 5);
    for (const a of publicAddresses) assert.ok(contains(parseCidr(pub.subnet), parseIpv4(a)), `${a} outside ${pub.subnet}`);
    assert.ok(!publicAddresses.includes(pub.gateway));
  });

  it("keeps Docker's spare range (test hosts) and the gateways clear of the addresses the engine assigns", () => {
    const auto = parseCidr(pub.autoRange!);
    // What the engine assigns: nodes, routers' public and LAN endpoints (a LAN's gateway is taken by its router itself).
    const assigned = [...p.nodes.map((n) => n.address), ...p.routers.flatMap((r) => [r.publicAddress, r.lanEndpointAddress])];
    assert.equal(new Set(assigned).size, assigned.length, 'an address is assigned twice');
    for (const a of assigned) assert.ok(!contains(auto, parseIpv4(a)), `${a} is in the auto range ${pub.autoRange}`);
    for (const net of p.networks) {
      assert.ok(contains(parseCidr(net.subnet), parseIpv4(net.gateway)));
      assert.ok(!assigned.includes(net.gateway), `${net.gateway} is both a gateway and an assigned address`);
    }
    for (const r of p.routers) assert.equal(p.networks.find((n) => n.name === r.privateNetwork)!.gateway, r.privateAddress);
  });

  it('allocates around subnets already taken on the engine', () => {
    const taken = [parseCidr('10.200.0.0/16'), parseCidr('10.201.0.0/24'), parseCidr('10.201.2.0/23')];
    const q = plan(spec(), { taken, startHint: 0 });
    for (const net of q.networks) {
      for (const t of taken) assert.ok(!overlaps(parseCidr(net.subnet), t), `${net.subnet} overlaps a taken subnet`);
      assert.ok(contains(parseCidr('10.200.0.0/13'), parseCidr(net.subnet).base));
    }
  });

  it('is deterministic for the same inputs (the plan is decided, not guessed)', () => {
    const a = plan(spec(), { startHint: 99 });
    const b = plan(spec(), { startHint: 99 });
    assert.deepEqual(a, b);
  });
});

describe('plan: groups and `none` peers', () => {
  it('peers of one group share one router and LAN, each with its own address', () => {
    const p = plan(spec({ peers: peers(['full-cone', 'full-cone', 'symmetric'], ['home', 'home', 'office']) }));
    assert.equal(p.routers.length, 2);
    const [home, office] = p.routers;
    assert.equal(home.nat, 'full-cone');
    assert.equal(office.nat, 'symmetric');
    assert.equal(home.peerAddresses.length, 2);
    const [p0, p1, p2] = p.nodes.filter((n) => n.role === 'peer');
    assert.equal(p0.routerKey, home.key);
    assert.equal(p1.routerKey, home.key);
    assert.equal(p2.routerKey, office.key);
    assert.equal(p0.network, p1.network);
    assert.notEqual(p0.address, p1.address);
    assert.equal(p0.publicAddress, p1.publicAddress);
    assert.deepEqual(home.peerAddresses, [p0.address, p1.address]);
    assert.equal(p.networks.filter((n) => n.kind === 'private').length, 2);
  });

  it('refuses one group with two NAT behaviours, naming both peers and the group', () => {
    assert.throws(() => plan(spec({ peers: peers(['full-cone', 'symmetric'], ['home', 'home']) })), /peers 0 and 1 share group 'home'/);
  });

  it('`none` peers sit on the public network, with no router, no default route and a /24 of their own', () => {
    const p = plan(spec({ gateways: 1, peers: peers(['none', 'port-restricted', 'none']) }));
    const pub = p.networks.find((n) => n.kind === 'public')!;
    assert.equal(p.routers.length, 1);
    assert.equal(p.networks.length, 2);
    const [n0, n1, n2] = p.nodes.filter((n) => n.role === 'peer');
    for (const n of [n0, n2]) {
      assert.equal(n.network, pub.name);
      assert.equal(n.nat, 'none');
      assert.equal(n.publicAddress, n.address);
      assert.equal(n.routerKey, undefined);
      assert.equal(n.env.NAT_NET_DEFAULT_ROUTE, 'none');
      assert.ok(contains(parseCidr(pub.subnet), parseIpv4(n.address)));
    }
    assert.equal(n1.routerKey, p.routers[0].key);
    const onPublic = [...p.nodes.filter((n) => n.network === pub.name).map((n) => n.address), p.routers[0].publicAddress];
    assert.equal(onPublic.length, 4);
    assert.equal(new Set(onPublic.map(slash24)).size, 4);
  });

  it('a topology of gateways only has no routers and no LANs', () => {
    const p = plan(spec({ gateways: 3, peers: [] }));
    assert.equal(p.routers.length, 0);
    assert.deepEqual(p.networks.map((n) => n.kind), ['public']);
    assert.equal(p.nodes.length, 3);
  });
});

describe('plan: what runs in each node', () => {
  it('mounts the binary read-only under a safe file name', () => {
    assert.equal(plan().binaryMount.fileName, 'freenet');
    assert.equal(plan().binaryMount.hostPath, '/home/runner/work/freenet');
    assert.equal(plan(spec({ binary: '/tmp/my peer;rm -rf' })).binaryMount.fileName, 'peer-program');
  });

  it('launches the profile argv unchanged after a fixed wrapper, with images and ports from the context and spec', () => {
    const p = plan();
    const scripts = new Set(p.nodes.map((n) => n.launch[2]));
    assert.equal(scripts.size, 1, 'the wrapper script must not vary by node');
    for (const n of p.nodes) {
      assert.equal(n.image, 'nat-net-peer:test');
      assert.deepEqual(n.launch.slice(0, 2), ['/bin/sh', '-c']);
      assert.deepEqual(n.launch.slice(4), n.command);
      assert.deepEqual(n.command, [`/nat-net/bin/freenet`, '--role', n.role, '--port', '31337']);
      assert.equal(n.wsPort, 9000);
      assert.equal(n.networkPort, 31337);
    }
    for (const r of p.routers) assert.equal(r.image, 'nat-net-router:test');
  });
});
