/**
 * Least privilege, on a real topology (1 gateway; peers behind port-restricted and
 * symmetric routers; one peer with nat none on the public network), read from the
 * engine and from the kernel inside each container:
 * - only routers hold NET_ADMIN (with NET_RAW, everything else dropped); gateways and
 *   peers get no capability added, and their bounding set lacks NET_ADMIN, NET_RAW and
 *   SYS_ADMIN; the short-lived helpers hold NET_ADMIN alone;
 * - no container mounts the Docker socket, binds a host path, or shares the host's
 *   network, PID or IPC namespace;
 * - WebSocket ports are published on 127.0.0.1 only;
 * - nothing outside the topology is reachable: shown with route lookups (`ip route get`,
 *   which sends no packet) in every namespace, never with traffic to an outside address;
 * - every network has masquerading off; Freenet nodes run with telemetry off.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import type { Engine } from '../../src/engine/engine.js';
import { runInNamespace } from '../../src/engine/helper.js';
import { demux, inspectContainer } from '../../src/engine/resources.js';
import { LABEL, topologyFilter } from '../../src/plan/labels.js';
import { bringUpForTest, labelledResources, type TestTopology } from './support.js';

// Bits of /proc/<pid>/status Cap* masks (linux/capability.h).
const CAP = { NET_BIND_SERVICE: 10, NET_ADMIN: 12, NET_RAW: 13, SYS_MODULE: 16, SYS_PTRACE: 19, SYS_ADMIN: 21 } as const;
const bits = (...caps: number[]) => caps.reduce((mask, cap) => mask | (1n << BigInt(cap)), 0n);
const has = (mask: bigint, cap: number) => (mask & (1n << BigInt(cap))) !== 0n;

// Route lookups only: `ip route get` asks the kernel's routing table and sends nothing.
const OUTSIDE_V4 = '1.1.1.1';
const OUTSIDE_V6 = '2606:4700:4700::1111';

let t: TestTopology;
let engine: Engine;
let containers: Docker.ContainerInspectInfo[];

function roleOf(info: Docker.ContainerInspectInfo): string {
  return info.Config.Labels[LABEL.role];
}

function byRole(role: string): Docker.ContainerInspectInfo[] {
  return containers.filter((c) => roleOf(c) === role);
}

/** The output of a command run in a container (docker exec needs no capability), with a deadline. */
async function execOutput(id: string, cmd: string[]): Promise<string> {
  return engine.call(
    `exec ${cmd.join(' ')} in ${id.slice(0, 12)}`,
    async () => {
      const exec = await engine.docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({ hijack: true, stdin: false });
      const chunks: Buffer[] = [];
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', reject);
      });
      return demux(Buffer.concat(chunks));
    },
    30_000,
  );
}

function capField(status: string, field: 'CapBnd' | 'CapEff' | 'CapPrm'): bigint {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status);
  assert.ok(m, `no ${field} in:\n${status}`);
  return BigInt(`0x${m[1]}`);
}

/** What the kernel answers for routes, seen from inside a container's network namespace. */
async function routesSeenFrom(id: string, what: string): Promise<{ v4: string; table: string[]; v6: string }> {
  const script = [
    `ip -4 route get ${OUTSIDE_V4} 2>&1 || true`,
    'echo @@',
    'ip -4 route show',
    'echo @@',
    `ip -6 route get ${OUTSIDE_V6} 2>&1 || true`,
  ].join('\n');
  const result = await runInNamespace(engine, { targetId: id, image: t.plan.routerImage, script, labels: t.plan.labels, what: `route check of ${what}`, captureOutput: true });
  assert.equal(result.exitCode, 0, result.output);
  const [v4, table, v6] = result.output.split('@@\n').map((s) => s.trim());
  return { v4, table: table.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter(Boolean), v6 };
}

before(async () => {
  t = await bringUpForTest({ name: 'privilege', gateways: '1', peers: '3', nat: 'port-restricted,symmetric,none' });
  engine = t.engine;
  const listed = await engine.call('list containers', () =>
    engine.docker.listContainers({ all: true, filters: JSON.stringify(topologyFilter(t.record.topologyId)) }),
  );
  containers = await Promise.all(listed.map((c) => inspectContainer(engine, c.Id)));
});

after(async () => {
  if (!t) return;
  const id = t.record.topologyId;
  await t.down();
  assert.deepEqual(await labelledResources(id), []);
});

describe('least privilege on a running topology', () => {
  it('the topology is what the test expects: 2 routers, 1 gateway, 3 peers, and no helper or loader left behind', () => {
    const roles = containers.map(roleOf).sort();
    assert.deepEqual(roles, ['gateway', 'peer', 'peer', 'peer', 'router', 'router']);
  });

  it('capabilities as the engine records them: routers NET_ADMIN + NET_RAW over CapDrop ALL; nodes add nothing', () => {
    for (const info of containers) {
      const name = info.Name;
      const host = info.HostConfig;
      assert.equal(host.Privileged, false, `${name} is privileged`);
      assert.ok((host.SecurityOpt ?? []).includes('no-new-privileges'), `${name}: no-new-privileges is not set`);
      if (roleOf(info) === 'router') {
        assert.deepEqual([...(host.CapAdd ?? [])].sort(), ['NET_ADMIN', 'NET_RAW'], name);
        assert.deepEqual(host.CapDrop, ['ALL'], name);
      } else {
        assert.deepEqual(host.CapAdd ?? [], [], `${name} (${roleOf(info)}) has added capabilities`);
      }
    }
  });

  it('capabilities as the kernel holds them: routers exactly NET_ADMIN + NET_RAW; gateways and peers never NET_ADMIN, NET_RAW or SYS_ADMIN', async () => {
    for (const info of containers) {
      const status = await execOutput(info.Id, ['cat', '/proc/1/status']);
      const bounding = capField(status, 'CapBnd');
      if (roleOf(info) === 'router') {
        assert.equal(bounding, bits(CAP.NET_ADMIN, CAP.NET_RAW), `${info.Name}: CapBnd ${bounding.toString(16)}`);
      } else {
        for (const cap of [CAP.NET_ADMIN, CAP.NET_RAW, CAP.SYS_ADMIN, CAP.SYS_MODULE, CAP.SYS_PTRACE]) {
          assert.ok(!has(bounding, cap), `${info.Name}: capability ${cap} is in its bounding set ${bounding.toString(16)}`);
        }
        // The bounding set caps what any process in it can ever gain (no-new-privileges is set too).
        assert.ok(!has(capField(status, 'CapEff'), CAP.NET_ADMIN), info.Name);
      }
    }
  });

  it('a helper in a node namespace holds NET_ADMIN and nothing else, and is gone afterwards', async () => {
    const gateway = byRole('gateway')[0];
    const result = await runInNamespace(engine, {
      targetId: gateway.Id,
      image: t.plan.routerImage,
      script: 'grep -E "^Cap(Bnd|Eff):" /proc/self/status',
      labels: t.plan.labels,
      what: 'capability check',
      captureOutput: true,
    });
    assert.equal(result.exitCode, 0, result.output);
    assert.equal(capField(result.output, 'CapBnd'), bits(CAP.NET_ADMIN));
    const helpers = await engine.call('list helpers', () =>
      engine.docker.listContainers({ all: true, filters: JSON.stringify({ label: [...topologyFilter(t.record.topologyId).label, `${LABEL.role}=helper`] }) }),
    );
    assert.deepEqual(helpers, []);
  });

  it('no container gets the Docker socket, a host path, or a host namespace', () => {
    for (const info of containers) {
      const name = info.Name;
      for (const mount of info.Mounts) {
        assert.notEqual(mount.Type, 'bind', `${name} binds ${mount.Source}`);
        assert.ok(!/docker\.sock/.test(`${mount.Source} ${mount.Destination}`), `${name} mounts ${mount.Source} at ${mount.Destination}`);
      }
      assert.deepEqual(info.HostConfig.Binds ?? [], [], `${name} has binds`);
      assert.notEqual(info.HostConfig.NetworkMode, 'host', name);
      assert.notEqual(info.HostConfig.PidMode, 'host', name);
      assert.notEqual(info.HostConfig.IpcMode, 'host', name);
      assert.deepEqual(info.HostConfig.Devices ?? [], [], `${name} has devices`);
    }
  });

  it('WebSocket ports are published on 127.0.0.1 only, and the host listens for them on loopback only', (tc) => {
    let found = 0;
    const listeners = [readFileSync('/proc/net/tcp', 'utf8'), readFileSync('/proc/net/tcp6', 'utf8')].join('\n');
    for (const info of containers) {
      const published = Object.values(info.NetworkSettings.Ports ?? {}).flatMap((b) => b ?? []);
      const requested = Object.values(info.HostConfig.PortBindings ?? {}).flat() as { HostIp?: string }[];
      // A NATed peer publishes nothing (the host is not on its LAN): its router publishes one port per peer behind it.
      const natedPeer = roleOf(info) === 'peer' && t.record.nodes.find((n) => n.containerId === info.Id)?.router !== undefined;
      if (natedPeer) {
        assert.deepEqual(published, [], `${info.Name} publishes ports`);
        continue;
      }
      const expected = roleOf(info) === 'router' ? t.record.nodes.filter((n) => n.router?.containerId === info.Id).length : 1;
      assert.equal(published.length, expected, `${info.Name} publishes ${published.length} ports, not ${expected}`);
      for (const binding of [...published, ...requested]) assert.equal(binding.HostIp, '127.0.0.1', `${info.Name}: ${JSON.stringify(binding)}`);
      for (const { HostPort } of published) {
        // /proc/net/tcp*: local address as hex ip:port, state 0A = LISTEN. Any listener on the port is on loopback.
        const port = Number(HostPort).toString(16).toUpperCase().padStart(4, '0');
        const onPort = listeners.split('\n').filter((l) => new RegExp(`^\\s*\\d+: [0-9A-F]+:${port} [0-9A-F]+:0000 0A `).test(l));
        for (const line of onPort) {
          found += 1;
          const local = line.trim().split(/\s+/)[1].split(':')[0];
          assert.ok(local === '0100007F' || local === '00000000000000000000000001000000', `${info.Name}: port ${HostPort} is listened on ${local}`);
        }
      }
    }
    // With Docker's userland proxy off there is no listener, only a DNAT rule for 127.0.0.1.
    tc.diagnostic(`${found} host listeners on the published ports, all on loopback`);
  });

  it('every network of the topology has masquerading off (nothing is NATed to the host uplink)', async () => {
    const networks = await engine.call('list networks', () =>
      engine.docker.listNetworks({ filters: JSON.stringify(topologyFilter(t.record.topologyId)) }),
    );
    assert.equal(networks.length, t.record.networks.length);
    for (const n of networks) {
      const info = await engine.call(`inspect network ${n.Name}`, () => engine.docker.getNetwork(n.Id).inspect());
      assert.equal(info.Options?.['com.docker.network.bridge.enable_ip_masquerade'], 'false', n.Name);
      assert.equal(info.EnableIPv6, false, `${n.Name} has IPv6`);
    }
  });

  it('gateways, the public peer and routers have no route out; NATed peers only via their router', async (tc) => {
    const lanOf = new Map(t.record.routers.map((r) => [r.containerId, r]));
    const unreachable = /Network is unreachable/;
    for (const node of t.record.nodes) {
      const seen = await routesSeenFrom(node.containerId, node.name);
      tc.diagnostic(`${node.name}: ${seen.v4} | ${seen.v6} | ${seen.table.join('; ')}`);
      assert.match(seen.v6, /unreachable|not supported|disabled|Permission denied|Invalid argument/i, `${node.name} IPv6: ${seen.v6}`);
      if (node.router) {
        const router = lanOf.get(node.router.containerId)!;
        assert.match(seen.v4, new RegExp(`^${OUTSIDE_V4} via ${node.router.privateAddress.replace(/\./g, '\\.')} dev \\S+ src ${node.address.replace(/\./g, '\\.')}`), `${node.name}: ${seen.v4}`);
        assert.equal(seen.table.length, 2, `${node.name} routes:\n${seen.table.join('\n')}`);
        assert.match(seen.table.find((l) => l.startsWith('default')) ?? '', new RegExp(`^default via ${node.router.privateAddress.replace(/\./g, '\\.')} dev `));
        assert.ok(seen.table.some((l) => l.startsWith(`${router.privateSubnet} dev `)), `${node.name} routes:\n${seen.table.join('\n')}`);
      } else {
        assert.match(seen.v4, unreachable, `${node.name} (${node.role}): ${seen.v4}`);
        assert.ok(!seen.table.some((l) => l.startsWith('default')), `${node.name} has a default route:\n${seen.table.join('\n')}`);
        assert.equal(seen.table.length, 1, `${node.name} routes:\n${seen.table.join('\n')}`);
      }
    }
    for (const router of t.record.routers) {
      const seen = await routesSeenFrom(router.containerId, router.name);
      tc.diagnostic(`${router.name}: ${seen.v4} | ${seen.v6} | ${seen.table.join('; ')}`);
      assert.match(seen.v4, unreachable, `${router.name}: ${seen.v4}`);
      assert.ok(!seen.table.some((l) => l.startsWith('default')), `${router.name} has a default route:\n${seen.table.join('\n')}`);
      assert.equal(seen.table.length, 2, `${router.name}: the public network and its LAN, nothing else:\n${seen.table.join('\n')}`);
    }
  });

  it('Freenet nodes run with FREENET_TELEMETRY_ENABLED=false', () => {
    for (const info of containers.filter((c) => ['gateway', 'peer'].includes(roleOf(c)))) {
      const env = info.Config.Env ?? [];
      assert.ok(env.includes('FREENET_TELEMETRY_ENABLED=false'), `${info.Name}: ${env.join(' ')}`);
      assert.equal(env.filter((e) => e.startsWith('FREENET_TELEMETRY_ENABLED=')).length, 1, info.Name);
    }
  });
});
