/**
 * One small unit per NAT behaviour (RFC 4787 terms). Each says how the router maps
 * outbound UDP and which unsolicited inbound packets it lets through. Rules are
 * iptables-restore lines that refer to the interfaces as $PUB and $LAN (the router
 * script resolves them at start, by address, since Docker does not fix the order).
 */
import type { RouterPlan } from '../plan/types.js';

export interface NatRules {
  /** ipset definitions (argv after `ipset`), created before the rules load. */
  sets: string[][];
  nat: string[];
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

function setTimeout(router: RouterPlan): string {
  return String(router.udpTimeout ?? 120);
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
    sets.push(['create', mappingSet(k), 'bitmap:port', 'range', '0-65535', 'timeout', setTimeout(router)]);
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
    sets.push(['create', contactedSet(k), 'hash:ip,port', 'timeout', setTimeout(router)]);
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
