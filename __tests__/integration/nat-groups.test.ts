/**
 * Groups (several peers behind one router) and hairpin, from a topology file: group
 * "home" hairpins, group "office" does not. Peer x of a group opens a mapping by
 * sending to public host A; peer y of the same group then sends to the router's
 * public address and x's mapped port.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { arrival, arrivedAfterControl, node, routerOf, send } from './nat-support.js';
import { bringUpProbes, labelledResources, nodeProbe, startPublicHost, type Probe, type TestTopology } from './support.js';

const TOPOLOGY = `# two home LANs: one router each, two peers behind each
peers:
  - group: home
  - group: home
  - group: office
  - group: office
groups:
  home: { nat: port-restricted, hairpin: true }
  office: { nat: port-restricted, hairpin: false }
`;

describe('groups and hairpin', { timeout: 300_000 }, () => {
  let topo: TestTopology;
  let dir: string;
  let a: Probe;
  let b: Probe;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nat-net-groups-'));
    writeFileSync(join(dir, 'topology.yaml'), TOPOLOGY);
    topo = await bringUpProbes({ name: 'nat-groups', 'topology-file': join(dir, 'topology.yaml'), 'ready-timeout': '180' });
    [a, b] = await Promise.all([startPublicHost(topo, 'A'), startPublicHost(topo, 'B')]);
    await Promise.all([a.post('/bind', { port: 5000 }), b.post('/bind', { port: 5000 })]);
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (!topo) return;
    await topo.down();
    assert.deepEqual(await labelledResources(topo.record.topologyId), []);
  });

  it('puts the peers of one group behind one router, with one public address', () => {
    assert.equal(topo.record.routers.length, 2);
    assert.equal(routerOf(topo, 'peer-0').name, routerOf(topo, 'peer-1').name);
    assert.equal(routerOf(topo, 'peer-2').name, routerOf(topo, 'peer-3').name);
    assert.notEqual(routerOf(topo, 'peer-0').name, routerOf(topo, 'peer-2').name);
    for (const n of topo.record.nodes.filter((x) => x.role === 'peer')) assert.equal(n.nat, 'port-restricted');
  });

  const hairpinCase = (group: string, x: string, y: string, hairpin: boolean) => async () => {
    const px = nodeProbe(topo, x);
    const py = nodeProbe(topo, y);
    const pub = routerOf(topo, x).publicAddress;
    // x opens a mapping; A sees it as pub:6000.
    await send(px, 6000, `${a.address}:5000`, `${group}-open`);
    const mapped = (await arrival(a, 5000, `${group}-open`)).from;
    assert.equal(mapped, `${pub}:6000`);
    // y's own path out works and shows y's mapped port.
    await send(py, 6001, `${a.address}:5000`, `${group}-y-out`);
    assert.equal((await arrival(a, 5000, `${group}-y-out`)).from, `${pub}:6001`);

    // y to the router's public address and x's mapped port; then A's control on the same mapping.
    await send(py, 6001, mapped, `${group}-hairpin`);
    await send(a, 5000, mapped, `${group}-control`);
    const got = await arrivedAfterControl(px, 6000, [`${group}-hairpin`], `${group}-control`);
    assert.equal(got.has(`${group}-hairpin`), hairpin, `hairpin ${hairpin ? 'on' : 'off'}: the datagram ${got.has(`${group}-hairpin`) ? 'arrived' : 'was dropped'}`);
    if (hairpin) {
      // Seen from the router's public address and y's mapped port, not from y's private address.
      const [d] = (await px.get<{ from: string; data: string }[]>('/received', { port: 6000 })).filter((r) => r.data.startsWith(`${group}-hairpin`));
      assert.equal(d.from, `${pub}:6001`);
      assert.notEqual(d.from.split(':')[0], node(topo, y).address);
    }
  };

  it('hairpin on: a peer reaches another of its group through the public address', hairpinCase('home', 'peer-0', 'peer-1', true));
  it('hairpin off: the same datagram is dropped', hairpinCase('office', 'peer-2', 'peer-3', false));

  it('two peers of a group sending from the same local port get different public ports, each kept for every destination', async (t) => {
    const [x, y] = [nodeProbe(topo, 'peer-2'), nodeProbe(topo, 'peer-3')];
    const seen = async (p: Probe, host: Probe, tag: string) => {
      await send(p, 7000, `${host.address}:5000`, tag);
      return (await arrival(host, 5000, tag)).from.split(':')[1];
    };
    // Order matters on Linux (see src/nat/behaviours.ts): first the shared port is taken, then reused.
    const xa = await seen(x, a, 'same-x-a');
    const ya = await seen(y, a, 'same-y-a');
    const xb = await seen(x, b, 'same-x-b');
    const yb = await seen(y, b, 'same-y-b');
    t.diagnostic(`peer-2 from 7000: A saw ${xa}, B saw ${xb}; peer-3 from 7000: A saw ${ya}, B saw ${yb}`);
    assert.equal(xa, '7000', 'the first gets its port preserved');
    assert.notEqual(ya, '7000', 'the second gets another public port');
    assert.equal(xb, xa, 'endpoint-independent for the first');
    assert.equal(yb, ya, 'endpoint-independent for the second');
  });
});
