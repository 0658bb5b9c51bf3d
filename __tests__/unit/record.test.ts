import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envPrefix, exportedEnv, formatTable, nodeTable, wsPorts, type NodeRecord, type TopologyRecord } from '../../src/core/record.js';

function node(role: 'gateway' | 'peer', index: number, port: number): NodeRecord {
  return {
    key: `${role}-${index}`,
    name: `nn-ci-abc123-${role}-${index}`,
    role,
    index,
    containerId: `c${role}${index}`,
    nat: role === 'gateway' ? 'none' : 'port-restricted',
    address: role === 'gateway' ? `10.200.${index}.10` : `10.201.${index}.100`,
    publicAddress: `10.200.${index + 8}.10`,
    wsHostPort: port,
    wsUrl: `ws://127.0.0.1:${port}/`,
    readyMs: 1234,
  };
}

function record(name: string, nodes: NodeRecord[]): TopologyRecord {
  return {
    topologyId: `${name}-abc123`,
    name,
    profile: 'freenet',
    createdAt: '2026-01-01T00:00:00.000Z',
    engine: 'Docker test',
    networks: [],
    routers: [],
    nodes,
    timingsMs: { images: 0, networks: 0, routers: 0, nodes: 0, readiness: 0, total: 0 },
  };
}

// Deliberately out of index order (a record built from parallel work need not be sorted); index 10 after 2.
const shuffled = [node('peer', 10, 40010), node('gateway', 1, 41001), node('peer', 2, 40002), node('peer', 0, 40000), node('gateway', 0, 41000), node('peer', 1, 40001)];

describe('envPrefix', () => {
  it('NAT_NET for the default name, NAT_NET_<NAME> otherwise, as a valid variable name', () => {
    assert.equal(envPrefix('default'), 'NAT_NET');
    assert.equal(envPrefix('ci'), 'NAT_NET_CI');
    assert.equal(envPrefix('my-net-2'), 'NAT_NET_MY_NET_2');
    assert.equal(envPrefix('0abc'), 'NAT_NET_0ABC');
    for (const n of ['default', 'ci', 'my-net-2', 'a-b-c']) assert.match(envPrefix(n), /^[A-Z_][A-Z0-9_]*$/);
  });
});

describe('wsPorts', () => {
  it('lists host ports in index order (numeric, not string order), per role', () => {
    const r = record('ci', shuffled);
    assert.deepEqual(wsPorts(r, 'peer'), [40000, 40001, 40002, 40010]);
    assert.deepEqual(wsPorts(r, 'gateway'), [41000, 41001]);
    assert.deepEqual(wsPorts(record('ci', []), 'peer'), []);
  });
});

describe('exportedEnv', () => {
  it('one variable per node, the two lists in index order, and the topology id', () => {
    const env = exportedEnv(record('default', shuffled));
    assert.deepEqual(env, {
      NAT_NET_PEER_10_WS_PORT: '40010',
      NAT_NET_GATEWAY_1_WS_PORT: '41001',
      NAT_NET_PEER_2_WS_PORT: '40002',
      NAT_NET_PEER_0_WS_PORT: '40000',
      NAT_NET_GATEWAY_0_WS_PORT: '41000',
      NAT_NET_PEER_1_WS_PORT: '40001',
      NAT_NET_GATEWAY_WS_PORTS: '41000,41001',
      NAT_NET_PEER_WS_PORTS: '40000,40001,40002,40010',
      NAT_NET_TOPOLOGY_ID: 'default-abc123',
    });
  });

  it('a named topology gets its own prefix, so two topologies in one job do not collide', () => {
    const a = exportedEnv(record('alpha-1', [node('gateway', 0, 1), node('peer', 0, 2)]));
    const b = exportedEnv(record('beta', [node('gateway', 0, 3), node('peer', 0, 4)]));
    assert.equal(a.NAT_NET_ALPHA_1_PEER_0_WS_PORT, '2');
    assert.equal(a.NAT_NET_ALPHA_1_PEER_WS_PORTS, '2');
    assert.equal(b.NAT_NET_BETA_GATEWAY_0_WS_PORT, '3');
    assert.deepEqual(Object.keys(a).filter((k) => k in b), []);
    for (const k of [...Object.keys(a), ...Object.keys(b)]) assert.match(k, /^[A-Z_][A-Z0-9_]*$/);
  });

  it('empty lists for a topology without peers', () => {
    const env = exportedEnv(record('gw', [node('gateway', 0, 5)]));
    assert.equal(env.NAT_NET_GW_PEER_WS_PORTS, '');
    assert.equal(env.NAT_NET_GW_GATEWAY_WS_PORTS, '5');
  });
});

describe('node table', () => {
  it('one row per node, names without the topology prefix, aligned columns', () => {
    const r = record('ci', [node('gateway', 0, 41000), node('peer', 0, 40000)]);
    const rows = nodeTable(r);
    assert.equal(rows.length, 3);
    assert.deepEqual(rows[1].slice(0, 2), ['gateway-0', 'gateway']);
    assert.equal(rows[2][5], '40000');
    assert.equal(rows[2][6], '1.2');
    const lines = formatTable(rows).split('\n');
    assert.equal(lines.length, 3);
    const col = lines[0].indexOf('role');
    assert.equal(lines[1].indexOf('gateway', 'gateway-0'.length), col);
    for (const l of lines) assert.equal(l, l.trimEnd());
  });
});
