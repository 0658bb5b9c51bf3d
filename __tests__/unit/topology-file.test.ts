import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makePlan } from '../../src/plan/plan.js';
import { genericProfile } from '../../src/profiles/generic.js';
import { InputError } from '../../src/spec/errors.js';
import { parseSpec, type RawInputs } from '../../src/spec/parse.js';
import { parseTopologyText } from '../../src/spec/topology-file.js';
import type { TopologySpec } from '../../src/spec/types.js';

let dir: string;
let binary: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nat-net-topology-file-'));
  binary = join(dir, 'peer');
  writeFileSync(binary, '#!/bin/sh\n');
  chmodSync(binary, 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
/** Writes `text` to a new file in the workspace; returns its name relative to it. */
function file(text: string, ext = 'yaml'): string {
  const name = `topology-${++fileCount}.${ext}`;
  writeFileSync(join(dir, name), text);
  return name;
}

const parse = (raw: RawInputs): TopologySpec => parseSpec({ binary, ...raw }, { cwd: dir, env: {} });
const withFile = (text: string, raw: RawInputs = {}, ext = 'yaml'): TopologySpec => parse({ 'topology-file': file(text, ext), ...raw });

/** Asserts an InputError naming `input` whose message contains every fragment. */
function rejects(run: () => unknown, input: string, ...fragments: string[]): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof InputError, `not an InputError: ${String(err)}`);
    assert.equal(err.input, input, `wrong input named: ${err.message}`);
    assert.ok(err.message.startsWith(`input '${input}': `), err.message);
    for (const f of fragments) assert.ok(err.message.includes(f), `'${err.message}' lacks '${f}'`);
    return true;
  });
}
const fileRejects = (text: string, ...fragments: string[]) => rejects(() => parseTopologyText(text, 'topo.yaml'), 'topology-file', 'topo.yaml: ', ...fragments);

describe('topology file: reading', () => {
  it('reads the documented example', () => {
    const f = parseTopologyText(
      [
        'gateways: 1',
        'peers:',
        '  - nat: full-cone',
        '  - group: home',
        '  - group: home',
        '    env: { NAT_NET_TEST_PEER_NO_PUNCH: "1", DEBUG: 2 }',
        '  - nat: none',
        '    emulation: high_latency',
        '  -',
        'groups:',
        '  home: { nat: port-restricted, hairpin: true, udp-timeout: 60 }',
      ].join('\n'),
      'topo.yaml',
    );
    assert.deepEqual(f, {
      path: 'topo.yaml',
      gateways: { count: 1 },
      peers: {
        count: 5,
        entries: [
          { nat: 'full-cone' },
          { group: 'home' },
          { group: 'home', env: { NAT_NET_TEST_PEER_NO_PUNCH: '1', DEBUG: '2' } },
          { nat: 'none', emulation: 'high_latency' },
          {},
        ],
      },
      groups: { home: { nat: 'port-restricted', hairpin: true, udpTimeout: 60 } },
    });
  });

  it('reads JSON, and gateway entries with opaque emulation objects', () => {
    const f = parseTopologyText(
      JSON.stringify({ gateways: [{ emulation: { preset: 'lan', 'delay-ms': 5 } }, {}], peers: [{ nat: 'symmetric', group: 7 }] }),
      't.json',
    );
    assert.deepEqual(f.gateways, { count: 2, entries: [{ emulation: { preset: 'lan', 'delay-ms': 5 } }, {}] });
    assert.deepEqual(f.peers?.entries, [{ nat: 'symmetric', group: '7' }]);
  });

  it('names the file and the entry in every error', () => {
    fileRejects('peers:\n  - {}\n  - {}\n  - nat: cone\n', "peers[2].nat: 'cone' is not allowed; allowed: full-cone, address-restricted, port-restricted, symmetric, none");
    fileRejects('peers: [{ nat: 3 }]', 'peers[0].nat: number 3 is not allowed');
    fileRejects('peers: [{ nat: full-cone, router: x }]', 'peers[0].router: is not a known key; allowed: nat, group, env, emulation');
    fileRejects('nodes: 3', 'nodes: is not a known key; allowed: gateways, peers, groups');
    fileRejects('peers: [full-cone]', 'peers[0]: must be a mapping (e.g. { nat: full-cone }), not string "full-cone"');
    fileRejects('peers: 1001', 'peers: 1001 is out of range; allowed: 0 to 1000');
    fileRejects('peers: two', 'peers: must be a whole number or a list of entries, not string "two"');
    fileRejects('gateways: []', 'gateways: lists 0 entries; allowed: 1 to 64');
    fileRejects('gateways: [{ nat: full-cone }]', 'gateways[0].nat: is not a known key; allowed: env, emulation');
    fileRejects('gateways: [lan]', 'gateways[0]: must be a mapping (e.g. { env: { NAME: value } }), not string "lan"');
    fileRejects('peers: [{ env: [A=1] }]', 'peers[0].env: must be a mapping of NAME: value, not a list');
    fileRejects('peers: [{ env: { "A-B": x } }]', 'peers[0].env.A-B: is not an environment variable name');
    fileRejects('peers: [{ env: { A: { b: 1 } } }]', 'peers[0].env.A: must be a string, number or boolean, not a mapping');
    fileRejects('peers: [{ env: { NAT_NET_ROLE: gateway } }]', 'peers[0].env.NAT_NET_ROLE: is set by nat-net for every node');
    fileRejects('peers: [{ env: { FREENET_TELEMETRY_ENABLED: "true" } }]', 'peers[0].env.FREENET_TELEMETRY_ENABLED: must stay false');
    fileRejects('peers: [{ group: "my home" }]', "peers[0].group: 'my home' is not a group name");
    fileRejects('peers: [{ group: peer-1 }]', "peers[0].group: 'peer-1' is reserved");
    fileRejects('peers: [{ group: [a] }]', 'peers[0].group: must be a group name, not a list');
    fileRejects('peers: [{ group: g }]\ngroups: { g: { nat: none } }', "groups.g.nat: 'none' is not allowed for a group");
    fileRejects('peers: [{ group: g }]\ngroups: { g: { nat: cone } }', "groups.g.nat: 'cone' is not allowed; allowed: full-cone, address-restricted, port-restricted, symmetric");
    fileRejects('peers: [{ group: g }]\ngroups: { g: { hairpin: "yes" } }', 'groups.g.hairpin: must be true or false, not string "yes"');
    fileRejects('peers: [{ group: g }]\ngroups: { g: { udp-timeout: 0 } }', 'groups.g.udp-timeout: 0 is out of range; allowed: 1 to 86400');
    fileRejects('peers: [{ group: g }]\ngroups: { g: { udp-timeout: 1.5 } }', 'groups.g.udp-timeout: must be a whole number, not number 1.5');
    fileRejects('peers: [{ group: g }]\ngroups: { g: { mtu: 1400 } }', 'groups.g.mtu: is not a known key; allowed: nat, hairpin, udp-timeout');
    fileRejects('groups: [home]', 'groups: must be a mapping of group name to settings, not a list');
  });

  it('reports YAML syntax errors with their line, and refuses empty files, lists and duplicate keys', () => {
    fileRejects('peers:\n  - nat: [full-cone\n', 'is not valid YAML or JSON', 'line');
    fileRejects('peers: 1\npeers: 2\n', 'is not valid YAML or JSON: Map keys must be unique at line 2');
    fileRejects('', 'is empty');
    fileRejects('# only a comment\n', 'is empty');
    fileRejects('- nat: full-cone\n', 'must be a mapping with gateways, peers and groups at the top, not a list');
  });

  it('resolves the path against the workspace and names it when it is missing', () => {
    rejects(() => parse({ 'topology-file': 'nope.yaml' }), 'topology-file', "'nope.yaml' cannot be read", join(dir, 'nope.yaml'), 'ENOENT');
    rejects(() => parse({ 'topology-file': '.' }), 'topology-file', "'.' is not a regular file");
    const absolute = join(dir, file('peers: 1'));
    assert.equal(parse({ 'topology-file': absolute }).peers.length, 1);
    assert.equal(withFile('peers: 2').topologyFile, join(dir, `topology-${fileCount}.yaml`));
  });
});

describe('topology file: with the flat inputs', () => {
  it('gives the peers: behaviour per peer, else the group\'s, else the flat nat, else port-restricted', () => {
    const s = withFile('peers:\n  - nat: symmetric\n  - group: home\n  - {}\ngroups:\n  home: { nat: full-cone }\n');
    assert.deepEqual(
      s.peers.map((p) => [p.nat, p.group]),
      [
        ['symmetric', 'peer-0'],
        ['full-cone', 'home'],
        ['port-restricted', 'peer-2'],
      ],
    );
    assert.deepEqual(
      withFile('peers: [{}, { nat: none }]', { nat: 'address-restricted' }).peers.map((p) => p.nat),
      ['address-restricted', 'none'],
    );
  });

  it('decides the counts; a flat count may only agree', () => {
    assert.equal(withFile('peers: [{}, {}]', { peers: '2' }).peers.length, 2);
    rejects(() => withFile('peers: [{}, {}]', { peers: '3' }), 'peers', '3 conflicts with topology-file topology-', 'which gives 2 peers; leave peers empty or make them agree');
    rejects(() => withFile('gateways: 2', { gateways: '1' }), 'gateways', '1 conflicts with topology-file');
    assert.equal(withFile('gateways: [{}, {}, {}]').gateways, 3);
    // Without the file's say, the flat inputs and their defaults hold.
    const s = withFile('gateways: 2', { peers: '4', nat: 'symmetric' });
    assert.deepEqual([s.gateways, s.peers.length, s.peers[3].nat], [2, 4, 'symmetric']);
    assert.deepEqual([parse({}).gateways, parse({}).peers.length], [1, 3]);
  });

  it('refuses per-peer flat lists beside a file that lists peers', () => {
    rejects(() => withFile('peers: [{}, {}]', { nat: 'full-cone,symmetric' }), 'nat', 'a list by peer index conflicts with topology-file', "give each peer's nat in the file");
    rejects(() => withFile('peers: [{}, {}]', { groups: 'a,a' }), 'groups', "conflicts with topology-file", "give each peer's group in the file");
    // A file that only counts peers leaves the lists to the flat inputs.
    assert.deepEqual(withFile('peers: 2', { nat: 'full-cone,symmetric' }).peers.map((p) => p.nat), ['full-cone', 'symmetric']);
  });

  it('one router, one behaviour: a group\'s peers must agree, and none peers share no router', () => {
    rejects(
      () => withFile('peers:\n  - { group: home, nat: full-cone }\n  - { group: home, nat: symmetric }\n'),
      'topology-file',
      'peers[1].nat: peers 0 and 1 share group \'home\' (one router) but ask for full-cone and symmetric',
    );
    rejects(
      () => withFile('peers:\n  - { group: home }\n  - { group: home, nat: symmetric }\ngroups:\n  home: { nat: full-cone }\n'),
      'topology-file',
      "peers[1].nat: 'symmetric' differs from its group's: groups.home.nat is 'full-cone'",
    );
    rejects(() => withFile('peers:\n  - { group: home }\n  - { group: home, nat: none }\n'), 'topology-file', "peers[1].group: peer 1 has nat 'none' (no router) but shares group 'home' with peer 0");
    rejects(() => withFile('peers: [{ group: home }]\ngroups: { office: { hairpin: true } }'), 'topology-file', 'groups.office: no peer is in this group');
    rejects(() => withFile('peers: [{ group: g, nat: symmetric }]\ngroups: { g: { hairpin: true } }'), 'topology-file', 'groups.g.hairpin: a symmetric router has no stable mapping');
    // A lone none peer with a group is harmless: it has no router to share.
    assert.equal(withFile('peers: [{ group: alone, nat: none }]').peers[0].group, 'alone');
  });

  it('carries env, emulation, group settings and gateway entries into the spec', () => {
    const s = withFile(
      [
        'gateways: [{ emulation: lan, env: { X: gw } }]',
        'peers:',
        '  - { group: home, env: { NAT_NET_TEST_PEER_NO_PUNCH: 1 } }',
        '  - { group: home }',
        '  - { emulation: lan }',
        'groups: { home: { hairpin: true, udp-timeout: 7 } }',
      ].join('\n'),
      { env: 'A=1', hairpin: 'false' },
    );
    assert.deepEqual(s.peers[0], { index: 0, nat: 'port-restricted', group: 'home', env: { NAT_NET_TEST_PEER_NO_PUNCH: '1' } });
    assert.deepEqual(s.peers[1], { index: 1, nat: 'port-restricted', group: 'home' });
    assert.deepEqual(s.peers[2], { index: 2, nat: 'port-restricted', group: 'peer-2', emulation: 'lan' });
    assert.deepEqual(s.groups, { home: { hairpin: true, udpTimeout: 7 } });
    assert.deepEqual(s.gatewaySpecs, [{ index: 0, env: { X: 'gw' }, emulation: 'lan' }]);
    assert.equal(s.hairpin, false);

    // The plan: the group's router hairpins with its own timeout; others take the flat ones; env per node.
    const plan = makePlan(
      { ...s, profile: 'generic', command: '{binary}' },
      { topologyId: 't-000001', createdAt: 'now', owner: '{}', taken: [], routerImage: 'r:1', peerImage: 'p:1', profile: genericProfile() },
    );
    const home = plan.routers.find((r) => r.peerAddresses.length === 2)!;
    const own = plan.routers.find((r) => r.peerAddresses.length === 1)!;
    assert.deepEqual([home.hairpin, home.udpTimeout, own.hairpin, own.udpTimeout], [true, 7, false, undefined]);
    const env = (key: string) => plan.nodes.find((n) => n.key === key)!.env;
    assert.equal(env('peer-0').NAT_NET_TEST_PEER_NO_PUNCH, '1');
    assert.equal(env('peer-1').NAT_NET_TEST_PEER_NO_PUNCH, undefined);
    assert.equal(env('peer-0').A, '1');
    assert.equal(env('gateway-0').X, 'gw');
    assert.equal(env('peer-0').NAT_NET_ROLE, 'peer', "nat-net's own variables stay");
  });

  it('keeps a spec without a file exactly as before (no new keys)', () => {
    const s = parse({ peers: '2' });
    assert.deepEqual(s.peers, [
      { index: 0, nat: 'port-restricted', group: 'peer-0' },
      { index: 1, nat: 'port-restricted', group: 'peer-1' },
    ]);
    for (const key of ['groups', 'gatewaySpecs', 'topologyFile']) assert.ok(!(key in s), key);
  });
});

describe('input groups (flat)', () => {
  it('puts peers with the same name behind one router; one name puts all behind one', () => {
    assert.deepEqual(parse({ peers: '3', groups: 'home, home,office' }).peers.map((p) => p.group), ['home', 'home', 'office']);
    assert.deepEqual(parse({ peers: '3', groups: 'lan' }).peers.map((p) => p.group), ['lan', 'lan', 'lan']);
  });

  it('is checked against nat and the peer count', () => {
    rejects(() => parse({ peers: '3', groups: 'a,b' }), 'groups', 'lists 2 groups for 3 peers');
    rejects(() => parse({ peers: '2', groups: 'a,peer-0' }), 'groups', "'peer-0' is reserved");
    rejects(() => parse({ peers: '2', groups: 'a,' }), 'groups', "'' is not a group name");
    rejects(() => parse({ peers: '2', groups: 'a', nat: 'full-cone,symmetric' }), 'groups', "peers 0 and 1 share group 'a' (one router) but ask for full-cone and symmetric");
    rejects(() => parse({ peers: '2', groups: 'a', nat: 'none,none' }), 'groups', "peer 1 has nat 'none' (no router) but shares group 'a' with peer 0");
  });
});
