/**
 * Issue 2's topology properties, proven on the real engine with real packets. Every
 * topology here is the test's own and is removed in `finally`/`after`; packets go only
 * to containers the test created (through their HTTP control on 127.0.0.1).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { bringUp, hostRoutes, newTopologyId, prepareImages } from '../../src/core/bring-up.js';
import { down } from '../../src/core/down.js';
import type { NodeRecord, TopologyRecord } from '../../src/core/record.js';
import { engineSubnets, inspectContainer, logTail } from '../../src/engine/resources.js';
import { ROUTER_READY_MARKER } from '../../src/nat/router-script.js';
import { LABEL } from '../../src/plan/labels.js';
import { contains, formatCidr, overlaps, parseCidr, parseIpv4, type Cidr } from '../../src/plan/subnets.js';
import type { Plan } from '../../src/plan/types.js';
import { parseSpec, type RawInputs } from '../../src/spec/parse.js';
import { execIn } from './nat-support.js';
import {
  bringUpForTest,
  bringUpProbes,
  engine,
  eventually,
  labelledResources,
  nodeProbe,
  probeAt,
  ROOT,
  startPublicHost,
  status,
  TEST_PEER,
  type Probe,
  type TestTopology,
} from './support.js';

const DEADLINE_MS = 60_000;
const TEST_TIMEOUT_MS = 240_000;

const slash24 = (address: string) => Math.floor(parseIpv4(address) / 256);
const node = (t: { record: TopologyRecord }, key: string): NodeRecord => {
  const found = t.record.nodes.find((n) => n.key === key);
  assert.ok(found, `no node ${key} in the record`);
  return found;
};
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

/**
 * Watches `arrived` for a bounded window; fails as soon as it reports true. For
 * "this packet never arrives", which has no condition to wait on but the clock.
 */
async function never(what: string, arrived: () => Promise<boolean>, windowMs: number): Promise<void> {
  const end = Date.now() + windowMs;
  for (let i = 0; i < 1000 && Date.now() < end; i++) {
    assert.equal(await arrived(), false, `${what} happened`);
    await new Promise((r) => setTimeout(r, Math.min(100, Math.max(0, end - Date.now()))));
  }
  assert.equal(await arrived(), false, `${what} happened`);
}

interface Received {
  port: number;
  from: string;
  data: string;
}
const receivedOn = (probe: Probe, port: number) => probe.get<Received[]>('/received', { port });

/** A bring-up with a topology id the test knows, so it can check what is left even after a failure. */
async function attemptBringUp(inputs: RawInputs): Promise<{ topologyId: string; plans: Plan[]; record?: TopologyRecord; error?: Error }> {
  const e = await engine();
  const spec = parseSpec({ binary: TEST_PEER, 'ready-timeout': '60', ...inputs }, { cwd: ROOT, env: process.env });
  const topologyId = newTopologyId(spec.name);
  const images = await prepareImages(e, spec, () => {});
  const plans: Plan[] = [];
  try {
    const record = await bringUp(e, spec, { topologyId, images, teardown: () => down(e, topologyId), onPlan: (p) => plans.push(p) });
    return { topologyId, plans, record };
  } catch (error) {
    return { topologyId, plans, error: error as Error };
  }
}

/**
 * A datagram sent from inside a container (docker exec, not its HTTP control: a NATed
 * peer's control path runs through its router, which these tests stop).
 */
async function sendFrom(t: TestTopology, containerId: string, to: string, data: string, count = 1, gapMs = 0): Promise<void> {
  const [host, port] = to.split(':');
  const script =
    "const s = require('dgram').createSocket('udp4'); let i = 0;" +
    `const next = () => { if (i === ${count}) return s.close(); const d = ${count} > 1 ? '${data}#' + i : '${data}'; i++;` +
    ` s.send(d, ${Number(port)}, '${host}', () => setTimeout(next, ${gapMs})); }; next();`;
  const r = await execIn(t, containerId, ['node', '-e', script]);
  assert.equal(r.exitCode, 0, r.output);
}

/** A NATed peer's probe at its router's current host port (a restarted router publishes on new ports). */
async function currentProbe(t: TestTopology, key: string): Promise<Probe> {
  const n = node(t, key);
  const forward = t.plan.routers.find((r) => r.name === n.router!.name)!.wsForwards.find((f) => f.peerKey === key)!;
  const info = await inspectContainer(t.engine, n.router!.containerId);
  const hostPort = Number(info.NetworkSettings.Ports?.[`${forward.routerPort}/tcp`]?.[0]?.HostPort);
  assert.ok(hostPort > 0, `${n.router!.name} publishes no port for ${key}`);
  return probeAt(hostPort, n.address, n.containerId);
}

/** After a restart: the router printed its ready marker a second time, so its rules are loaded. */
async function routerReadyAgain(routerId: string): Promise<void> {
  const e = await engine();
  await eventually(
    'the restarted router ready again',
    async () => ((await logTail(e, routerId, 200)).split(ROUTER_READY_MARKER).length - 1 >= 2 ? true : undefined),
    DEADLINE_MS,
  );
}

async function teardown(topologyId: string): Promise<void> {
  const result = await down(await engine(), topologyId);
  assert.deepEqual(result.errors, [], 'teardown reported errors');
  assert.deepEqual(await labelledResources(topologyId), [], 'resources left after teardown');
}

describe('a topology of 1 gateway and 2 peers running the stand-in peer', () => {
  let t: TestTopology;
  before(async () => {
    t = await bringUpForTest({ gateways: '1', peers: '2', name: uniqueName('topo') });
  });
  after(async () => {
    if (t) await teardown(t.record.topologyId);
  });

  it("a: the gateway sees each peer's packets coming from that peer's router public address", { timeout: TEST_TIMEOUT_MS }, async () => {
    const gateway = node(t, 'gateway-0');
    for (const key of ['peer-0', 'peer-1']) {
      const peer = node(t, key);
      assert.ok(peer.router, `${key} has no router in the record`);
      const expected = `${peer.router.publicAddress}:31337`;
      const peerKey = (await status<{ publicKey: string }>(peer.wsHostPort)).publicKey;
      const registration = await eventually(
        `${key} registered at the gateway`,
        async () => {
          const s = await status<{ peers: { key: string; observed: string; role: string }[] }>(gateway.wsHostPort);
          return s.peers.find((p) => p.key === peerKey);
        },
        DEADLINE_MS,
      );
      assert.equal(registration.observed, expected, `${key} is seen from the wrong address`);
      assert.notEqual(registration.observed.split(':')[0], peer.address, 'the private address leaked');
      // And the peer learned the same from the gateway's answer.
      const observedAs = await eventually(`${key} welcomed`, async () => {
        const s = await status<{ gateways: { observedAs: string | null; self: boolean }[] }>(peer.wsHostPort);
        return s.gateways.find((g) => !g.self)?.observedAs ?? undefined;
      }, DEADLINE_MS);
      assert.equal(observedAs, expected);
    }
  });

  it('b: each peer is on exactly one network, its LAN, shared only with its router', { timeout: TEST_TIMEOUT_MS }, async () => {
    const e = t.engine;
    const publicNet = t.record.networks.find((n) => n.kind === 'public')!;
    for (const key of ['peer-0', 'peer-1']) {
      const peer = node(t, key);
      const info = await inspectContainer(e, peer.containerId);
      const networks = Object.keys(info.NetworkSettings.Networks);
      assert.equal(networks.length, 1, `${key} is on ${networks.join(', ')}`);
      const lan = t.record.networks.find((n) => n.name === networks[0]);
      assert.ok(lan && lan.kind === 'private', `${key}'s network ${networks[0]} is not one of its topology's LANs`);
      assert.notEqual(info.HostConfig.NetworkMode, 'bridge');
      assert.equal(info.NetworkSettings.Networks[lan.name].IPAddress, peer.address);
      const members = await e.docker.getNetwork(lan.id).inspect();
      assert.deepEqual(Object.keys(members.Containers ?? {}).sort(), [peer.containerId, peer.router!.containerId].sort(), `${lan.name} holds more than ${key} and its router`);
      // The router is on the LAN and on the public network, nothing else.
      const router = await inspectContainer(e, peer.router!.containerId);
      assert.deepEqual(Object.keys(router.NetworkSettings.Networks).sort(), [lan.name, publicNet.name].sort());
    }
    // Gateways sit on the public network only.
    const gw = await inspectContainer(e, node(t, 'gateway-0').containerId);
    assert.deepEqual(Object.keys(gw.NetworkSettings.Networks), [publicNet.name]);
    // The two LANs are different networks.
    assert.notEqual(node(t, 'peer-0').router!.containerId, node(t, 'peer-1').router!.containerId);
  });

  it('c: every router and gateway has an address in its own /24 of the public network (record)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const publicNet = t.record.networks.find((n) => n.kind === 'public')!;
    const addresses = [...t.record.nodes.filter((n) => n.role === 'gateway').map((n) => n.address), ...t.record.routers.map((r) => r.publicAddress)];
    assert.equal(addresses.length, 3);
    for (const a of addresses) assert.ok(contains(parseCidr(publicNet.subnet), parseIpv4(a)), `${a} is outside ${publicNet.subnet}`);
    assert.equal(new Set(addresses.map(slash24)).size, addresses.length, `shared /24 among ${addresses.join(', ')}`);
    // What the engine actually gave them matches the record.
    for (const r of t.record.routers) {
      const info = await inspectContainer(t.engine, r.containerId);
      assert.equal(info.NetworkSettings.Networks[publicNet.name].IPAddress, r.publicAddress);
    }
  });

  it("d: the host reaches each node's WebSocket port on 127.0.0.1 only (a NATed peer's through its router)", { timeout: TEST_TIMEOUT_MS }, async () => {
    const published = async (id: string) => {
      const info = await inspectContainer(t.engine, id);
      const ports = info.NetworkSettings.Ports ?? {};
      for (const b of Object.values(ports).flatMap((x) => x ?? [])) assert.equal(b.HostIp, '127.0.0.1', `${info.Name} binds ${b.HostIp}:${b.HostPort}`);
      for (const b of Object.values(info.HostConfig.PortBindings ?? {}).flatMap((x) => (x ?? []) as { HostIp: string }[])) assert.equal(b.HostIp, '127.0.0.1');
      return Object.fromEntries(Object.entries(ports).filter(([, b]) => (b ?? []).length > 0).map(([p, b]) => [p, Number(b![0].HostPort)]));
    };
    for (const n of t.record.nodes) {
      if (n.router) {
        // The peer publishes nothing (the host is not on its LAN); its router publishes its forward port.
        assert.deepEqual(await published(n.containerId), {}, `${n.key} publishes a port`);
        const routerPorts = await published(n.router.containerId);
        assert.deepEqual(Object.values(routerPorts), [n.wsHostPort], `${n.router.name}: ${JSON.stringify(routerPorts)}`);
      } else {
        assert.deepEqual(await published(n.containerId), { '9000/tcp': n.wsHostPort });
      }
      assert.equal(n.wsUrl.startsWith(`ws://127.0.0.1:${n.wsHostPort}/`), true, n.wsUrl);
      const response = await fetch(`http://127.0.0.1:${n.wsHostPort}/status`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { role: string };
      assert.equal(body.role, n.role);
    }
  });
});

describe('a topology of 1 gateway and 2 peers running the UDP probe', () => {
  let t: TestTopology;
  let host: Probe;
  before(async () => {
    t = await bringUpProbes({ gateways: '1', peers: '2', name: uniqueName('probe') });
    host = await startPublicHost(t);
  });
  after(async () => {
    if (t) await teardown(t.record.topologyId);
  });

  it('c: a public host sees the gateway and each router from addresses in distinct /24s', { timeout: TEST_TIMEOUT_MS }, async () => {
    await host.post('/bind', { port: 5000 });
    const senders = ['gateway-0', 'peer-0', 'peer-1'];
    for (const key of senders) await nodeProbe(t, key).post('/send', { from: 4000, to: `${host.address}:5000`, data: key });
    const got = await eventually('a datagram from every sender at the host', async () => {
      const r = await receivedOn(host, 5000);
      return senders.every((s) => r.some((x) => x.data === s)) ? r : undefined;
    }, DEADLINE_MS);
    const sourceOf = (key: string) => got.find((x) => x.data === key)!.from.split(':')[0];
    assert.equal(sourceOf('gateway-0'), node(t, 'gateway-0').address);
    assert.equal(sourceOf('peer-0'), node(t, 'peer-0').router!.publicAddress);
    assert.equal(sourceOf('peer-1'), node(t, 'peer-1').router!.publicAddress);
    const sources = senders.map(sourceOf);
    assert.equal(new Set([...sources, host.address].map(slash24)).size, 4, `shared /24 among ${sources.join(', ')} and the host ${host.address}`);
  });

  it('b: with its router down a peer reaches nobody; with the router back it does', { timeout: TEST_TIMEOUT_MS }, async () => {
    const e = t.engine;
    const peerId = node(t, 'peer-0').containerId;
    const routerId = node(t, 'peer-0').router!.containerId;
    const router = e.docker.getContainer(routerId);
    await host.post('/bind', { port: 5100 });
    // Pausing is not enough: a frozen router's kernel still forwards. Stopping it takes its namespace away.
    await router.kill();
    await eventually('the router stopped', async () => ((await inspectContainer(e, routerId)).State.Running ? undefined : true), DEADLINE_MS);
    try {
      await sendFrom(t, peerId, `${host.address}:5100`, 'router-down');
      // Longer than the neighbour table holds a packet while it looks for the router (3 s).
      await never('a datagram through a stopped router', async () => (await receivedOn(host, 5100)).length > 0, 5000);
    } finally {
      await router.start();
    }
    // Its rules are loaded once it says so again (see the todo test below for the moment before).
    await routerReadyAgain(routerId);
    let n = 0;
    const got = await eventually(
      'a control datagram after the router is back',
      async () => {
        await sendFrom(t, peerId, `${host.address}:5100`, `control-${n++}`);
        const r = await receivedOn(host, 5100);
        return r.some((x) => x.data.startsWith('control-')) ? r : undefined;
      },
      DEADLINE_MS,
    );
    assert.ok(!got.some((x) => x.data === 'router-down'), 'the datagram sent while the router was down arrived later');
    assert.equal(got.find((x) => x.data.startsWith('control-'))!.from.split(':')[0], node(t, 'peer-0').router!.publicAddress);
    // Its WebSocket path is back too, through the router's new host port.
    assert.deepEqual(await (await currentProbe(t, 'peer-0')).post('/bind', { port: 4100 }), { port: 4100 });
  });

  it(
    'a router restarting forwards nothing un-NATed, even before its rules are loaded',
    {
      timeout: TEST_TIMEOUT_MS,
      todo: 'known bug: Docker enables ip_forward (Sysctls) when the namespace is made, before the router script loads its rules; ' +
        'what a peer sends in that moment leaves with its private source, and that flow stays un-NATed in conntrack',
    },
    async () => {
      const e = t.engine;
      const peerId = node(t, 'peer-1').containerId;
      const routerId = node(t, 'peer-1').router!.containerId;
      const router = e.docker.getContainer(routerId);
      await host.post('/bind', { port: 5300 });
      await router.kill();
      await eventually('the router stopped', async () => ((await inspectContainer(e, routerId)).State.Running ? undefined : true), DEADLINE_MS);
      // A steady stream from one socket across the restart: 300 datagrams, 10 ms apart.
      const burst = sendFrom(t, peerId, `${host.address}:5300`, 'burst', 300, 10);
      try {
        await router.start();
      } finally {
        await burst;
      }
      await routerReadyAgain(routerId);
      await sendFrom(t, peerId, `${host.address}:5300`, 'after-ready');
      const got = await eventually('datagrams through the restarted router', async () => {
        const r = await receivedOn(host, 5300);
        return r.some((x) => x.data === 'after-ready') ? r : undefined;
      }, DEADLINE_MS);
      const sources = [...new Set(got.map((x) => x.from.split(':')[0]))];
      assert.deepEqual(sources, [node(t, 'peer-1').router!.publicAddress], `seen from ${sources.join(', ')}`);
    },
  );

  it("d: a NATed peer's WebSocket forward answers the host alone, not any node on the public network", { timeout: TEST_TIMEOUT_MS }, async () => {
    const router = node(t, 'peer-0').router!;
    const forwardPort = t.plan.routers.find((r) => r.name === router.name)!.wsForwards[0].routerPort;
    // The host, straight to the router's forward port (a container of this test): peer-0's probe answers.
    const direct = await fetch(`http://${router.publicAddress}:${forwardPort}/nowhere`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(direct.status, 404);
    assert.deepEqual(await direct.json(), { error: 'not found' });
    /** A TCP connect from inside a container of the topology: 'open', 'timeout' or an error code. */
    const connectFrom = async (id: string, address: string, port: number): Promise<string> => {
      const script =
        `const s = require('net').connect({ host: '${address}', port: ${port}, timeout: 2000 });` +
        "s.on('connect', () => { console.log('open'); process.exit(0); });" +
        "s.on('timeout', () => { console.log('timeout'); process.exit(0); });" +
        "s.on('error', (e) => { console.log(e.code); process.exit(0); });";
      const r = await execIn(t, id, ['node', '-e', script]);
      assert.equal(r.exitCode, 0, r.output);
      return r.output.trim();
    };
    // The connect itself works from there: the gateway's own WebSocket port answers a public host.
    assert.equal(await connectFrom(host.id, node(t, 'gateway-0').address, 9000), 'open');
    // But the router's forward does not: from a public host, from the gateway, from another peer.
    assert.notEqual(await connectFrom(host.id, router.publicAddress, forwardPort), 'open', 'a public host reached the forward');
    assert.notEqual(await connectFrom(node(t, 'gateway-0').containerId, router.publicAddress, forwardPort), 'open', 'the gateway reached the forward');
    assert.notEqual(await connectFrom(node(t, 'peer-1').containerId, router.publicAddress, forwardPort), 'open', 'peer-1 reached the forward');
  });

  it("b: a datagram from peer-0 to peer-1's private address never arrives", { timeout: TEST_TIMEOUT_MS }, async () => {
    // The routers were restarted above: their forwards are on new host ports.
    const peer0 = await currentProbe(t, 'peer-0');
    const peer1 = await currentProbe(t, 'peer-1');
    const router1 = node(t, 'peer-1').router!.publicAddress;
    // peer-1 opens a mapping to the host, and shows its socket receives (the host's echo comes back).
    await host.post('/echo', { port: 5200 });
    await peer1.post('/bind', { port: 4200 });
    await eventually('the echo at peer-1', async () => {
      await peer1.post('/send', { from: 4200, to: `${host.address}:5200`, data: 'open' });
      return (await receivedOn(peer1, 4200)).some((x) => x.data === 'echo:open') ? true : undefined;
    }, DEADLINE_MS);
    await peer0.post('/send', { from: 4201, to: `${peer1.address}:4200`, data: 'direct' });
    await peer0.post('/send', { from: 4201, to: `${node(t, 'gateway-0').address}:9`, data: 'gw' });
    // A datagram sent after it, along the legitimate path, does arrive.
    await host.post('/send', { from: 5200, to: `${router1}:4200`, data: 'via-router' });
    await eventually('the host datagram at peer-1', async () => ((await receivedOn(peer1, 4200)).some((x) => x.data === 'via-router') ? true : undefined), DEADLINE_MS);
    await never('a datagram to a private address of another LAN', async () => (await receivedOn(peer1, 4200)).some((x) => x.data === 'direct'), 3000);
  });
});

describe('subnets avoid networks already on the engine', () => {
  it('e: a decoy network in the subnet pool is avoided, on the first plan', { timeout: TEST_TIMEOUT_MS }, async () => {
    const e = await engine();
    const taken = [...(await engineSubnets(e)), ...hostRoutes()];
    // A /21 pool of our own that nothing on the engine or host uses now.
    let pool: Cidr | undefined;
    for (let i = 0; i < 64 && !pool; i++) {
      const candidate = { base: parseIpv4('10.240.0.0') + randomBytes(2).readUInt16BE(0) % 512 * 2048, prefix: 21 };
      if (!taken.some((c) => overlaps(c, candidate))) pool = candidate;
    }
    assert.ok(pool, 'no free /21 for the test in 10.240.0.0/12');
    const decoySubnet = { base: pool.base, prefix: 24 };
    const decoyName = uniqueName('nat-net-test-decoy');
    const decoy = await e.docker.createNetwork({
      Name: decoyName,
      Driver: 'bridge',
      Labels: { 'dev.nat-net.test': 'decoy' },
      IPAM: { Driver: 'default', Config: [{ Subnet: formatCidr(decoySubnet) }] },
    });
    let topologyId: string | undefined;
    try {
      // 1 gateway + 2 peers need a /22 (public) and two /24s: 6 of the 7 /24s the decoy leaves,
      // so the public /22 can only be the pool's upper half, whatever the start hint.
      const attempt = await attemptBringUp({ gateways: '1', peers: '2', 'subnet-pool': formatCidr(pool), name: uniqueName('decoy') });
      topologyId = attempt.topologyId;
      if (attempt.error) throw attempt.error;
      const record = attempt.record!;
      assert.equal(attempt.plans.length, 1, 'the first plan clashed and was retried');
      assert.equal(record.networks.length, 3);
      for (const n of record.networks) {
        const subnet = parseCidr(n.subnet);
        assert.ok(!overlaps(subnet, decoySubnet), `${n.name} ${n.subnet} overlaps the decoy ${formatCidr(decoySubnet)}`);
        assert.ok(contains(pool, subnet.base) && contains(pool, subnet.base + 2 ** (32 - subnet.prefix) - 1), `${n.subnet} is outside the pool ${formatCidr(pool)}`);
        for (const other of taken) assert.ok(!overlaps(subnet, other), `${n.subnet} overlaps ${formatCidr(other)}, in use before`);
      }
      assert.equal(record.networks.find((n) => n.kind === 'public')!.subnet, formatCidr({ base: pool.base + 1024, prefix: 22 }));
      // The engine agrees: the networks exist with those subnets.
      for (const n of record.networks) {
        const info = await e.docker.getNetwork(n.id).inspect();
        assert.equal(info.IPAM?.Config?.[0]?.Subnet, n.subnet);
      }
    } finally {
      if (topologyId) await teardown(topologyId);
      await decoy.remove();
    }
  });
});

describe('teardown', () => {
  it('f: leaves nothing labelled, and leaves a second topology of the same name running', { timeout: TEST_TIMEOUT_MS }, async () => {
    const name = uniqueName('twin');
    const first = await bringUpForTest({ gateways: '1', peers: '1', name });
    let second: TestTopology | undefined;
    try {
      second = await bringUpForTest({ gateways: '1', peers: '1', name });
      assert.notEqual(first.record.topologyId, second.record.topologyId);
      assert.equal(first.record.name, second.record.name);
      const secondContainers = [...second.record.nodes.map((n) => n.containerId), ...second.record.routers.map((r) => r.containerId)];
      const secondLabelled = (await labelledResources(second.record.topologyId)).sort();

      const result = await down(first.engine, first.record.topologyId);
      assert.deepEqual(result.errors, []);
      assert.ok(result.containers >= 3, 'gateway, peer and router removed');
      assert.equal(result.networks, 2);
      assert.deepEqual(await labelledResources(first.record.topologyId), []);

      for (const id of secondContainers) assert.equal((await inspectContainer(second.engine, id)).State.Running, true, `${id} of the twin stopped`);
      assert.deepEqual((await labelledResources(second.record.topologyId)).sort(), secondLabelled);
      for (const n of second.record.nodes) assert.equal((await status<{ role: string }>(n.wsHostPort)).role, n.role);
      // The twin's peer still reaches its gateway through its own router.
      const gw = node(second, 'gateway-0');
      const peer = node(second, 'peer-0');
      const peerKey = (await status<{ publicKey: string }>(peer.wsHostPort)).publicKey;
      await eventually('the twin peer registered', async () => {
        const s = await status<{ peers: { key: string; observed: string }[] }>(gw.wsHostPort);
        return s.peers.find((p) => p.key === peerKey && p.observed.startsWith(`${peer.router!.publicAddress}:`));
      }, DEADLINE_MS);
    } finally {
      await down(first.engine, first.record.topologyId);
      if (second) await teardown(second.record.topologyId);
    }
    assert.deepEqual(await labelledResources(first.record.topologyId), []);
  });
  it('f2: a router leaves its LAN before it is stopped; one already off its LAN goes too, with every network', { timeout: TEST_TIMEOUT_MS }, async () => {
    const t = await bringUpForTest({ gateways: '1', peers: '2', name: uniqueName('leave') });
    try {
      assert.equal(t.record.routers.length, 2);
      const [offLan, onLan] = t.record.routers;
      const lanOf = (r: typeof offLan) => t.record.networks.find((n) => n.subnet === r.privateSubnet)!;
      await t.engine.docker.getNetwork(lanOf(offLan).id).disconnect({ Container: offLan.containerId, Force: true });
      const since = Math.floor(Date.now() / 1000) - 1;
      const result = await down(t.engine, t.record.topologyId);
      assert.deepEqual(result.errors, []);
      // Gateway, two peers, two routers; the public network and two LANs.
      assert.equal(result.containers, 5);
      assert.equal(result.networks, 3);
      assert.deepEqual(await labelledResources(t.record.topologyId), []);

      // The engine's own record: the router on its LAN was disconnected from it while it
      // still ran (before it was killed), and from its public network only as it was removed.
      const events = await engineEvents(since, Math.ceil(Date.now() / 1000) + 1);
      const at = (type: string, action: string, actor: string, container?: string) =>
        events.find((e) => e.Type === type && e.Action === action && e.Actor.ID === actor && (!container || e.Actor.Attributes.container === container))?.timeNano;
      const lanLeft = at('network', 'disconnect', lanOf(onLan).id, onLan.containerId);
      const killed = at('container', 'kill', onLan.containerId);
      const publicLeft = at('network', 'disconnect', t.record.networks.find((n) => n.kind === 'public')!.id, onLan.containerId);
      assert.ok(lanLeft && killed && publicLeft, `events of ${onLan.name} missing: LAN disconnect ${lanLeft}, kill ${killed}, public disconnect ${publicLeft}`);
      assert.ok(lanLeft < killed, `${onLan.name} left its LAN only after it was killed`);
      assert.ok(killed < publicLeft, `${onLan.name} left its public network before it was killed`);
    } finally {
      await down(t.engine, t.record.topologyId);
    }
  });
});

interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  timeNano: number;
}

/** The engine's container and network events between two times (unix seconds); the stream ends at `until`. */
async function engineEvents(since: number, until: number): Promise<EngineEvent[]> {
  const e = await engine();
  const stream = (await e.docker.getEvents({ since, until, filters: JSON.stringify({ type: ['container', 'network'] }) })) as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EngineEvent);
}

describe('readiness failure', () => {
  it('g: a peer whose process exits fails the bring-up, naming it with its log tail; nothing remains', { timeout: TEST_TIMEOUT_MS }, async () => {
    const attempt = await attemptBringUp({
      gateways: '1',
      peers: '2',
      name: uniqueName('exit'),
      binary: `${ROOT}/__tests__/fixtures/udp-probe.cjs`,
      profile: 'generic',
      command: '/bin/sh -c "if [ {name} = peer-1 ]; then echo nat-net-test-boom-{name} >&2; exit 3; fi; exec {binary} --http {ws_port}"',
    });
    try {
      assert.ok(attempt.error, 'the bring-up succeeded');
      const message = attempt.error.message;
      const failing = `nn-${attempt.topologyId}-peer-1`;
      assert.match(message, /1 of 3 nodes were not ready/);
      assert.ok(message.includes(`- ${failing}: exited with code 3`), message);
      assert.ok(message.includes('nat-net-test-boom-peer-1'), `no log tail in: ${message}`);
      assert.match(message, /ready-timeout/);
      assert.ok(!message.includes(`- nn-${attempt.topologyId}-peer-0:`), 'a ready node is named as not ready');
      assert.ok(!message.includes(`- nn-${attempt.topologyId}-gateway-0:`), 'a ready node is named as not ready');
    } finally {
      await teardown(attempt.topologyId);
    }
  });

  it('g: a ready-log that never appears fails within ready-timeout, naming the node with its log tail; nothing remains', { timeout: TEST_TIMEOUT_MS }, async () => {
    const attempt = await attemptBringUp({
      gateways: '1',
      peers: '0',
      name: uniqueName('nolog'),
      binary: `${ROOT}/__tests__/fixtures/udp-probe.cjs`,
      profile: 'generic',
      // The first line appears as soon as the node's network is set, well inside the window.
      command: '/bin/sh -c "echo nat-net-test-started-{name}; exec {binary} --http {ws_port}"',
      'ready-log': 'never-printed-\\d{12}',
      'ready-timeout': '5',
    });
    try {
      assert.ok(attempt.error, 'the bring-up succeeded');
      const message = attempt.error.message;
      assert.ok(message.includes(`- nn-${attempt.topologyId}-gateway-0:`), message);
      assert.match(message, /never-printed-\\d\{12\}/);
      assert.match(message, /within 5 s/);
      assert.match(message, /nat-net-test-started-gateway-0/, 'no log tail');
    } finally {
      await teardown(attempt.topologyId);
    }
  });
});

describe('labels', () => {
  it('every container and network of a topology carries tool, topology, name and role', { timeout: TEST_TIMEOUT_MS }, async () => {
    const name = uniqueName('labels');
    const t = await bringUpForTest({ gateways: '1', peers: '1', name });
    try {
      const filters = JSON.stringify({ label: [`${LABEL.topology}=${t.record.topologyId}`] });
      const [containers, networks] = await Promise.all([t.engine.docker.listContainers({ all: true, filters }), t.engine.docker.listNetworks({ filters })]);
      assert.deepEqual(containers.map((c) => c.Labels[LABEL.role]).sort(), ['gateway', 'peer', 'router']);
      assert.deepEqual(networks.map((n) => n.Labels?.[LABEL.role]).sort(), ['private-network', 'public-network']);
      for (const labels of [...containers.map((c) => c.Labels), ...networks.map((n) => n.Labels ?? {})]) {
        assert.equal(labels[LABEL.tool], 'nat-net');
        assert.equal(labels[LABEL.name], name);
      }
    } finally {
      await teardown(t.record.topologyId);
    }
  });
});
