import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TopologyRecord } from '../../src/core/record.js';
import { commandsFor, helperScript, NAMESPACE_COMMANDS, splitSections } from '../../src/diagnostics/commands.js';
import { maskInputs } from '../../src/diagnostics/inputs.js';
import { endStateText, nodeRows, summaryMarkdown } from '../../src/diagnostics/summary.js';
import { mergeViews, viewsFromRecord, type DiagnosticsResult, type NodeReport } from '../../src/diagnostics/views.js';

const record: TopologyRecord = {
  topologyId: 'ci-abc123',
  name: 'ci',
  profile: 'freenet',
  createdAt: '2026-01-01T00:00:00.000Z',
  engine: 'Docker test',
  networks: [],
  routers: [
    { key: 'router-0', name: 'nn-ci-abc123-router-0', index: 0, containerId: 'r0', nat: 'symmetric', publicAddress: '10.200.0.11', privateAddress: '10.201.0.1', privateSubnet: '10.201.0.0/24' },
  ],
  nodes: [
    {
      key: 'peer-0',
      name: 'nn-ci-abc123-peer-0',
      role: 'peer',
      index: 0,
      containerId: 'p0',
      nat: 'symmetric',
      address: '10.201.0.100',
      publicAddress: '10.200.0.11',
      router: { name: 'nn-ci-abc123-router-0', containerId: 'r0', publicAddress: '10.200.0.11', privateAddress: '10.201.0.1' },
      wsHostPort: 40000,
      wsUrl: 'ws://127.0.0.1:40000/',
      readyMs: 2500,
    },
    {
      key: 'gateway-0',
      name: 'nn-ci-abc123-gateway-0',
      role: 'gateway',
      index: 0,
      containerId: 'g0',
      nat: 'none',
      address: '10.200.0.10',
      publicAddress: '10.200.0.10',
      wsHostPort: 41000,
      wsUrl: 'ws://127.0.0.1:41000/',
      readyMs: 1500,
    },
  ],
  timingsMs: { images: 0, networks: 0, routers: 0, nodes: 0, readiness: 0, total: 0 },
};

describe('views', () => {
  it('orders gateways, peers, routers, and links each peer to its router', () => {
    const views = viewsFromRecord(record);
    assert.deepEqual(
      views.map((v) => v.key),
      ['gateway-0', 'peer-0', 'router-0'],
    );
    assert.equal(views[1].routerKey, 'router-0');
  });

  it('adds containers no view knows by their labels, and leaves helpers out', () => {
    const merged = mergeViews('ci-abc123', viewsFromRecord(record), [
      { id: 'g0x', name: 'nn-ci-abc123-gateway-0', labels: {} },
      { id: 'h1', name: 'nn-ci-abc123-helper', labels: { 'dev.nat-net.role': 'helper' } },
      { id: 't1', name: 'some-test-host', labels: { 'dev.nat-net.role': 'test-host' } },
      { id: 'p7', name: 'nn-ci-abc123-peer-7', labels: { 'dev.nat-net.role': 'peer', 'dev.nat-net.index': '7' } },
    ]);
    assert.deepEqual(
      merged.map((v) => [v.key, v.role, v.containerId]),
      [
        ['gateway-0', 'gateway', 'g0x'],
        ['peer-0', 'peer', 'p0'],
        ['peer-7', 'peer', 'p7'],
        ['router-0', 'router', 'r0'],
        ['some-test-host', 'test-host', 't1'],
      ],
    );
  });
});

describe('helper output', () => {
  it('splits one helper run back into a file per command, with each exit code', () => {
    const script = helperScript(NAMESPACE_COMMANDS);
    assert.ok(script.includes("echo '@@nat-net-section ip-addr.txt'; ip addr show 2>&1; echo \"@@nat-net-exit $?\""));
    const output = [
      '@@nat-net-section ip-addr.txt',
      '1: lo: <LOOPBACK,UP>',
      '    inet 127.0.0.1/8 scope host lo',
      '@@nat-net-exit 0',
      '@@nat-net-section tc-qdisc.txt',
      'Error: unknown',
      '@@nat-net-exit 2',
      '@@nat-net-section ip-route.txt',
      'default via 10.201.0.1 dev eth0',
    ].join('\n');
    const sections = splitSections(output);
    assert.deepEqual(sections.get('ip-addr.txt'), { output: '1: lo: <LOOPBACK,UP>\n    inet 127.0.0.1/8 scope host lo\n', exitCode: 0 });
    assert.deepEqual(sections.get('tc-qdisc.txt'), { output: 'Error: unknown\n', exitCode: 2 });
    assert.deepEqual(sections.get('ip-route.txt'), { output: 'default via 10.201.0.1 dev eth0\n', exitCode: null }, 'cut off: no exit code');
  });

  it('routers also give NAT rules, sets and the UDP conntrack table; every listing has exact counters', () => {
    const files = commandsFor('router').map((c) => c.file);
    for (const f of ['iptables-nat.txt', 'iptables-filter.txt', 'ipset.txt', 'conntrack-udp.txt', 'ip-addr.txt', 'ip-route.txt', 'tc-qdisc.txt']) assert.ok(files.includes(f), f);
    for (const c of commandsFor('router').filter((c) => c.argv[0] === 'iptables')) assert.ok(c.argv.includes('-nvxL'), c.file);
    assert.deepEqual(commandsFor('router').find((c) => c.file === 'conntrack-udp.txt')!.argv, ['conntrack', '-L', '-p', 'udp']);
    assert.ok(!commandsFor('peer').some((c) => c.file === 'conntrack-udp.txt'));
  });
});

describe('inputs.json', () => {
  it('masks every env value (comments too) and keeps the keys and the other inputs', () => {
    const masked = maskInputs({ env: 'API_TOKEN=abc123\n\n# OLD=xyz\nnot a pair\n  DEBUG=1', name: 'ci', command: '' });
    assert.deepEqual(masked, { env: 'API_TOKEN=***\n\n#***\n***\n  DEBUG=***', name: 'ci', command: '' });
    assert.ok(!JSON.stringify(masked).includes('abc123'));
  });
});

describe('summary.md', () => {
  const report = (key: string, end: NodeReport['end'], extra: Partial<NodeReport> = {}): NodeReport => ({
    ...viewsFromRecord(record).find((v) => v.key === key)!,
    end,
    files: [],
    ...extra,
  });
  const result: DiagnosticsResult = {
    topologyId: 'ci-abc123',
    dir: '/tmp/x',
    collectedAt: '2026-01-01T00:01:00.000Z',
    fromRecord: true,
    nodes: [
      report('gateway-0', { status: 'running' }),
      report('peer-0', { status: 'exited', exitCode: 101, finishedAt: '2026-01-01T00:00:59Z' }, { logTail: ["thread 'main' panicked at src/ring.rs:42", 'note: run with RUST_BACKTRACE=1'] }),
      report('router-0', { status: 'running' }),
    ],
    errors: ['peer-0: not running (exited, exit code 101): its network namespace is gone, so addresses, routes and qdiscs were not collected'],
  };

  it('has the node table with NAT, addresses, port, ready time and the end state', () => {
    const md = summaryMarkdown(result);
    assert.ok(md.includes('| peer-0 | peer | symmetric | 10.201.0.100 | 10.200.0.11 | 40000 | 2.5 s | exited with code 101 |'), md);
    assert.ok(md.includes('| gateway-0 | gateway | none | 10.200.0.10 | 10.200.0.10 | 41000 | 1.5 s | running |'), md);
    assert.ok(md.includes('| router-0 | router | symmetric | 10.201.0.1 | 10.200.0.11 | - | - | running |'), md);
  });

  it('shows the last log lines of a node that died, and what could not be collected', () => {
    const md = summaryMarkdown(result);
    assert.match(md, /### peer-0: exited with code 101 \(finished 2026-01-01T00:00:59Z\)\n\nLast 2 lines of its log \(all of it in peer-0\/log.txt\):\n\n```\nthread 'main' panicked at src\/ring.rs:42\nnote: run with RUST_BACKTRACE=1\n```/);
    assert.match(md, /## Could not be collected\n\n- peer-0: not running/);
  });

  it('names end states plainly', () => {
    assert.equal(endStateText({ status: 'exited', exitCode: 137, oomKilled: true }), 'exited with code 137 (out of memory)');
    assert.equal(endStateText({ status: 'created' }), 'created, never started');
    assert.equal(endStateText({ status: 'gone' }), 'gone');
    assert.equal(nodeRows([])[0].at(-1), 'state at the end');
  });
});
