import { expect } from 'chai';
import { addressIdentity, clientAddress, clientNamed, clientPeer } from '../../src/shared/client-address.js';
import { carriedIpv4, ipv6Prefix } from '../../src/shared/ipv6-prefix.js';

describe('ipv6Prefix', () => {
  it('keeps the first bits of an address as canonical prefix text', () => {
    expect(ipv6Prefix('2001:db8:1:2:a:b:c:d', 64)).to.equal('2001:db8:1:2::/64');
    expect(ipv6Prefix('2001:0db8:0001:0002:000a:000b:000c:000d', 64)).to.equal('2001:db8:1:2::/64');
    expect(ipv6Prefix('2001:db8:1:2:a:b:c:d', 48)).to.equal('2001:db8:1::/48');
    expect(ipv6Prefix('2001:db8:1:2:a:b:c:d', 32)).to.equal('2001:db8::/32');
  });

  it('reads compressed forms wherever their run of zeros is', () => {
    expect(ipv6Prefix('::', 64)).to.equal('::/64');
    expect(ipv6Prefix('::1', 64)).to.equal('::/64');
    expect(ipv6Prefix('::1', 128)).to.equal('::1/128');
    expect(ipv6Prefix('2001:db8::', 64)).to.equal('2001:db8::/64');
    expect(ipv6Prefix('2001:db8::7', 64)).to.equal('2001:db8::/64');
    expect(ipv6Prefix('1:2:3:4:5:6:7::', 128)).to.equal('1:2:3:4:5:6:7:0/128');
    expect(ipv6Prefix('::2:3:4:5:6:7:8', 128)).to.equal('0:2:3:4:5:6:7:8/128');
    expect(ipv6Prefix('2001:db8:0:0:1::', 128)).to.equal('2001:db8:0:0:1::/128');
  });

  it('writes the longest run of zero words as ::, the first of equal runs, never a single zero word', () => {
    expect(ipv6Prefix('2001:0:0:1:0:0:0:1', 128)).to.equal('2001:0:0:1::1/128');
    expect(ipv6Prefix('2001:db8:0:0:1:0:0:1', 128)).to.equal('2001:db8::1:0:0:1/128');
    expect(ipv6Prefix('2001:db8:0:1:1:1:1:1', 128)).to.equal('2001:db8:0:1:1:1:1:1/128');
  });

  it('keeps prefix lengths that are not a multiple of 16 to the bit', () => {
    expect(ipv6Prefix('2001:db8:1:2:ffff:ffff:ffff:ffff', 65)).to.equal('2001:db8:1:2:8000::/65');
    expect(ipv6Prefix('2001:db8:1:2ff:a::', 56)).to.equal('2001:db8:1:200::/56');
    expect(ipv6Prefix('2001:db8:1:ffff::', 60)).to.equal('2001:db8:1:fff0::/60');
    expect(ipv6Prefix('2001:db8:ffff::', 33)).to.equal('2001:db8:8000::/33');
    expect(ipv6Prefix('ffff::', 1)).to.equal('8000::/1');
    expect(ipv6Prefix('7fff::', 1)).to.equal('::/1');
    expect(ipv6Prefix('2001:db8::1', 127)).to.equal('2001:db8::/127');
    expect(ipv6Prefix('2001:db8::3', 127)).to.equal('2001:db8::2/127');
  });

  it('keeps a zone, after the address as RFC 4007 writes it: link-local callers of different links are not one', () => {
    expect(ipv6Prefix('fe80::1%eth0', 64)).to.equal('fe80::%eth0/64');
    expect(ipv6Prefix('fe80::1%eth1', 64)).to.equal('fe80::%eth1/64');
    expect(ipv6Prefix('fe80::1:2:3:4%2', 128)).to.equal('fe80::1:2:3:4%2/128');
  });

  it('reads a dotted IPv4 tail, IPv4-compatible or mapped, as its two words', () => {
    expect(ipv6Prefix('::1.2.3.4', 128)).to.equal('::102:304/128');
    expect(ipv6Prefix('::1.2.3.4', 64)).to.equal('::/64');
    expect(ipv6Prefix('64:ff9b::192.0.2.33', 96)).to.equal('64:ff9b::/96');
    expect(ipv6Prefix('1:2:3:4:5:6:10.0.0.7', 112)).to.equal('1:2:3:4:5:6:a00:0/112');
  });

  it('writes upper-case hex in lower case', () => {
    expect(ipv6Prefix('2001:DB8:1:2:A:B:C:D', 64)).to.equal('2001:db8:1:2::/64');
    expect(ipv6Prefix('FE80::ABCD%ETH0', 128)).to.equal('fe80::abcd%ETH0/128');
  });

  it('is undefined for what is no IPv6 address', () => {
    for (const address of ['unknown', '', '10.0.0.7', '::ffff:01.2.3.4', '1:2:3:4:5:6:7:8:9', 'fe80::1%', 'localhost']) {
      expect(ipv6Prefix(address, 64), address).to.equal(undefined);
    }
  });
});

describe('carriedIpv4', () => {
  it('is the IPv4 address an IPv4-mapped IPv6 address carries, however it is spelled', () => {
    expect(carriedIpv4('::ffff:1.2.3.4')).to.equal('1.2.3.4');
    expect(carriedIpv4('::FFFF:10.0.0.7')).to.equal('10.0.0.7');
    expect(carriedIpv4('::ffff:a00:7')).to.equal('10.0.0.7');
    expect(carriedIpv4('0:0:0:0:0:ffff:c0a8:0101')).to.equal('192.168.1.1');
  });

  it("is the IPv4 address of a NAT64 well-known-prefix address (64:ff9b::/96): an IPv4 caller's, translated", () => {
    expect(carriedIpv4('64:ff9b::192.0.2.33')).to.equal('192.0.2.33');
    expect(carriedIpv4('64:FF9B::C000:221')).to.equal('192.0.2.33');
  });

  it('is undefined for any other address: IPv4-compatible, another /96 of 64:ff9b::/32, IPv4, unknown', () => {
    for (const address of ['::1.2.3.4', '::1', '1::ffff:1.2.3.4', '::ffff:0:1.2.3.4', '64:ff9b:1::1.2.3.4', '10.0.0.7', 'unknown']) {
      expect(carriedIpv4(address), address).to.equal(undefined);
    }
  });
});

describe('clientAddress', () => {
  it('keys IPv6 callers by their whole address by default, as the socket names it', () => {
    expect(clientAddress('2001:db8:1:2:a:b:c:d')).to.equal('2001:db8:1:2:a:b:c:d');
    expect(clientAddress('fe80::1%eth0')).to.equal('fe80::1%eth0');
    expect(clientAddress('::1', 128)).to.equal('::1');
  });

  it('keys IPv6 callers by their prefix when asked: every address of a /64 is one caller', () => {
    expect(clientAddress('2001:db8:1:2:a:b:c:d', 64)).to.equal('2001:db8:1:2::/64');
    expect(clientAddress('2001:db8:1:2:ffff::1', 64)).to.equal('2001:db8:1:2::/64');
    expect(clientAddress('2001:db8:1:3::1', 64)).to.equal('2001:db8:1:3::/64');
    expect(clientAddress('::1', 64)).to.equal('::/64');
    expect(clientAddress('2001:db8:1:2::1', 1)).to.equal('::/1');
  });

  it('keys IPv4, IPv4-mapped and NAT64 callers by their IPv4 address, whatever the prefix: a NAT64 prefix holds every IPv4 caller', () => {
    for (const bits of [1, 64, 128]) {
      expect(clientAddress('64:ff9b::198.51.100.7', bits)).to.equal('198.51.100.7');
      expect(clientAddress('10.0.0.7', bits)).to.equal('10.0.0.7');
      expect(clientAddress('::ffff:10.0.0.7', bits)).to.equal('10.0.0.7');
      expect(clientAddress('::FFFF:127.0.0.2', bits)).to.equal('127.0.0.2');
    }
  });

  it('keys an unknown peer as unknown', () => {
    expect(clientAddress(undefined, 64)).to.equal('unknown');
    expect(clientAddress('unknown', 64)).to.equal('unknown');
    expect(clientAddress(undefined)).to.equal('unknown');
  });

  it('names a caller known by its address alone as its quota and refusal log count it', () => {
    expect(addressIdentity('2001:db8:1:2::7', 64)).to.equal('addr:2001:db8:1:2::/64');
    expect(addressIdentity('::ffff:10.0.0.7', 64)).to.equal('addr:10.0.0.7');
    expect(addressIdentity('2001:db8:1:2::7', 128)).to.equal('addr:2001:db8:1:2::7');
  });

  it('tells a refused client whether it was counted by its address or its network', () => {
    expect(clientNamed('2001:db8:1:2::/64')).to.equal('your network (2001:db8:1:2::/64)');
    expect(clientNamed('2001:db8:1:2::7')).to.equal('your address');
    expect(clientNamed('10.0.0.7')).to.equal('your address');
  });

  it('names a peer in log lines by its whole address, with its port', () => {
    expect(clientPeer('::ffff:10.0.0.7', 5000)).to.equal('10.0.0.7:5000');
    expect(clientPeer('2001:db8::1', 5000)).to.equal('2001:db8::1:5000');
    expect(clientPeer(undefined, undefined)).to.equal('unknown:0');
  });
});
