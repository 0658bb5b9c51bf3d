/** Emulation inputs, the environment variable, per-node settings, and where they land in the plan. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emulationRecord, emulationTable, nodeEmulationLines, routerEmulationLines } from '../../src/emulation/apply.js';
import { changeLogPath } from '../../src/emulation/changes.js';
import { checkLinkFlags } from '../../src/emulation/cli.js';
import { emulationFor, parseEmulation, parseNodeEmulation } from '../../src/emulation/spec.js';
import { NO_EMULATION, PRESETS, formatRate, readRate } from '../../src/emulation/settings.js';
import { makePlan } from '../../src/plan/plan.js';
import { genericProfile } from '../../src/profiles/generic.js';
import { InputError } from '../../src/spec/errors.js';
import type { PeerSpec, TopologySpec } from '../../src/spec/types.js';

const PEERS: PeerSpec[] = [0, 1].map((index) => ({ index, nat: 'port-restricted', group: `peer-${index}` }));
const parse = (raw: Record<string, string>, env: NodeJS.ProcessEnv = {}, peers: PeerSpec[] = PEERS) => parseEmulation(raw, env, peers);
const throwsInput = (fn: () => unknown, input: string, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof InputError && e.input === input && message.test(e.message));

describe('topology-wide emulation', () => {
  it('is none by default', () => {
    const e = parse({});
    assert.equal(e.choice, 'none');
    assert.deepEqual(e.settings, NO_EMULATION);
    assert.equal(emulationFor(e, 'peer-0'), undefined);
  });

  it('takes every preset, case-insensitively, with high-latency for high_latency', () => {
    for (const preset of Object.keys(PRESETS)) assert.deepEqual(parse({ emulation: preset.toUpperCase() }).settings, PRESETS[preset as keyof typeof PRESETS]);
    assert.equal(parse({ emulation: 'high-latency' }).choice, 'high_latency');
  });

  it('honours FREENET_TEST_NETWORK_EMULATION when the input is not given, as the reference harness did', () => {
    const e = parse({}, { FREENET_TEST_NETWORK_EMULATION: 'Intercontinental' });
    assert.equal(e.choice, 'intercontinental');
    assert.equal(e.origin, 'FREENET_TEST_NETWORK_EMULATION=Intercontinental');
    assert.deepEqual(e.settings, PRESETS.intercontinental);
    // The input wins, none included.
    assert.equal(parse({ emulation: 'none' }, { FREENET_TEST_NETWORK_EMULATION: 'lan' }).choice, 'none');
    assert.equal(parse({ emulation: 'regional' }, { FREENET_TEST_NETWORK_EMULATION: 'lan' }).choice, 'regional');
    throwsInput(() => parse({}, { FREENET_TEST_NETWORK_EMULATION: 'mars' }), 'emulation', /FREENET_TEST_NETWORK_EMULATION .*'mars' is not an emulation; allowed: none, lan/);
  });

  it('custom values, alone or changing a preset', () => {
    assert.deepEqual(parse({ emulation: 'custom', 'delay-ms': '80', 'jitter-ms': '5', 'loss-percent': '0.25', 'loss-correlation': '10', rate: '2mbit' }).settings, {
      delayMs: 80,
      jitterMs: 5,
      lossPercent: 0.25,
      lossCorrelation: 10,
      rateBitsPerSecond: 2_000_000,
    });
    const onlyLoss = parse({ 'loss-percent': '3' });
    assert.equal(onlyLoss.choice, 'custom');
    assert.deepEqual(onlyLoss.settings, { ...NO_EMULATION, lossPercent: 3 });
    const changed = parse({ emulation: 'regional', 'delay-ms': '0', 'jitter-ms': '0', rate: '10mbit' });
    assert.deepEqual(changed.settings, { ...PRESETS.regional, delayMs: 0, jitterMs: 0, rateBitsPerSecond: 10_000_000 });
    assert.equal(changed.origin, "input 'emulation' (regional) with inputs 'delay-ms', 'jitter-ms', 'rate'");
    assert.deepEqual(parse({ rate: '10mbit' }, { FREENET_TEST_NETWORK_EMULATION: 'lan' }).settings, { ...PRESETS.lan, rateBitsPerSecond: 10_000_000 });
  });

  it('refuses what makes no sense, naming the input', () => {
    throwsInput(() => parse({ emulation: 'fast' }), 'emulation', /'fast' is not an emulation; allowed: none, lan, regional, intercontinental, high_latency, challenging, custom/);
    throwsInput(() => parse({ emulation: 'none', 'loss-percent': '1' }), 'loss-percent', /emulation is 'none'/);
    throwsInput(() => parse({ 'delay-ms': '1.5' }), 'delay-ms', /not a whole number/);
    throwsInput(() => parse({ 'delay-ms': '20000' }), 'delay-ms', /out of range; allowed: 0 to 10000 ms/);
    throwsInput(() => parse({ 'delay-ms': '10', 'jitter-ms': '20' }), 'jitter-ms', /jitter 20 ms is more than the delay 10 ms/);
    throwsInput(() => parse({ emulation: 'lan', 'delay-ms': '0' }), 'delay-ms', /jitter 1 ms is more than the delay 0 ms/);
    throwsInput(() => parse({ 'loss-percent': '101' }), 'loss-percent', /out of range/);
    throwsInput(() => parse({ 'loss-percent': '-1' }), 'loss-percent', /not a number/);
    throwsInput(() => parse({ 'loss-percent': '0.123456' }), 'loss-percent', /at most 4 decimals/);
    throwsInput(() => parse({ rate: '10mbps' }), 'rate', /not a rate such as 10mbit/);
    throwsInput(() => parse({ rate: '1kbit' }), 'rate', /8kbit to 10gbit/);
  });
});

describe('rates', () => {
  it('reads and writes tc rate words (SI prefixes on bits)', () => {
    assert.equal(readRate('10mbit'), 10_000_000);
    assert.equal(readRate('1.5Mbit'), 1_500_000);
    assert.equal(readRate('512kbit'), 512_000);
    assert.equal(readRate('1gbit'), 1_000_000_000);
    assert.equal(readRate('64000bit'), 64_000);
    assert.equal(readRate('10 mbit'), 10_000_000);
    assert.equal(readRate('10MB'), undefined);
    assert.equal(formatRate(10_000_000), '10mbit');
    assert.equal(formatRate(1_500_000), '1500kbit');
    assert.equal(formatRate(123_456), '123456bit');
    assert.equal(parse({ rate: 'none' }).choice, 'custom');
  });
});

describe('per-node emulation from the topology file', () => {
  const wide = PRESETS.regional;

  it('a preset name, or an object that changes the topology-wide settings unless it names a preset', () => {
    assert.deepEqual(parseNodeEmulation('challenging', wide, 'peer-1').settings, PRESETS.challenging);
    assert.deepEqual(parseNodeEmulation('none', wide, 'peer-1').settings, NO_EMULATION);
    assert.deepEqual(parseNodeEmulation({ 'loss-percent': 5 }, wide, 'peer-1').settings, { ...wide, lossPercent: 5 });
    assert.deepEqual(parseNodeEmulation({ preset: 'none', 'loss-percent': '5', rate: '1mbit' }, wide, 'peer-1').settings, {
      ...NO_EMULATION,
      lossPercent: 5,
      rateBitsPerSecond: 1_000_000,
    });
    assert.equal(parseNodeEmulation({}, wide, 'peer-1').origin, "the topology file's emulation for peer-1");
  });

  it('errors name the node and the key', () => {
    throwsInput(() => parseNodeEmulation({ delay: 5 }, wide, 'peer-1'), 'topology file: peer-1 emulation.delay', /is not an emulation setting; allowed: preset, delay-ms/);
    throwsInput(() => parseNodeEmulation({ 'delay-ms': 'slow' }, wide, 'peer-1'), 'topology file: peer-1 emulation.delay-ms', /not a whole number/);
    throwsInput(() => parseNodeEmulation({ 'delay-ms': [1] }, wide, 'peer-1'), 'topology file: peer-1 emulation.delay-ms', /must be a number or a string/);
    throwsInput(() => parseNodeEmulation(5, wide, 'peer-1'), 'topology file: peer-1 emulation', /must be a preset name/);
  });

  it('comes through PeerSpec.emulation and gateway entries', () => {
    const peers = [{ ...PEERS[0] }, { ...PEERS[1], emulation: { 'loss-percent': 20 } }] as PeerSpec[];
    const e = parseEmulation({ emulation: 'custom', rate: '10mbit' }, {}, peers, [undefined, 'lan']);
    assert.deepEqual(emulationFor(e, 'peer-0')!.settings, { ...NO_EMULATION, rateBitsPerSecond: 10_000_000 });
    assert.deepEqual(emulationFor(e, 'peer-1')!.settings, { ...NO_EMULATION, rateBitsPerSecond: 10_000_000, lossPercent: 20 });
    assert.deepEqual(emulationFor(e, 'gateway-1')!.settings, PRESETS.lan);
    assert.equal(emulationFor(e, 'gateway-1')!.origin, "the topology file's emulation for gateway-1");
  });

  it('peers behind one router must agree: its public interface shapes them all', () => {
    const shared = [
      { index: 0, nat: 'full-cone', group: 'home' },
      { index: 1, nat: 'full-cone', group: 'home', emulation: 'challenging' },
    ] as PeerSpec[];
    throwsInput(() => parseEmulation({}, {}, shared), 'topology file: peer-1 emulation', /peer-0 \(none\) and peer-1 \(delay 150 ms.*share the router of group 'home'/);
    const agreeing = shared.map((p) => ({ ...p, emulation: 'challenging' }));
    assert.doesNotThrow(() => parseEmulation({}, {}, agreeing));
  });
});

function spec(emulation: Record<string, string>, peers: PeerSpec[] = [...PEERS, { index: 2, nat: 'none', group: 'peer-2' }]): TopologySpec {
  return {
    name: 'emu',
    gateways: 1,
    peers,
    binary: '/bin/peer',
    profile: 'generic',
    command: '{binary}',
    wsPort: 9000,
    networkPort: 31337,
    readyTimeoutMs: 60_000,
    subnetPool: '10.200.0.0/13',
    hairpin: false,
    logLevel: 'info',
    env: {},
    emulation: parseEmulation(emulation, {}, peers),
  };
}

function plan(s: TopologySpec) {
  return makePlan(s, {
    topologyId: 'emu-abc123',
    createdAt: '2026-01-01T00:00:00.000Z',
    owner: '{}',
    taken: [],
    routerImage: 'nat-net-router:t',
    peerImage: 'nat-net-peer:t',
    profile: genericProfile(),
  });
}

describe('the plan: where each setting lands', () => {
  it('NATed peers on their router, gateways and public peers on their own interface with the host path exempt', () => {
    const p = plan(spec({ 'loss-percent': '10', rate: '1mbit' }));
    const bridge = p.networks.find((n) => n.kind === 'public')!.gateway;
    for (const router of p.routers) {
      assert.deepEqual(router.emulation?.settings, { ...NO_EMULATION, lossPercent: 10, rateBitsPerSecond: 1_000_000 });
      const lines = routerEmulationLines(router, { netem: false }).join('\n');
      assert.match(lines, /tc qdisc replace dev "\$PUB" parent 1:3 tbf rate 1mbit/);
      // Only the host's WebSocket connections (forwarded through the router) pass unshaped.
      assert.equal(router.hostAddress, bridge);
      assert.deepEqual(lines.match(/-d \S+\/32 .* -j RETURN/g), [`-d ${bridge}/32 -m comment --comment "nat-net: the host path is not shaped" -j RETURN`]);
      assert.match(lines, new RegExp(`u32 match ip dst ${bridge.replace(/\./g, '\\.')}/32 flowid 1:1`));
    }
    const peer0 = p.nodes.find((n) => n.key === 'peer-0')!;
    assert.deepEqual(nodeEmulationLines(p, peer0, { netem: false }), [], 'a NATed peer is shaped by its router, not in its own namespace');
    for (const key of ['gateway-0', 'peer-2']) {
      const node = p.nodes.find((n) => n.key === key)!;
      const lines = nodeEmulationLines(p, node, { netem: false }).join('\n');
      assert.match(lines, new RegExp(`ip -o -4 addr show to ${node.address.replace(/\./g, '\\.')}/32`));
      assert.match(lines, new RegExp(`u32 match ip dst ${bridge.replace(/\./g, '\\.')}/32 flowid 1:1`));
      assert.match(lines, new RegExp(`-A NATNET_EMU -d ${bridge.replace(/\./g, '\\.')}/32 .*-j RETURN`));
    }
    const record = emulationRecord(p, { netem: false })!;
    assert.equal(record.netem, false);
    assert.deepEqual(
      record.nodes.map((n) => [n.node, n.shapedAt.split(' (')[0]]),
      [
        ['gateway-0', 'its own public interface'],
        ['peer-0', 'router-0 public interface'],
        ['peer-1', 'router-1 public interface'],
        ['peer-2', 'its own public interface'],
      ],
    );
    assert.equal(record.changeLog, changeLogPath('emu-abc123'));
    const table = emulationTable(record);
    assert.deepEqual(table[0], ['node', 'settings', 'applied at', 'mechanism']);
    assert.match(table[1][3], /loss: iptables statistic CLASSIFY \(mangle NATNET_EMU\) -> htb drop class; rate: tbf/);
  });

  it('nothing shaped: no emulation in the plan entries, none in the scripts', () => {
    const p = plan(spec({}));
    assert.ok(p.routers.every((r) => !('emulation' in r)));
    assert.ok(p.nodes.every((n) => !('emulation' in n)));
    assert.deepEqual(emulationRecord(p, undefined)?.nodes, []);
  });
});

describe('nat-net impair / partition / heal flags', () => {
  it('checks the flags before anything is asked of the engine', () => {
    assert.doesNotThrow(() => checkLinkFlags('impair', ['peer-1'], { 'loss-percent': '5', topology: 't' }));
    assert.doesNotThrow(() => checkLinkFlags('impair', ['peer-1'], { 'jitter-ms': '5' }));
    assert.doesNotThrow(() => checkLinkFlags('partition', ['gateway-0'], {}));
    throwsInput(() => checkLinkFlags('impair', ['peer-1'], {}), 'impair', /give --preset or at least one of --delay-ms/);
    throwsInput(() => checkLinkFlags('impair', ['peer-1'], { preset: 'slow' }), '--preset', /not an emulation/);
    throwsInput(() => checkLinkFlags('impair', ['peer-1'], { 'loss-percent': 'lots' }), '--loss-percent', /not a number/);
    throwsInput(() => checkLinkFlags('heal', ['peer-1'], { rate: '1mbit' }), '--rate', /not an option of nat-net heal/);
    throwsInput(() => checkLinkFlags('partition', [], {}), 'NODE', /takes one node/);
  });

  it('logs beside the topology record, in RUNNER_TEMP', () => {
    assert.equal(changeLogPath('t-1', { RUNNER_TEMP: '/runner/_temp' }), '/runner/_temp/nat-net/t-1/changes.jsonl');
    assert.equal(changeLogPath('t-1', {}), '/tmp/nat-net/t-1/changes.jsonl');
  });
});
