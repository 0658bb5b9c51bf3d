/**
 * IPv4 CIDR arithmetic and a deterministic first-fit allocator: subnets are chosen
 * from a pool so that they overlap nothing already taken (the engine's networks, the
 * host's routes). Addresses are plain numbers, so nothing wraps at an octet boundary.
 */

export interface Cidr {
  base: number; // network address as an unsigned 32-bit number
  prefix: number;
}

export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`'${text}' is not an IPv4 address`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export function parseCidr(text: string): Cidr {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!match || Number(match[2]) > 32) throw new Error(`'${text}' is not an IPv4 CIDR such as 10.200.0.0/16`);
  const prefix = Number(match[2]);
  const address = parseIpv4(match[1]);
  const size = blockSize(prefix);
  if (address % size !== 0) throw new Error(`'${text}' has host bits set; did you mean ${formatIpv4(address - (address % size))}/${prefix}?`);
  return { base: address, prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.base)}/${cidr.prefix}`;
}

export function blockSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

export function lastAddress(cidr: Cidr): number {
  return cidr.base + blockSize(cidr.prefix) - 1;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

export function contains(outer: Cidr, address: number): boolean {
  return address >= outer.base && address <= lastAddress(outer);
}

/** Address number `offset` inside the block (0 = network address). */
export function addressAt(cidr: Cidr, offset: number): string {
  if (offset < 0 || offset >= blockSize(cidr.prefix)) throw new Error(`offset ${offset} is outside ${formatCidr(cidr)}`);
  return formatIpv4(cidr.base + offset);
}

/** The smallest prefix whose block holds `count` blocks of size /`unitPrefix`. */
export function prefixFor(count: number, unitPrefix: number): number {
  let prefix = unitPrefix;
  while (2 ** (unitPrefix - prefix) < count) prefix -= 1;
  return prefix;
}

export class SubnetPoolExhausted extends Error {}

/**
 * Allocates blocks of the requested prefixes inside `pool`, aligned, overlapping
 * neither `taken` nor each other. Larger blocks are placed first so alignment wastes
 * little; the result is in request order. `startHint` rotates where the search
 * begins (aligned), so concurrent planners on one engine tend to pick different
 * blocks; a clash that still happens is reported by the engine and re-planned.
 */
export function allocate(pool: Cidr, taken: Cidr[], prefixes: number[], startHint = 0): Cidr[] {
  const order = prefixes.map((prefix, i) => ({ prefix, i })).sort((a, b) => a.prefix - b.prefix || a.i - b.i);
  const used = [...taken];
  const result: Cidr[] = new Array(prefixes.length);
  const poolSize = blockSize(pool.prefix);
  for (const { prefix, i } of order) {
    if (prefix < pool.prefix) {
      throw new SubnetPoolExhausted(`a /${prefix} does not fit in the pool ${formatCidr(pool)}`);
    }
    const size = blockSize(prefix);
    const slots = poolSize / size;
    const first = Math.floor(startHint % slots);
    let found: Cidr | undefined;
    for (let n = 0; n < slots && !found; n++) {
      const candidate = { base: pool.base + ((first + n) % slots) * size, prefix };
      if (!used.some((u) => overlaps(u, candidate))) found = candidate;
    }
    if (!found) {
      throw new SubnetPoolExhausted(
        `no free /${prefix} left in the pool ${formatCidr(pool)} (taken: ${used.map(formatCidr).join(', ') || 'none'})`,
      );
    }
    used.push(found);
    result[i] = found;
  }
  return result;
}
