/** Networks, volumes and containers of a topology, created and removed through the engine. */
import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import type { FileToWrite, Labels, NetworkPlan } from '../plan/types.js';
import { parseCidr, type Cidr } from '../plan/subnets.js';
import { isNotFound, queuedCall, type Engine } from './engine.js';

/** Subnets of every network on the engine, so a plan can avoid them. */
export async function engineSubnets(engine: Engine): Promise<Cidr[]> {
  const networks = await engine.call('list networks', (abortSignal) => engine.docker.listNetworks({ abortSignal } as object));
  const subnets: Cidr[] = [];
  for (const network of networks) {
    for (const config of network.IPAM?.Config ?? []) {
      const subnet = (config as { Subnet?: string }).Subnet;
      if (subnet && subnet.includes('.')) {
        try {
          subnets.push(parseCidr(normalizeCidr(subnet)));
        } catch {
          /* a subnet we can't read can't clash with an IPv4 block we choose */
        }
      }
    }
  }
  return subnets;
}

/** Docker may report a subnet with host bits set (e.g. 172.17.0.1/16). */
function normalizeCidr(text: string): string {
  const [address, prefix] = text.split('/');
  const parts = address.split('.').map(Number);
  const n = parts.reduce((a, p) => a * 256 + p, 0);
  const size = 2 ** (32 - Number(prefix));
  const base = n - (n % size);
  return `${[24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join('.')}/${prefix}`;
}

export async function createNetwork(engine: Engine, network: NetworkPlan): Promise<string> {
  const created = await engine.call(`create network ${network.name}`, (abortSignal) =>
    engine.docker.createNetwork({
      Name: network.name,
      Driver: 'bridge',
      CheckDuplicate: true,
      Internal: false,
      Attachable: false,
      Labels: network.labels,
      IPAM: {
        Driver: 'default',
        Config: [{ Subnet: network.subnet, Gateway: network.gateway, ...(network.autoRange ? { IPRange: network.autoRange } : {}) }],
      },
      Options: {
        // Nothing is NATed to the host's uplink: a node reaches only the topology.
        'com.docker.network.bridge.enable_ip_masquerade': 'false',
        'com.docker.network.bridge.enable_icc': 'true',
        // A LAN's gateway is its router's: the host's bridge takes no address there.
        ...(network.hostHoldsGateway ? {} : { 'com.docker.network.bridge.inhibit_ipv4': 'true' }),
      },
      abortSignal,
    } as Docker.NetworkCreateOptions),
  );
  return created.id;
}

export async function createVolume(engine: Engine, name: string, labels: Labels): Promise<void> {
  await engine.call(`create volume ${name}`, () => engine.docker.createVolume({ Name: name, Labels: labels }));
}

/** A tar archive of the files, with parent folders, for putArchive at '/'. */
export function tarOf(files: FileToWrite[], binary?: { path: string; content: Buffer; mode: number }): Promise<Buffer> {
  const archive = pack();
  const dirs = new Set<string>();
  const entries: { path: string; content: Buffer; mode: number }[] = [
    ...files.map((f) => ({ path: f.path, content: Buffer.from(f.content), mode: f.mode })),
    ...(binary ? [binary] : []),
  ];
  for (const entry of entries) {
    const parts = entry.path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!dirs.has(dir)) {
        dirs.add(dir);
        archive.entry({ name: `${dir}/`, type: 'directory', mode: 0o755 });
      }
    }
    archive.entry({ name: parts.join('/'), mode: entry.mode, size: entry.content.length }, entry.content);
  }
  archive.finalize();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    archive.on('data', (c) => chunks.push(c as Buffer));
    archive.on('end', () => resolve(Buffer.concat(chunks)));
    archive.on('error', reject);
  });
}

export async function putFiles(engine: Engine, containerId: string, tar: Buffer, what: string): Promise<void> {
  await engine.call(`copy files into ${what}`, (abortSignal) =>
    engine.docker.getContainer(containerId).putArchive(tar, { path: '/', abortSignal } as object),
  );
}

/**
 * Container options that publish `ports` (TCP) on 127.0.0.1 only, each on a free host
 * port: a self-hosted runner's LAN must not reach test nodes.
 */
export function publishOnLoopback(ports: number[]): {
  ExposedPorts: Record<string, object>;
  PortBindings: Record<string, { HostIp: string; HostPort: string }[]>;
} {
  return {
    ExposedPorts: Object.fromEntries(ports.map((p) => [`${p}/tcp`, {}])),
    PortBindings: Object.fromEntries(ports.map((p) => [`${p}/tcp`, [{ HostIp: '127.0.0.1', HostPort: '' }]])),
  };
}

export async function startContainer(engine: Engine, id: string, what: string): Promise<void> {
  await queuedCall(engine, `start ${what}`, (abortSignal) => engine.docker.getContainer(id).start({ abortSignal } as object));
}

export async function inspectContainer(engine: Engine, id: string): Promise<Docker.ContainerInspectInfo> {
  return engine.call(`inspect ${id.slice(0, 12)}`, (abortSignal) => engine.docker.getContainer(id).inspect({ abortSignal } as object));
}

/** The last lines of a container's log, stdout and stderr, demultiplexed. */
export async function logTail(engine: Engine, id: string, lines = 30, timestamps = false): Promise<string> {
  try {
    const raw = (await engine.call(`logs of ${id.slice(0, 12)}`, (abortSignal) =>
      engine.docker.getContainer(id).logs({ stdout: true, stderr: true, tail: lines, timestamps, follow: false, abortSignal } as object),
    )) as unknown as Buffer;
    return demux(raw);
  } catch (error) {
    return isNotFound(error) ? '(container is gone)' : `(log unavailable: ${(error as Error).message})`;
  }
}

/** Docker's multiplexed stream: 8-byte headers (stream, 0, 0, 0, size BE32) before each frame. */
export function demux(raw: Buffer | string): string {
  if (typeof raw === 'string') return raw;
  const out: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length && raw[offset] <= 2 && raw[offset + 1] === 0) {
    const size = raw.readUInt32BE(offset + 4);
    out.push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  if (offset === 0) return raw.toString('utf8');
  return Buffer.concat(out).toString('utf8');
}

export async function removeContainer(engine: Engine, id: string): Promise<void> {
  try {
    await engine.call(`remove container ${id.slice(0, 12)}`, (abortSignal) =>
      engine.docker.getContainer(id).remove({ force: true, v: true, abortSignal } as object),
    );
  } catch (error) {
    // Gone already, or already being removed by a parallel clean-up: either way it goes.
    const status = (error as { statusCode?: number }).statusCode;
    if (!isNotFound(error) && status !== 409) throw error;
  }
}

export async function removeNetwork(engine: Engine, id: string): Promise<void> {
  try {
    await engine.call(`remove network ${id.slice(0, 12)}`, (abortSignal) => engine.docker.getNetwork(id).remove({ abortSignal } as object));
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

export async function removeVolume(engine: Engine, name: string): Promise<void> {
  try {
    await engine.call(`remove volume ${name}`, (abortSignal) => engine.docker.getVolume(name).remove({ abortSignal } as object));
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
