import { describe, expect, it } from 'vitest';
import { isStationError } from '../api/errors.js';
import type { PolicyDocument } from '../api/policies.js';
import { evaluateAuthorization } from './authorization.js';

const arn = (resource: string): string => `arn:aws:iot:eu-west-1:111122223333:${resource}`;
const document = (...Statement: PolicyDocument['Statement'][]): PolicyDocument =>
  ({ Version: '2012-10-17', Statement: Statement.flat() }) as PolicyDocument;

const publishOwnTopics = document({
  Effect: 'Allow',
  Action: 'iot:Publish',
  Resource: arn('topic/dt/${iot:ClientId}/*'),
});
const denyDiagnostics = document({ Effect: 'Deny', Action: 'iot:*', Resource: arn('topic/dt/*/diag') });

describe('authorization', () => {
  it('allows what an Allow statement grants and names the policy', () => {
    const result = evaluateAuthorization(
      { action: 'iot:Publish', resource: arn('topic/dt/c1/temp') },
      { clientId: 'c1' },
      [{ name: 'own', document: publishOwnTopics }],
    );
    expect(result).toEqual({
      decision: 'ALLOWED',
      allowedBy: ['own'],
      explicitDenyBy: [],
      implicitDenyBy: [],
      missingContextValues: [],
    });
  });

  it('lets an explicit deny in any policy override allows in others', () => {
    const result = evaluateAuthorization(
      { action: 'iot:Publish', resource: arn('topic/dt/c1/diag') },
      { clientId: 'c1' },
      [
        { name: 'own', document: publishOwnTopics },
        { name: 'no-diag', document: denyDiagnostics },
      ],
    );
    expect(result.decision).toBe('EXPLICIT_DENY');
    expect(result.explicitDenyBy).toEqual(['no-diag']);
    expect(result.allowedBy).toEqual(['own']);
  });

  it('denies implicitly when nothing allows, listing every policy consulted', () => {
    const result = evaluateAuthorization(
      { action: 'iot:Subscribe', resource: arn('topicfilter/dt/c1/#') },
      {},
      [
        { name: 'own', document: publishOwnTopics },
        { name: 'no-diag', document: denyDiagnostics },
      ],
    );
    expect(result.decision).toBe('IMPLICIT_DENY');
    expect(result.implicitDenyBy).toEqual(['own', 'no-diag']);
  });

  it('denies implicitly with no policies at all', () => {
    expect(
      evaluateAuthorization({ action: 'iot:Connect', resource: arn('client/c1') }, {}, []).decision,
    ).toBe('IMPLICIT_DENY');
  });

  it('compares action names without regard to case, as IAM does', () => {
    const result = evaluateAuthorization(
      { action: 'IOT:publish', resource: arn('topic/dt/c1/x') },
      { clientId: 'c1' },
      [{ name: 'own', document: publishOwnTopics }],
    );
    expect(result.decision).toBe('ALLOWED');
  });

  it('never matches through a variable it cannot resolve, and reports the variable', () => {
    const result = evaluateAuthorization({ action: 'iot:Publish', resource: arn('topic/dt//x') }, {}, [
      { name: 'own', document: publishOwnTopics },
    ]);
    expect(result.decision).toBe('IMPLICIT_DENY');
    expect(result.missingContextValues).toEqual(['iot:ClientId']);
  });

  it('grants everything but the listed actions with NotAction', () => {
    const policy = document({ Effect: 'Allow', NotAction: ['iot:Publish', 'iot:Retain*'], Resource: '*' });
    const decide = (action: string): string =>
      evaluateAuthorization({ action, resource: arn('topic/x') }, {}, [{ name: 'p', document: policy }])
        .decision;
    expect(decide('iot:Receive')).toBe('ALLOWED');
    expect(decide('iot:Publish')).toBe('IMPLICIT_DENY');
    expect(decide('iot:RetainPublish')).toBe('IMPLICIT_DENY');
  });

  it('does not apply a NotResource statement whose variable cannot be resolved', () => {
    const policy = document({
      Effect: 'Allow',
      Action: 'iot:Receive',
      NotResource: arn('topic/private/${iot:Connection.Thing.ThingName}/*'),
    });
    const request = { action: 'iot:Receive', resource: arn('topic/public/x') };
    expect(
      evaluateAuthorization(request, { clientId: 'c1' }, [{ name: 'p', document: policy }]).decision,
    ).toBe('IMPLICIT_DENY');
    const attached = { clientId: 'c1', principalAttachedThings: ['c1'] };
    expect(evaluateAuthorization(request, attached, [{ name: 'p', document: policy }]).decision).toBe(
      'ALLOWED',
    );
  });

  it('applies a statement only when all its conditions hold', () => {
    const policy = document({
      Effect: 'Allow',
      Action: 'iot:Connect',
      Resource: arn('client/${iot:Connection.Thing.ThingName}'),
      Condition: {
        StringEquals: { 'iot:Connection.Thing.ThingTypeName': 'Thermometer' },
        IpAddress: { 'aws:SourceIp': '10.0.0.0/8' },
      },
    });
    const context = { clientId: 't1', principalAttachedThings: ['t1'], thingTypeName: 'Thermometer' };
    const decide = (sourceIp: string): string =>
      evaluateAuthorization({ action: 'iot:Connect', resource: arn('client/t1') }, { ...context, sourceIp }, [
        { name: 'p', document: policy },
      ]).decision;
    expect(decide('10.1.2.3')).toBe('ALLOWED');
    expect(decide('192.0.2.1')).toBe('IMPLICIT_DENY');
  });

  it('matches condition keys whatever their case, as IAM does (AWS:SourceIP is aws:SourceIp)', () => {
    const policy = document({
      Effect: 'Allow',
      Action: 'iot:Connect',
      Resource: arn('client/*'),
      Condition: { IpAddress: { 'AWS:SourceIP': '10.0.0.0/8' } },
    });
    const decide = (sourceIp: string): string =>
      evaluateAuthorization({ action: 'iot:Connect', resource: arn('client/t1') }, { sourceIp }, [
        { name: 'p', document: policy },
      ]).decision;
    expect(decide('10.1.2.3')).toBe('ALLOWED');
    expect(decide('192.0.2.1')).toBe('IMPLICIT_DENY');
  });

  it('uses certificate list variables in set conditions', () => {
    const policy = document({
      Effect: 'Allow',
      Action: 'iot:Connect',
      Resource: '*',
      Condition: {
        'ForAnyValue:StringLike': {
          'iot:Certificate.Subject.AlternativeName.DNSName.List': '*.factory.example',
        },
      },
    });
    const decide = (names: string[]): string =>
      evaluateAuthorization(
        { action: 'iot:Connect', resource: arn('client/c1') },
        { certificate: { subjectAlternativeName: { DNSName: names } } },
        [{ name: 'p', document: policy }],
      ).decision;
    expect(decide(['a.other.example', 'line1.factory.example'])).toBe('ALLOWED');
    expect(decide(['a.other.example'])).toBe('IMPLICIT_DENY');
  });

  it('lets a * that ends an ARN segment of a Resource span colons, so arn:aws:iot:* covers every IoT resource', () => {
    const decide = (statement: PolicyDocument['Statement'], resource: string): string =>
      evaluateAuthorization({ action: 'iot:Publish', resource }, {}, [
        { name: 'p', document: document({ Effect: 'Allow', Action: 'iot:*', Resource: '*' }, statement) },
      ]).decision;
    const denyAll = { Effect: 'Deny', Action: 'iot:Publish', Resource: 'arn:aws:iot:*' } as const;
    expect(decide(denyAll, arn('topic/a'))).toBe('EXPLICIT_DENY');
    const denyTopicA = { Effect: 'Deny', Action: 'iot:Publish', Resource: 'arn:aws:iot:*:topic/a' } as const;
    expect(decide(denyTopicA, arn('topic/a'))).toBe('EXPLICIT_DENY');
    expect(decide(denyTopicA, arn('topic/b'))).toBe('ALLOWED');
    const denyElsewhere = {
      Effect: 'Deny',
      Action: 'iot:Publish',
      NotResource: 'arn:aws:iot:eu-west-1:*',
    } as const;
    expect(decide(denyElsewhere, arn('topic/a'))).toBe('ALLOWED');
    expect(decide(denyElsewhere, 'arn:aws:iot:us-east-1:111122223333:topic/a')).toBe('EXPLICIT_DENY');
  });

  it('uses iot:Certificate.AvailableKeys as a set of names in set conditions', () => {
    const policy = document({
      Effect: 'Allow',
      Action: 'iot:Connect',
      Resource: '*',
      Condition: { 'ForAnyValue:StringEquals': { 'iot:Certificate.AvailableKeys': 'Subject.Organization' } },
    });
    const decide = (subject: Record<string, string>): string =>
      evaluateAuthorization(
        { action: 'iot:Connect', resource: arn('client/c1') },
        { certificate: { subject } },
        [{ name: 'p', document: policy }],
      ).decision;
    expect(decide({ CommonName: 'c1', Organization: 'Example Corp' })).toBe('ALLOWED');
    expect(decide({ CommonName: 'c1' })).toBe('IMPLICIT_DENY');
  });

  it('treats ${...} as plain text in a document without Version 2012-10-17', () => {
    const policy = {
      Statement: { Effect: 'Allow', Action: 'iot:Publish', Resource: arn('topic/${iot:ClientId}') },
    } as PolicyDocument;
    const decide = (topic: string): string =>
      evaluateAuthorization({ action: 'iot:Publish', resource: arn(`topic/${topic}`) }, { clientId: 'c1' }, [
        { name: 'old', document: policy },
      ]).decision;
    expect(decide('c1')).toBe('IMPLICIT_DENY');
    expect(decide('${iot:ClientId}')).toBe('ALLOWED');
  });

  it('refuses to evaluate an invalid document with a typed error naming the policy', () => {
    const invalid = {
      Version: '2012-10-17',
      Statement: { Effect: 'Maybe', Action: 'iot:Publish', Resource: '*' },
    };
    let thrown: unknown;
    try {
      evaluateAuthorization({ action: 'iot:Publish', resource: '*' }, {}, [
        { name: 'bad', document: invalid as unknown as PolicyDocument },
      ]);
    } catch (error) {
      thrown = error;
    }
    expect(isStationError(thrown) && thrown.code).toBe('policy.invalid');
    expect(isStationError(thrown) && thrown.subject).toBe('bad');
  });
});
