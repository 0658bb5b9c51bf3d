/**
 * A node's program must not send a packet before its network is what the plan says:
 * for a NATed peer, the default route through its router (the LAN's gateway, which the
 * engine sets at start); for a node on the public network, no default route at all
 * (nothing outside the topology; removed by a helper, since the node holds no
 * NET_ADMIN). The container's Cmd is a fixed sh script that waits
 * for that state in /proc/net/route with a deadline, then execs the program. The
 * program's argv follows as positional parameters, so no user text enters the script.
 */
import { parseIpv4 } from './subnets.js';

export const NODE_NETWORK_TIMEOUT_EXIT = 97;

const WAIT_SCRIPT = [
  'want="$NAT_NET_DEFAULT_ROUTE"; n=0',
  'while :; do',
  '  have=none',
  '  while read -r _if dest gw _rest; do [ "$dest" = 00000000 ] && have="$gw"; done < /proc/net/route',
  '  [ "$have" = "$want" ] && exec "$@"',
  '  n=$((n+1))',
  `  if [ "$n" -gt 710 ]; then echo "nat-net: the node's network was not set up (default route $have, want $want)" >&2; exit ${NODE_NETWORK_TIMEOUT_EXIT}; fi`,
  // Each check forks a sleep: 20 ms apart for the first 0.2 s, then 100 ms (about 70 s in
  // all). Dozens of nodes checking every 20 ms would take a core from the engine that is
  // starting them.
  '  if [ "$n" -le 10 ]; then sleep 0.02; else sleep 0.1; fi',
  'done',
].join('\n');

/** /proc/net/route shows gateways as little-endian hex. */
export function procRouteHex(address: string): string {
  const n = parseIpv4(address);
  return [0, 8, 16, 24].map((shift) => (Math.floor(n / 2 ** shift) % 256).toString(16).padStart(2, '0')).join('').toUpperCase();
}

/** `defaultRoute`: the router's address, or undefined for "no default route". */
export function nodeLaunch(command: string[], defaultRoute: string | undefined): { launch: string[]; env: Record<string, string> } {
  return {
    launch: ['/bin/sh', '-c', WAIT_SCRIPT, 'nat-net-node', ...command],
    env: { NAT_NET_DEFAULT_ROUTE: defaultRoute === undefined ? 'none' : procRouteHex(defaultRoute) },
  };
}
