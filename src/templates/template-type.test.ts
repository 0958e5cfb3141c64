import { describe, expect, it } from 'vitest';
import { loadTemplate, templateTypeIssues } from './index.js';

/** A thing named by `thingName` and a certificate given by `certificate`. */
const template = (thingName: unknown, certificate: Record<string, unknown>) =>
  loadTemplate(
    JSON.stringify({
      Parameters: { CSR: { Type: 'String' } },
      Resources: {
        thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: thingName } },
        certificate: { Type: 'AWS::IoT::Certificate', Properties: certificate },
      },
    }),
  );
const byId = { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' } };

describe('templateTypeIssues', () => {
  it('lets a fleet template read the certificate id and nothing else of the certificate', () => {
    expect(
      templateTypeIssues(
        template({ 'Fn::Sub': 'T-${AWS::IoT::Certificate::Id}' }, byId),
        'FLEET_PROVISIONING',
      ),
    ).toEqual([]);
    const reads = template(
      { 'Fn::Sub': '${AWS::IoT::Certificate::Country}-${AWS::IoT::Certificate::CommonName}' },
      byId,
    );
    expect(templateTypeIssues(reads, 'FLEET_PROVISIONING')).toEqual(
      ['Country', 'CommonName'].map((field) => ({
        path: 'Resources.thing.Properties.ThingName',
        message: `reads AWS::IoT::Certificate::${field}, but only certificate IDs (AWS::IoT::Certificate::Id) can be used with a fleet provisioning template`,
      })),
    );
    // JITP fills every built-in from the certificate's subject.
    expect(templateTypeIssues(reads, 'JITP')).toEqual([]);
  });

  it('takes a JITP certificate only by CertificateId, not from a CSR or a PEM', () => {
    expect(templateTypeIssues(template('t', byId), 'JITP')).toEqual([]);
    expect(templateTypeIssues(template('t', { CertificateSigningRequest: { Ref: 'CSR' } }), 'JITP')).toEqual([
      {
        path: 'Resources.certificate.Properties.CertificateSigningRequest',
        message:
          'a JITP template registers the certificate the device connects with: give it as CertificateId ({"Ref": "AWS::IoT::Certificate::Id"}), not CertificateSigningRequest',
      },
    ]);
    expect(templateTypeIssues(template('t', { CertificatePem: 'PEM' }), 'JITP')).toMatchObject([
      {
        path: 'Resources.certificate.Properties.CertificatePem',
        message: expect.stringContaining('not CertificatePem'),
      },
    ]);
    // Bulk registration takes the body inline, and the station stores such bodies as fleet templates.
    expect(
      templateTypeIssues(template('t', { CertificateSigningRequest: { Ref: 'CSR' } }), 'FLEET_PROVISIONING'),
    ).toEqual([]);
  });
});
