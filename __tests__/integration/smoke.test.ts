import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bringUpProbes, eventually, labelledResources, nodeProbe, startPublicHost } from './support.js';

test('probe smoke: a NATed probe peer reaches a public test host through its router', async () => {
  const t = await bringUpProbes({ peers: '1', gateways: '1' });
  try {
    const host = await startPublicHost(t);
    await host.post('/bind', { port: 5000 });
    const peer = nodeProbe(t, 'peer-0');
    await peer.post('/send', { from: 4000, to: `${host.address}:5000`, data: 'hello' });
    const got = await eventually('datagram at host', async () => {
      const r = await host.get<{ from: string; data: string }[]>('/received', { port: 5000 });
      return r.length > 0 ? r : undefined;
    });
    assert.equal(got[0].from, `${t.record.nodes.find((n) => n.key === 'peer-0')!.publicAddress}:4000`);
  } finally {
    await t.down();
  }
  assert.deepEqual(await labelledResources(t.record.topologyId), []);
});
