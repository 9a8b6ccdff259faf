import ipaddr from 'ipaddr.js';

/*
 * IP allowlists. Parsing happens once, when a key is loaded into the cache; matching on the hot
 * path is a prefix comparison. IPv4-mapped IPv6 clients (::ffff:10.0.0.1) match IPv4 ranges.
 */

export type ParsedCidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** A single address without a prefix counts as /32 (IPv4) or /128 (IPv6). */
export function parseCidr(text: string): ParsedCidr | null {
  // ipaddr.js also reads legacy IPv4 forms (`10.1` = 10.0.0.1, `010.0.0.0` as octal): an
  // allowlist entry must be four decimal parts, or it would admit another network than typed.
  const address = text.split('/')[0] ?? '';
  if (!address.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(address)) return null;
  try {
    if (text.includes('/')) {
      const [addr, bits] = ipaddr.parseCIDR(text);
      return [addr, bits];
    }
    const addr = ipaddr.parse(text);
    return [addr, addr.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return null;
  }
}

/** Returns the entries that are not valid CIDR blocks or addresses. */
export function invalidCidrs(list: readonly string[]): string[] {
  return list.filter((entry) => parseCidr(entry) === null);
}

export function parseAllowlist(list: readonly string[]): ParsedCidr[] {
  return list.map(parseCidr).filter((c): c is ParsedCidr => c !== null);
}

export function ipAllowed(ip: string, allowlist: readonly ParsedCidr[]): boolean {
  if (allowlist.length === 0) return true;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(ip);
  } catch {
    return false;
  }
  for (const [range, bits] of allowlist) {
    if (addr.kind() === range.kind() && addr.match(range, bits)) return true;
    if (addr.kind() === 'ipv4' && range.kind() === 'ipv6' && (range as ipaddr.IPv6).isIPv4MappedAddress()) {
      const v4 = (range as ipaddr.IPv6).toIPv4Address();
      if (bits >= 96 && addr.match(v4, bits - 96)) return true;
    }
  }
  return false;
}
