import { describe, expect, it } from 'vitest';
import { isStationError } from '../api/errors.js';
import { checkedAltNames, ipAddressBytes } from './extensions.js';

function refusal(action: () => unknown): { code: string; message: string } | undefined {
  try {
    action();
  } catch (error) {
    if (isStationError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  return undefined;
}

describe('subject alternative names', () => {
  it('writes an internationalised DNS name in its ASCII form, and keeps a plain one, underscores too', () => {
    expect(
      checkedAltNames({ dns: ['bücher.devices.acme.com', 'thing_1.devices.acme.com', '*.acme.com'] }),
    ).toEqual({
      dns: ['xn--bcher-kva.devices.acme.com', 'thing_1.devices.acme.com', '*.acme.com'],
    });
  });

  it('refuses what an IA5String SAN cannot carry or a verifier would not read as a name', () => {
    for (const dns of ['bad name.acme.com', 'a..b', '-edge.acme.com', 'x.*.acme.com', '']) {
      expect(
        refusal(() => checkedAltNames({ dns: [dns] })),
        dns,
      ).toMatchObject({ code: 'pki.san-invalid' });
    }
    expect(refusal(() => checkedAltNames({ uri: ['https://bücher.example/'] }))?.message).toContain(
      'https://bücher.example/',
    );
    expect(refusal(() => checkedAltNames({ ip: ['300.1.1.1'] }))).toMatchObject({ code: 'pki.san-invalid' });
    expect(checkedAltNames({ uri: ['urn:thing:1'], ip: ['192.0.2.1', '2001:db8::1'] })).toEqual({
      uri: ['urn:thing:1'],
      ip: ['192.0.2.1', '2001:db8::1'],
    });
  });

  it('encodes an IPv6 address written with an IPv4 tail as its 16 bytes', () => {
    expect(Buffer.from(ipAddressBytes('::ffff:192.0.2.1')).toString('hex')).toBe(
      '00000000000000000000ffffc0000201',
    );
    expect(Buffer.from(ipAddressBytes('2001:db8::1')).toString('hex')).toBe(
      '20010db8000000000000000000000001',
    );
    expect(Buffer.from(ipAddressBytes('192.0.2.1')).toString('hex')).toBe('c0000201');
  });
});
