/**
 * The demo: 1 gateway and 3 peers running the stand-in peer, each peer behind its
 * own NAT router with a different behaviour. Prints the node table, shows what the
 * gateway saw (each peer arriving from its router's public address) and which peers
 * reached each other directly by hole punching, then tears everything down.
 */
import { join } from 'node:path';
import { bringUp, newTopologyId, prepareImages } from '../src/core/bring-up.js';
import { down } from '../src/core/down.js';
import { formatTable, nodeTable, type TopologyRecord } from '../src/core/record.js';
import { connectEngine } from '../src/engine/engine.js';
import { pollUntil } from '../src/engine/wait.js';
import { parseSpec } from '../src/spec/parse.js';

interface PeerStatus {
  publicKey: string;
  gateways: { registered: boolean; observedAs: string | null }[];
  peers?: { key: string; observed: string }[];
  direct: { key: string; addr: string }[];
}

async function status(port: number): Promise<PeerStatus> {
  const response = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(5000) });
  return (await response.json()) as PeerStatus;
}

async function main(): Promise<number> {
  const spec = parseSpec(
    {
      binary: join(process.cwd(), 'dist/test-peer/nat-net-test-peer.cjs'),
      gateways: '1',
      peers: '3',
      nat: 'full-cone,port-restricted,symmetric',
      name: 'demo',
    },
    { cwd: process.cwd(), env: process.env },
  );
  const engine = await connectEngine();
  const topologyId = newTopologyId(spec.name);
  const log = (line: string) => console.log(`  ${line}`);
  let record: TopologyRecord | undefined;
  try {
    const images = await prepareImages(engine, spec, log);
    console.log(`Bringing up ${topologyId} on ${engine.describe}`);
    record = await bringUp(engine, spec, { topologyId, images, hooks: { log }, teardown: () => down(engine, topologyId) });
    console.log(`\nUp in ${(record.timingsMs.total / 1000).toFixed(1)} s:\n`);
    console.log(formatTable(nodeTable(record)));

    const gateway = record.nodes.find((n) => n.role === 'gateway')!;
    const peers = record.nodes.filter((n) => n.role === 'peer');
    // Hole punching takes a moment after registration: wait (bounded) until it settles.
    await pollUntil(async () => {
      const all = await Promise.all(peers.map((p) => status(p.wsHostPort)));
      return all.every((s) => s.gateways.every((g) => g.registered)) && all.filter((s) => s.direct.length > 0).length >= 2 ? true : undefined;
    }, Date.now() + 20_000);

    const seen = await status(gateway.wsHostPort);
    console.log('\nWhat the gateway saw (each peer arrives from its router, not its private address):');
    const keyOf = new Map<string, string>();
    let throughNat = 0;
    for (const peer of peers) {
      const s = await status(peer.wsHostPort);
      keyOf.set(s.publicKey, peer.key);
      const observed = seen.peers?.find((p) => p.key === s.publicKey)?.observed ?? '(not registered)';
      const ok = observed.startsWith(`${peer.publicAddress}:`);
      if (ok) throughNat += 1;
      console.log(`  ${peer.key} (${peer.nat}, private ${peer.address}) -> seen as ${observed} ${ok ? 'via its router' : 'UNEXPECTED'}`);
    }
    console.log('\nDirect peer-to-peer connections after hole punching:');
    for (const peer of peers) {
      const s = await status(peer.wsHostPort);
      const direct = s.direct.map((d) => keyOf.get(d.key) ?? d.key.slice(0, 8));
      console.log(`  ${peer.key} (${peer.nat}): ${direct.length ? direct.join(', ') : 'none'}`);
    }
    console.log('  (a symmetric NAT gives a new port per destination, so peers behind port-restricted NATs cannot punch to it)');
    return throughNat === peers.length ? 0 : 1;
  } finally {
    const result = await down(engine, topologyId);
    console.log(`\nTore down ${topologyId}: ${result.containers} containers, ${result.networks} networks, ${result.volumes} volumes removed${result.errors.length ? `; errors: ${result.errors.join('; ')}` : ''}`);
  }
}

main().then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    console.error(`demo failed: ${error.message}`);
    process.exitCode = 1;
  },
);
