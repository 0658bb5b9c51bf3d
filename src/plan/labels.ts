/** Label keys every resource carries; teardown and sweeps select by these, never by name. */
export const LABEL = {
  tool: 'dev.nat-net.tool',
  topology: 'dev.nat-net.topology',
  name: 'dev.nat-net.name',
  role: 'dev.nat-net.role',
  index: 'dev.nat-net.index',
  owner: 'dev.nat-net.owner',
  created: 'dev.nat-net.created',
} as const;

export const TOOL = 'nat-net';

export type ResourceRole = 'gateway' | 'peer' | 'router' | 'helper' | 'loader' | 'public-network' | 'private-network' | 'binary-volume';

export function topologyFilter(topologyId: string): { label: string[] } {
  return { label: [`${LABEL.tool}=${TOOL}`, `${LABEL.topology}=${topologyId}`] };
}

export function toolFilter(): { label: string[] } {
  return { label: [`${LABEL.tool}=${TOOL}`] };
}
