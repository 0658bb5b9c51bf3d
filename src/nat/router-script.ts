/**
 * The router container's whole start-up as one `sh -c` script: find the interfaces
 * by address, drop the default route (nothing outside the topology is reachable),
 * load every set and rule atomically, take the LAN's gateway address (only now can a
 * peer's packet reach the router: before, its default route leads nowhere), print the
 * ready marker, then idle. Everything in it comes from the plan (addresses, numbers),
 * never from user text.
 */
import type { RouterPlan } from '../plan/types.js';
import { isBookkeeping, natRules } from './behaviours.js';

export const ROUTER_READY_MARKER = 'nat-net-router-ready';

/** Single-quotes a word for sh. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const FILTER_POLICIES = [':INPUT DROP [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]'];

/** What every router accepts whatever its behaviour: its own loopback, replies, pings from its LAN. */
function baseAccepts(): string[] {
  return [
    '-A INPUT -i lo -j ACCEPT',
    '-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    '-A INPUT -i $LAN -p icmp -j ACCEPT',
    '-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
  ];
}

export function routerFilterBase(): string[] {
  return [...FILTER_POLICIES, ...baseAccepts()];
}

export function routerRuleset(router: RouterPlan): { sets: string[][]; restore: string } {
  const rules = natRules(router);
  const restore = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ...wsForwardDnat(router),
    ...rules.nat,
    'COMMIT',
    '*filter',
    ...FILTER_POLICIES,
    // Bookkeeping first: packets of established flows must refresh their mappings too.
    ...rules.filter.filter(isBookkeeping),
    ...baseAccepts(),
    ...rules.filter.filter((line) => !isBookkeeping(line)),
    // The host's WebSocket connections to the peers, forwarded (nat table): from the host only.
    ...wsForwardAccepts(router),
    // Everything else from the LAN goes out (after the set bookkeeping above).
    '-A FORWARD -i $LAN -o $PUB -j ACCEPT',
    'COMMIT',
    '',
  ].join('\n');
  return { sets: rules.sets, restore };
}

/**
 * The host reaches a peer's WebSocket port through its router (the host has no address
 * on the LAN): TCP from the host's public address to the router's forward port only.
 * No peer and no other node can use these; UDP, the peers' own traffic, is untouched.
 */
export function wsForwardDnat(router: RouterPlan): string[] {
  return router.wsForwards.map(
    (f) => `-A PREROUTING -i $PUB -s ${router.hostAddress}/32 -d ${router.publicAddress}/32 -p tcp --dport ${f.routerPort} -j DNAT --to-destination ${f.peerAddress}:${f.peerPort}`,
  );
}

function wsForwardAccepts(router: RouterPlan): string[] {
  return router.wsForwards.map(
    (f) => `-A FORWARD -i $PUB -o $LAN -s ${router.hostAddress}/32 -d ${f.peerAddress}/32 -p tcp --dport ${f.peerPort} -m conntrack --ctstate DNAT -j ACCEPT`,
  );
}

/** The LAN's prefix length, for the gateway address the router takes. */
function prefixLength(cidr: string): string {
  return cidr.split('/')[1];
}

export function routerScript(router: RouterPlan, extraLines: string[] = []): string {
  const { sets, restore } = routerRuleset(router);
  return [
    'set -eu',
    'iface_of() { set -- $(ip -o -4 addr show to "$1/32"); if [ -z "${2:-}" ]; then echo "nat-net-router: no interface has address $1" >&2; exit 70; fi; echo "${2%@*}"; }',
    `PUB=$(iface_of ${router.publicAddress})`,
    `LAN=$(iface_of ${router.lanEndpointAddress})`,
    // The engine publishes a container's ports through its gateway network: the router's
    // must be the public one (its peers' WebSocket forwards), never its LAN, which the
    // host has no route to.
    'set -- $(ip -o -4 route show default)',
    'if [ "${5:-}" != "$PUB" ]; then echo "nat-net-router: the engine made ${5:-no interface} the gateway network, not the public one ($PUB): published ports would lead nowhere" >&2; exit 71; fi',
    'ip route del default',
    ...sets.map((argv) => ['ipset', ...argv].map(shellQuote).join(' ')),
    `iptables-restore <<NATNET_RULES\n${restore}NATNET_RULES`,
    // Docker turns forwarding on when the namespace is made, a moment before these rules
    // exist; a flow that slipped through un-NATed then (only on a router restart) must
    // not stay un-NATed in conntrack.
    'conntrack -F >/dev/null 2>&1 || true',
    ...extraLines,
    // Last: the peers' gateway appears only now (replace: a restarted router finds it gone anyway).
    `ip addr replace ${router.privateAddress}/${prefixLength(router.privateSubnet)} dev "$LAN"`,
    `echo ${ROUTER_READY_MARKER} "pub=$PUB lan=$LAN"`,
    'exec sleep infinity',
  ].join('\n');
}

/** The kernel settings a router needs, set by the engine at create (namespaced sysctls). */
export function routerSysctls(router: RouterPlan): Record<string, string> {
  const sysctls: Record<string, string> = {
    'net.ipv4.ip_forward': '1',
    // A NAT answers nothing on its public side and redirects nobody.
    'net.ipv4.conf.all.send_redirects': '0',
  };
  if (router.udpTimeout !== undefined) {
    sysctls['net.netfilter.nf_conntrack_udp_timeout'] = String(router.udpTimeout);
    sysctls['net.netfilter.nf_conntrack_udp_timeout_stream'] = String(router.udpTimeout);
  }
  return sysctls;
}
