/**
 * The router container's whole start-up as one `sh -c` script: find the interfaces
 * by address, drop the default route (nothing outside the topology is reachable),
 * load every set and rule atomically, print the ready marker, then idle. Everything
 * in it comes from the plan (addresses, numbers), never from user text.
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
    ...rules.nat,
    'COMMIT',
    '*filter',
    ...FILTER_POLICIES,
    // Bookkeeping first: packets of established flows must refresh their mappings too.
    ...rules.filter.filter(isBookkeeping),
    ...baseAccepts(),
    ...rules.filter.filter((line) => !isBookkeeping(line)),
    // Everything else from the LAN goes out (after the set bookkeeping above).
    '-A FORWARD -i $LAN -o $PUB -j ACCEPT',
    'COMMIT',
    '',
  ].join('\n');
  return { sets: rules.sets, restore };
}

export function routerScript(router: RouterPlan, extraLines: string[] = []): string {
  const { sets, restore } = routerRuleset(router);
  return [
    'set -eu',
    'iface_of() { set -- $(ip -o -4 addr show to "$1/32"); if [ -z "${2:-}" ]; then echo "nat-net-router: no interface has address $1" >&2; exit 70; fi; echo "${2%@*}"; }',
    `PUB=$(iface_of ${router.publicAddress})`,
    `LAN=$(iface_of ${router.privateAddress})`,
    'ip route del default 2>/dev/null || true',
    ...sets.map((argv) => ['ipset', ...argv].map(shellQuote).join(' ')),
    `iptables-restore <<NATNET_RULES\n${restore}NATNET_RULES`,
    // Docker turns forwarding on when the namespace is made, a moment before these rules
    // exist; a flow that slipped through un-NATed then (only on a router restart) must
    // not stay un-NATed in conntrack.
    'conntrack -F >/dev/null 2>&1 || true',
    ...extraLines,
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
