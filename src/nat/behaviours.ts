/**
 * One small unit per NAT behaviour (RFC 4787 terms). Each says how the router maps
 * outbound UDP and which unsolicited inbound packets it lets through. Rules are
 * iptables-restore lines that refer to the interfaces as $PUB and $LAN (the router
 * script resolves them at start, by address, since Docker does not fix the order).
 *
 * How the pieces fit (all proven by __tests__/integration/nat-*.test.ts):
 * - Mapping. A plain SNAT to the public address keeps the peer's source port when
 *   that is free, and conntrack reuses a live mapping of the same source address and
 *   port for every new destination (endpoint-independent). Symmetric asks for a random
 *   port per flow instead (--random-fully, which also skips that reuse).
 * - Filtering. Conntrack alone lets in only replies from the exact address and port a
 *   flow went to (port-restricted). The cone behaviours widen that with ipsets that the
 *   peer's outbound packets keep fresh: `nn_map_<k>` holds the ports peer k sends from
 *   (a mapping lives while its entry does), `nn_seen_<k>` the (remote address, port)
 *   pairs it sent to. New inbound UDP to a live mapping is DNATed to its owner: from
 *   anyone (full-cone) or from an address in nn_seen (address-restricted).
 * - Lifetime. Set entries time out after udp-timeout (default 120 s, Linux's own
 *   timeout for answered UDP flows); every outbound packet, of new and established
 *   flows alike, refreshes them (the router script runs the SET rules before the
 *   ESTABLISHED accept). With udp-timeout, conntrack's UDP timeouts get the same
 *   value (routerSysctls).
 * - Several peers behind one router (a group) share its public address. When two of
 *   them send from the same local port, Linux keeps the port for whichever flow comes
 *   first, gives the other peer another public port where the flow would clash, and
 *   reuses that port for its later destinations while it lives. The sets hold private
 *   ports, so such a remapped mapping lets in replies only (port-restricted), and
 *   unsolicited inbound to a port two peers both use goes to the group's first peer.
 */
import type { RouterPlan } from '../plan/types.js';

export interface NatRules {
  /** ipset definitions (argv after `ipset`), created before the rules load. */
  sets: string[][];
  nat: string[];
  /**
   * Filter FORWARD lines: SET bookkeeping (never ends the chain; the router script
   * puts it before every accept) and the behaviour's accept decisions.
   */
  filter: string[];
}

/** Per peer behind the router: the set of its mapped (source) ports, refreshed by its outbound traffic. */
export function mappingSet(peer: number): string {
  return `nn_map_${peer}`;
}
/** Per peer: remote address + local port pairs it has sent to (address-dependent filtering). */
export function contactedSet(peer: number): string {
  return `nn_seen_${peer}`;
}

/** Linux's own timeout for an answered UDP flow (nf_conntrack_udp_timeout_stream's default). */
export const DEFAULT_MAPPING_LIFETIME_S = 120;

/** A line of `filter` that only records (ipset SET target): it never accepts or drops. */
export function isBookkeeping(line: string): boolean {
  return / -j SET /.test(line);
}

function mappingLifetime(router: RouterPlan): string {
  return String(router.udpTimeout ?? DEFAULT_MAPPING_LIFETIME_S);
}

/** Outbound: endpoint-independent mapping, source port preserved where free (Linux SNAT's choice). */
function preservingSnat(router: RouterPlan): string {
  return `-A POSTROUTING -o $PUB -j SNAT --to-source ${router.publicAddress}`;
}

/** Records, for every peer, the ports it sends from, so inbound packets can find the owner of a mapping. */
function trackMappings(router: RouterPlan): Pick<NatRules, 'sets' | 'filter'> {
  const sets: string[][] = [];
  const filter: string[] = [];
  router.peerAddresses.forEach((address, k) => {
    sets.push(['create', mappingSet(k), 'bitmap:port', 'range', '0-65535', 'timeout', mappingLifetime(router)]);
    filter.push(`-A FORWARD -i $LAN -o $PUB -s ${address} -p udp -j SET --add-set ${mappingSet(k)} src --exist`);
  });
  return { sets, filter };
}

/** Inbound to a live mapping goes to its owner; `extra` narrows who may send (filtering). */
function deliverToMappings(router: RouterPlan, extra: (k: number) => string): string[] {
  return router.peerAddresses.map(
    (address, k) =>
      `-A PREROUTING -i $PUB -d ${router.publicAddress} -p udp -m set --match-set ${mappingSet(k)} dst${extra(k)} -j DNAT --to-destination ${address}`,
  );
}

const acceptDnatInbound = '-A FORWARD -i $PUB -o $LAN -m conntrack --ctstate DNAT -j ACCEPT';

function fullCone(router: RouterPlan): NatRules {
  const tracked = trackMappings(router);
  return {
    sets: tracked.sets,
    nat: [...deliverToMappings(router, () => ''), preservingSnat(router)],
    filter: [...tracked.filter, acceptDnatInbound],
  };
}

function addressRestricted(router: RouterPlan): NatRules {
  const tracked = trackMappings(router);
  const sets = [...tracked.sets];
  const filter = [...tracked.filter];
  router.peerAddresses.forEach((address, k) => {
    // Element: (remote address, our local port); inbound looks up (its source address, its destination port).
    sets.push(['create', contactedSet(k), 'hash:ip,port', 'timeout', mappingLifetime(router)]);
    filter.push(`-A FORWARD -i $LAN -o $PUB -s ${address} -p udp -j SET --add-set ${contactedSet(k)} dst,src --exist`);
  });
  return {
    sets,
    nat: [...deliverToMappings(router, (k) => ` -m set --match-set ${contactedSet(k)} src,dst`), preservingSnat(router)],
    filter: [...filter, acceptDnatInbound],
  };
}

/** Conntrack alone: only replies from the exact address and port the peer sent to get in. */
function portRestricted(router: RouterPlan): NatRules {
  const tracked = trackMappings(router); // used by hairpinning only
  return { sets: tracked.sets, nat: [preservingSnat(router)], filter: tracked.filter };
}

/** A fresh random external port for every new destination; replies only from that destination. */
function symmetric(router: RouterPlan): NatRules {
  return {
    sets: [],
    // A port range needs a protocol; other protocols still get a random mapping per flow.
    nat: [
      `-A POSTROUTING -o $PUB -p udp -j SNAT --to-source ${router.publicAddress}:1024-65535 --random-fully`,
      `-A POSTROUTING -o $PUB -p tcp -j SNAT --to-source ${router.publicAddress}:1024-65535 --random-fully`,
      `-A POSTROUTING -o $PUB -j SNAT --to-source ${router.publicAddress} --random-fully`,
    ],
    filter: [],
  };
}

/**
 * Hairpinning: a peer sending to the router's public address and another peer's
 * mapped port reaches that peer, seen as coming from the router's public address
 * and the sender's mapped port (RFC 4787 REQ-9), so its replies also go through the router.
 */
function hairpin(router: RouterPlan): Pick<NatRules, 'nat' | 'filter'> {
  const nat = router.peerAddresses.map(
    (address, k) =>
      `-A PREROUTING -i $LAN -d ${router.publicAddress} -p udp -m set --match-set ${mappingSet(k)} dst -j DNAT --to-destination ${address}`,
  );
  nat.push(`-A POSTROUTING -o $LAN -s ${router.privateSubnet} -m conntrack --ctstate DNAT -j SNAT --to-source ${router.publicAddress}`);
  return { nat, filter: ['-A FORWARD -i $LAN -o $LAN -m conntrack --ctstate DNAT -j ACCEPT'] };
}

const BEHAVIOURS: Record<RouterPlan['nat'], (router: RouterPlan) => NatRules> = {
  'full-cone': fullCone,
  'address-restricted': addressRestricted,
  'port-restricted': portRestricted,
  symmetric,
};

export function natRules(router: RouterPlan): NatRules {
  const rules = BEHAVIOURS[router.nat](router);
  if (router.hairpin && router.nat !== 'symmetric') {
    const extra = hairpin(router);
    // Hairpin DNAT must be seen before SNAT on the public side: PREROUTING lines go first.
    rules.nat = [...extra.nat.filter((l) => l.includes('PREROUTING')), ...rules.nat, ...extra.nat.filter((l) => !l.includes('PREROUTING'))];
    rules.filter = [...rules.filter, ...extra.filter];
  }
  return rules;
}
