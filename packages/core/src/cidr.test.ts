import { describe, expect, it } from 'vitest';
import { invalidCidrs, ipAllowed, parseAllowlist, parseCidr } from './cidr.ts';

const allowed = (ip: string, list: string[]) => ipAllowed(ip, parseAllowlist(list));

describe('IPv4 allowlists', () => {
  it('a /24 admits addresses inside it and refuses its neighbours', () => {
    const list = ['192.168.10.0/24'];
    expect(allowed('192.168.10.0', list)).toBe(true);
    expect(allowed('192.168.10.77', list)).toBe(true);
    expect(allowed('192.168.10.255', list)).toBe(true);
    expect(allowed('192.168.11.0', list)).toBe(false);
    expect(allowed('192.168.9.255', list)).toBe(false);
  });

  it('a /8 admits the whole first octet', () => {
    expect(allowed('10.200.3.4', ['10.0.0.0/8'])).toBe(true);
    expect(allowed('11.0.0.1', ['10.0.0.0/8'])).toBe(false);
  });

  it('an odd prefix length (/21) is honoured bit by bit', () => {
    const list = ['172.16.8.0/21']; // 172.16.8.0 – 172.16.15.255
    expect(allowed('172.16.8.1', list)).toBe(true);
    expect(allowed('172.16.15.254', list)).toBe(true);
    expect(allowed('172.16.16.0', list)).toBe(false);
    expect(allowed('172.16.7.255', list)).toBe(false);
  });

  it('a /32 admits exactly one address', () => {
    expect(allowed('203.0.113.5', ['203.0.113.5/32'])).toBe(true);
    expect(allowed('203.0.113.6', ['203.0.113.5/32'])).toBe(false);
  });

  it('a bare address counts as /32', () => {
    expect(parseCidr('203.0.113.5')?.[1]).toBe(32);
    expect(allowed('203.0.113.5', ['203.0.113.5'])).toBe(true);
    expect(allowed('203.0.113.4', ['203.0.113.5'])).toBe(false);
  });

  it('0.0.0.0/0 admits every IPv4 client', () => {
    expect(allowed('8.8.8.8', ['0.0.0.0/0'])).toBe(true);
  });

  it('any matching entry of several admits the client', () => {
    const list = ['10.0.0.0/8', '203.0.113.5', '2001:db8::/32'];
    expect(allowed('203.0.113.5', list)).toBe(true);
    expect(allowed('10.9.9.9', list)).toBe(true);
    expect(allowed('2001:db8::1', list)).toBe(true);
    expect(allowed('198.51.100.1', list)).toBe(false);
  });
});

describe('IPv6 allowlists', () => {
  it('a /32 range admits addresses inside it and refuses others', () => {
    const list = ['2001:db8::/32'];
    expect(allowed('2001:db8::1', list)).toBe(true);
    expect(allowed('2001:db8:ffff:1::42', list)).toBe(true);
    expect(allowed('2001:db9::1', list)).toBe(false);
  });

  it('a /64 admits one subnet', () => {
    const list = ['2001:db8:1:2::/64'];
    expect(allowed('2001:db8:1:2:aaaa::1', list)).toBe(true);
    expect(allowed('2001:db8:1:3::1', list)).toBe(false);
  });

  it('a bare IPv6 address counts as /128', () => {
    expect(parseCidr('2001:db8::5')?.[1]).toBe(128);
    expect(allowed('2001:db8::5', ['2001:db8::5'])).toBe(true);
    expect(allowed('2001:db8::6', ['2001:db8::5'])).toBe(false);
  });

  it('an IPv6 client does not match an IPv4 range, nor an IPv4 client an IPv6 range', () => {
    expect(allowed('2001:db8::1', ['0.0.0.0/0'])).toBe(false);
    expect(allowed('10.0.0.1', ['2001:db8::/32'])).toBe(false);
  });
});

describe('IPv4-mapped IPv6', () => {
  it('a client seen as ::ffff:10.1.2.3 matches the IPv4 range 10.0.0.0/8', () => {
    expect(allowed('::ffff:10.1.2.3', ['10.0.0.0/8'])).toBe(true);
    expect(allowed('::ffff:10.1.2.3', ['10.1.2.3'])).toBe(true);
  });

  it('a mapped client outside the IPv4 range is refused', () => {
    expect(allowed('::ffff:11.1.2.3', ['10.0.0.0/8'])).toBe(false);
  });

  it('a mapped range (::ffff:10.0.0.0/104) admits the plain IPv4 client', () => {
    expect(allowed('10.4.5.6', ['::ffff:10.0.0.0/104'])).toBe(true);
    expect(allowed('11.4.5.6', ['::ffff:10.0.0.0/104'])).toBe(false);
  });
});

describe('edge cases', () => {
  it('an empty allowlist allows every client', () => {
    expect(allowed('8.8.8.8', [])).toBe(true);
    expect(allowed('2001:db8::1', [])).toBe(true);
  });

  it.each(['', 'not-an-ip', '10.0.0.256', '10.0.0.1/8', '::ffff:zz', 'localhost'])(
    'a garbage client address %j is refused by a non-empty allowlist',
    (ip) => {
      expect(allowed(ip, ['0.0.0.0/0', '::/0'])).toBe(false);
    },
  );

  it.each(['10.0.0.0/33', 'abc', '1.2.3', '2001:db8::/129', '10.0.0.0/', '', '300.1.1.1', '10.0.0.0/8/8'])(
    'invalidCidrs reports %j',
    (entry) => {
      expect(invalidCidrs(['10.0.0.0/8', entry, '::1'])).toEqual([entry]);
    },
  );

  it('invalidCidrs reports nothing for valid ranges and addresses, and lists every bad one in order', () => {
    expect(invalidCidrs(['10.0.0.0/8', '192.168.1.1', '2001:db8::/32', '::1', '::ffff:10.0.0.0/104'])).toEqual([]);
    expect(invalidCidrs(['10.0.0.0/33', '10.0.0.0/8', 'abc', '::1', '300.1.1.1'])).toEqual(['10.0.0.0/33', 'abc', '300.1.1.1']);
  });

  it('legacy IPv4 shorthands are reported, not silently read as another network (010.0.0.0/8 is not 8.0.0.0/8)', () => {
    const shorthands = ['10.1', '167772161', '0xa000001', '010.0.0.0/8', '1.2.3/24'];
    expect(invalidCidrs(shorthands)).toEqual(shorthands);
  });

  it('parseAllowlist keeps the valid entries only', () => {
    const parsed = parseAllowlist(['10.0.0.0/8', 'abc', '2001:db8::/32']);
    expect(parsed.map(([addr, bits]) => `${addr.toString()}/${bits}`)).toEqual(['10.0.0.0/8', '2001:db8::/32']);
  });
});
