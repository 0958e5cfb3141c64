import { describe, expect, it } from 'vitest';
import type { AuthorizationContext } from '../api/policies.js';
import { resolveContextKey } from './policy-variables.js';

const attachedThing: AuthorizationContext = {
  clientId: 'sensor-7',
  principalAttachedThings: ['sensor-7'],
  thingTypeName: 'Thermometer',
  thingAttributes: { floor: '3', color: 'blue' },
};

describe('policy variables', () => {
  it('reads the basic variables from the context', () => {
    const context: AuthorizationContext = {
      clientId: 'c1',
      sourceIp: '192.0.2.7',
      lastWillTopic: 'will',
      connectAttributes: ['LastWill'],
    };
    expect(resolveContextKey('iot:ClientId', context)).toBe('c1');
    expect(resolveContextKey('aws:SourceIp', context)).toBe('192.0.2.7');
    expect(resolveContextKey('iot:LastWillTopic', context)).toBe('will');
    expect(resolveContextKey('iot:ConnectAttributes', context)).toEqual(['LastWill']);
  });

  it('resolves thing variables when the client ID names an attached thing', () => {
    expect(resolveContextKey('iot:Connection.Thing.ThingName', attachedThing)).toBe('sensor-7');
    expect(resolveContextKey('iot:Connection.Thing.ThingTypeName', attachedThing)).toBe('Thermometer');
    expect(resolveContextKey('iot:Connection.Thing.Attributes[floor]', attachedThing)).toBe('3');
    expect(resolveContextKey('iot:Connection.Thing.IsAttached', attachedThing)).toBe('true');
  });

  it('leaves thing variables unresolved when the certificate is attached to another thing', () => {
    const other = { ...attachedThing, principalAttachedThings: ['sensor-8'] };
    expect(resolveContextKey('iot:Connection.Thing.ThingName', other)).toBeUndefined();
    expect(resolveContextKey('iot:Connection.Thing.Attributes[floor]', other)).toBeUndefined();
    expect(resolveContextKey('iot:Connection.Thing.IsAttached', other)).toBe('false');
  });

  it('does not find attributes the thing lacks, prototype names included', () => {
    expect(resolveContextKey('iot:Connection.Thing.Attributes[size]', attachedThing)).toBeUndefined();
    expect(resolveContextKey('iot:Connection.Thing.Attributes[constructor]', attachedThing)).toBeUndefined();
  });

  describe('certificate variables', () => {
    const context: AuthorizationContext = {
      certificate: {
        subject: { CommonName: 'sensor-7', OrganizationalUnit: ['a', 'b', 'c', 'd', 'e', 'f'] },
        issuer: { Organization: 'Factory CA' },
        subjectAlternativeName: { DNSName: ['one.example', 'two.example'] },
        issuerAlternativeName: { UniformResourceIdentifier: 'https://ca.example' },
        serialNumber: '7f3a',
      },
    };

    it('gives the first value by plain name, the one after the first N by .N (.1: the second) and all by .List', () => {
      expect(resolveContextKey('iot:Certificate.Subject.CommonName', context)).toBe('sensor-7');
      expect(resolveContextKey('iot:Certificate.Subject.OrganizationalUnit.1', context)).toBe('b');
      expect(resolveContextKey('iot:Certificate.Subject.AlternativeName.DNSName.1', context)).toBe(
        'two.example',
      );
      expect(resolveContextKey('iot:Certificate.Subject.AlternativeName.DNSName.List', context)).toEqual([
        'one.example',
        'two.example',
      ]);
      expect(resolveContextKey('iot:Certificate.Issuer.Organization', context)).toBe('Factory CA');
      expect(
        resolveContextKey('iot:Certificate.Issuer.AlternativeName.UniformResourceIdentifier', context),
      ).toBe('https://ca.example');
      expect(resolveContextKey('iot:Certificate.SerialNumber', context)).toBe('7f3a');
    });

    it('cuts lists to five items and has no value past them', () => {
      expect(resolveContextKey('iot:Certificate.Subject.OrganizationalUnit.List', context)).toEqual([
        'a',
        'b',
        'c',
        'd',
        'e',
      ]);
      expect(resolveContextKey('iot:Certificate.Subject.OrganizationalUnit.4', context)).toBe('e');
      expect(resolveContextKey('iot:Certificate.Subject.OrganizationalUnit.5', context)).toBeUndefined();
    });

    it('has no value for an index beyond the list or a field the certificate lacks', () => {
      expect(resolveContextKey('iot:Certificate.Subject.AlternativeName.DNSName.2', context)).toBeUndefined();
      // Not AWS's spelling: no value, as AWS would find none.
      expect(resolveContextKey('iot:Certificate.SubjectAlternativeName.DNSName', context)).toBeUndefined();
      expect(resolveContextKey('iot:Certificate.Subject.Country', context)).toBeUndefined();
    });

    it('lists the names of the certificate variables that have a value as iot:Certificate.AvailableKeys', () => {
      expect(resolveContextKey('iot:Certificate.AvailableKeys', context)).toEqual([
        'Subject.CommonName',
        'Subject.OrganizationalUnit',
        'Issuer.Organization',
        'Subject.AlternativeName.DNSName',
        'Issuer.AlternativeName.UniformResourceIdentifier',
        'SerialNumber',
      ]);
      const unsafe: AuthorizationContext = {
        certificate: { subject: { CommonName: 'dev*', Country: 'DE' } },
      };
      expect(resolveContextKey('iot:Certificate.AvailableKeys', unsafe)).toEqual(['Subject.Country']);
      expect(resolveContextKey('iot:Certificate.AvailableKeys', {})).toBeUndefined();
    });

    it('does not substitute values holding * $ + ? # or longer than 1024 characters', () => {
      for (const unsafe of ['dev*', 'a$b', 'x+y', 'q?', 'h#', 'x'.repeat(1025)]) {
        const withUnsafe: AuthorizationContext = { certificate: { subject: { CommonName: unsafe } } };
        expect(resolveContextKey('iot:Certificate.Subject.CommonName', withUnsafe)).toBeUndefined();
      }
    });
  });

  it('knows no value for variables it does not define', () => {
    expect(resolveContextKey('iot:Thing.ThingName', attachedThing)).toBeUndefined();
    expect(resolveContextKey('aws:username', attachedThing)).toBeUndefined();
  });
});

describe('key names', () => {
  const context: AuthorizationContext = {
    ...attachedThing,
    sourceIp: '192.0.2.7',
    certificate: { subject: { CommonName: 'sensor-7', Country: ['DE', 'FR'] }, serialNumber: '7f3a' },
  };

  it('are matched whatever their case, as IAM matches context key names', () => {
    expect(resolveContextKey('AWS:SourceIP', context)).toBe('192.0.2.7');
    expect(resolveContextKey('iot:clientid', context)).toBe('sensor-7');
    expect(resolveContextKey('IOT:CONNECTION.THING.THINGNAME', context)).toBe('sensor-7');
    expect(resolveContextKey('iot:connection.thing.isattached', context)).toBe('true');
    expect(resolveContextKey('iot:connection.thing.attributes[floor]', context)).toBe('3');
    expect(resolveContextKey('iot:certificate.subject.commonname', context)).toBe('sensor-7');
    expect(resolveContextKey('iot:Certificate.subject.country.list', context)).toEqual(['DE', 'FR']);
    expect(resolveContextKey('iot:certificate.serialNumber', context)).toBe('7f3a');
  });

  it('but a thing attribute name is the thing own and matched exactly', () => {
    expect(resolveContextKey('iot:Connection.Thing.Attributes[FLOOR]', context)).toBeUndefined();
  });
});
