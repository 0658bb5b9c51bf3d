/** teardown: remove everything that carries this topology's labels, plus any ids the record names. */
import type { Engine } from '../engine/engine.js';
import { removeContainer, removeNetwork, removeVolume } from '../engine/resources.js';
import { pollUntil } from '../engine/wait.js';
import { topologyFilter } from '../plan/labels.js';

export interface DownResult {
  containers: number;
  networks: number;
  volumes: number;
  errors: string[];
}

export async function down(engine: Engine, topologyId: string, known: { containers?: string[]; networks?: string[] } = {}): Promise<DownResult> {
  const filters = JSON.stringify(topologyFilter(topologyId));
  const result: DownResult = { containers: 0, networks: 0, volumes: 0, errors: [] };
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
      return true;
    } catch (error) {
      result.errors.push(`${what}: ${(error as Error).message}`);
      return false;
    }
  };

  // Networks and volumes are listed while the containers go (one round trip less). A
  // network goes as soon as the containers on it are gone (a LAN with its router and
  // peers while other containers are still being removed); volumes after every container.
  const otherLists = Promise.all([
    engine.call('list networks', () => engine.docker.listNetworks({ filters })),
    engine.call('list volumes', () => engine.docker.listVolumes({ filters })),
  ]);
  otherLists.catch(() => {}); // awaited below
  const listed = await engine.call('list containers', () => engine.docker.listContainers({ all: true, filters }));
  const containerIds = [...new Set([...listed.map((c) => c.Id), ...(known.containers ?? [])])];
  const entryOf = (id: string) => listed.find((l) => l.Id === id);
  const networksOf = (id: string) => entryOf(id)?.NetworkSettings?.Networks;
  // A router leaves its LAN before it goes. Removed on two networks, the engine would
  // first leave the network its ports are published through (the one it was created
  // on, its public network) and then publish them anew on the LAN only to unpublish
  // them at once: a quarter more engine time for a whole topology. `leaving` holds, per
  // container, the networks it is disconnected from first, each with that disconnect
  // (true once it has left; false leaves it to the removal).
  const leaving = new Map<string, Map<string, Promise<boolean>>>();
  for (const id of containerIds) {
    const nets = Object.entries(networksOf(id) ?? {});
    if (nets.length < 2) continue;
    const created = entryOf(id)?.HostConfig?.NetworkMode;
    const others = nets.filter(([name, n]) => name !== created && n.NetworkID);
    leaving.set(id, new Map(others.map(([, n]) => [n.NetworkID, disconnect(engine, n.NetworkID, id)])));
  }
  const removals = new Map(
    containerIds.map((id) => [
      id,
      Promise.all(leaving.get(id)?.values() ?? []).then(() => attempt(`container ${id.slice(0, 12)}`, () => removeContainer(engine, id))),
    ]),
  );
  const allContainers = Promise.all(removals.values());
  /** What must be done before network `id` can go: each container on it removed (or disconnected), and any container whose networks are unknown removed. */
  const blocking = (id: string): Promise<unknown>[] =>
    containerIds.flatMap((c) => {
      const nets = networksOf(c);
      if (nets && !Object.values(nets).some((n) => n.NetworkID === id)) return [];
      const left = leaving.get(c)?.get(id);
      return [left ? left.then((ok) => ok || removals.get(c)) : removals.get(c)!];
    });

  const [networks, volumes] = await otherLists.catch(async (error: Error) => {
    await allContainers;
    throw error;
  });
  const networkIds = [...new Set([...networks.map((n) => n.Id), ...(known.networks ?? [])])];
  const nets = await Promise.all(
    networkIds.map(async (id) => {
      await Promise.all(blocking(id));
      return attempt(`network ${id.slice(0, 12)}`, () => removeNetworkWhenFree(engine, id));
    }),
  );
  const removed = await allContainers;
  result.containers = listed.filter((c) => removed[containerIds.indexOf(c.Id)]).length;
  result.networks = networks.filter((n) => nets[networkIds.indexOf(n.Id)]).length;
  const vols = await Promise.all((volumes.Volumes ?? []).map((v) => attempt(`volume ${v.Name}`, () => removeVolume(engine, v.Name))));
  result.volumes = vols.filter(Boolean).length;
  return result;
}

/** Disconnects container `id` from network `networkId`: true once it has left, false when the engine refused (its removal then does it). */
async function disconnect(engine: Engine, networkId: string, id: string): Promise<boolean> {
  return engine
    .call(`disconnect ${id.slice(0, 12)} from ${networkId.slice(0, 12)}`, (abortSignal) =>
      engine.docker.getNetwork(networkId).disconnect({ Container: id, Force: true, abortSignal } as object),
    )
    .then(
      () => true,
      () => false,
    );
}

const NETWORK_RELEASE_TIMEOUT_MS = 20_000;

/**
 * A busy engine can answer a container's removal before it has let go of the
 * container's endpoint ("network ... has active endpoints", with no container attached
 * any more): the network is then removed as soon as the engine lets go, within a deadline.
 */
async function removeNetworkWhenFree(engine: Engine, id: string): Promise<void> {
  let busy: unknown;
  const removed = await pollUntil(async () => {
    try {
      await removeNetwork(engine, id);
      return true;
    } catch (error) {
      if (!/active endpoints/i.test((error as Error).message)) throw error;
      busy = error;
      return undefined;
    }
  }, Date.now() + NETWORK_RELEASE_TIMEOUT_MS);
  if (!removed) throw busy;
}

/** Topologies on the engine (any container, network or volume of theirs), by label: id -> name, owner, created, container count. */
export async function listTopologies(engine: Engine): Promise<{ topologyId: string; name: string; owner: string; created: string; containers: number; running: number }[]> {
  const filters = JSON.stringify({ label: ['dev.nat-net.tool=nat-net'] });
  // Volumes too: a teardown cut short can leave a topology's binary volume alone.
  const [containers, networks, volumes] = await Promise.all([
    engine.call('list containers', () => engine.docker.listContainers({ all: true, filters })),
    engine.call('list networks', () => engine.docker.listNetworks({ filters })),
    engine.call('list volumes', () => engine.docker.listVolumes({ filters })),
  ]);
  const byId = new Map<string, { topologyId: string; name: string; owner: string; created: string; containers: number; running: number }>();
  const note = (labels: Record<string, string> | undefined) => {
    const id = labels?.['dev.nat-net.topology'];
    if (!id) return undefined;
    if (!byId.has(id)) {
      byId.set(id, {
        topologyId: id,
        name: labels['dev.nat-net.name'] ?? '',
        owner: labels['dev.nat-net.owner'] ?? '',
        created: labels['dev.nat-net.created'] ?? '',
        containers: 0,
        running: 0,
      });
    }
    return byId.get(id);
  };
  for (const n of networks) note(n.Labels);
  for (const v of volumes.Volumes ?? []) note(v.Labels);
  for (const c of containers) {
    const entry = note(c.Labels);
    if (entry) {
      entry.containers += 1;
      if (c.State === 'running') entry.running += 1;
    }
  }
  return [...byId.values()].sort((a, b) => a.created.localeCompare(b.created));
}
