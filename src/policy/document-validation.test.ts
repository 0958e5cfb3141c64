import { describe, expect, it } from 'vitest';
import { validatePolicyDocument } from './document-validation.js';

const allowPublish = { Effect: 'Allow', Action: 'iot:Publish', Resource: 'arn:aws:iot:us-east-1:1:topic/a' };

function pathsOf(input: string | object): string[] {
  const validation = validatePolicyDocument(input);
  return validation.ok ? [] : validation.errors.map((error) => error.path);
}

describe('policy document validation', () => {
  it('accepts a statement list or a single statement object', () => {
    expect(validatePolicyDocument({ Version: '2012-10-17', Statement: [allowPublish] }).ok).toBe(true);
    expect(validatePolicyDocument({ Version: '2012-10-17', Statement: allowPublish }).ok).toBe(true);
  });

  it('accepts the document as escaped JSON text, as templates carry it', () => {
    const validation = validatePolicyDocument(
      JSON.stringify({ Version: '2012-10-17', Statement: [allowPublish] }),
    );
    expect(validation.ok && validation.document.Version).toBe('2012-10-17');
  });

  it('accepts Action "*" and iot:* globs', () => {
    expect(
      pathsOf({ Version: '2012-10-17', Statement: { ...allowPublish, Action: ['*', 'iot:*', 'iot:Get*'] } }),
    ).toEqual([]);
  });

  it("accepts the jobs data plane's iotjobsdata: actions, as AWS's basic job policy has them", () => {
    const jobs = ['iotjobsdata:DescribeJobExecution', 'iotjobsdata:GetPendingJobExecutions', 'iotjobsdata:*'];
    expect(pathsOf({ Version: '2012-10-17', Statement: { ...allowPublish, Action: jobs } })).toEqual([]);
  });

  it('reports every fault, not only the first, each with its path', () => {
    expect(
      pathsOf({
        Version: '2012-10-17',
        Extra: true,
        Statement: [
          { Effect: 'allow', Action: 's3:GetObject', Resource: 'bucket' },
          { Effect: 'Deny', Action: 'iot:Connect', NotAction: 'iot:Publish', Resource: '*' },
          { Effect: 'Allow', Action: [], Resource: '*', Principal: '*' },
        ],
      }),
    ).toEqual([
      'Extra',
      'Statement[0].Effect',
      'Statement[0].Action',
      'Statement[0].Resource',
      'Statement[1].NotAction',
      'Statement[2].Principal',
      'Statement[2].Action',
    ]);
  });

  it('needs Action or NotAction and Resource or NotResource', () => {
    expect(pathsOf({ Version: '2012-10-17', Statement: { Effect: 'Allow' } })).toEqual([
      'Statement.Action',
      'Statement.Resource',
    ]);
  });

  it('refuses an empty statement list and a missing Statement', () => {
    expect(pathsOf({ Version: '2012-10-17', Statement: [] })).toEqual(['Statement']);
    expect(pathsOf({ Version: '2012-10-17' })).toEqual(['Statement']);
  });

  it('refuses an unknown Version', () => {
    expect(pathsOf({ Version: '2012-10-18', Statement: allowPublish })).toEqual(['Version']);
  });

  it('refuses unknown condition operators instead of letting them pass', () => {
    const validation = validatePolicyDocument({
      Version: '2012-10-17',
      Statement: { ...allowPublish, Condition: { StringEqualz: { 'iot:ClientId': 'a' } } },
    });
    expect(validation).toEqual({
      ok: false,
      errors: [
        { path: 'Statement.Condition.StringEqualz', message: 'unknown condition operator "StringEqualz"' },
      ],
    });
  });

  it('refuses an operator with two set qualifiers', () => {
    const operator = 'ForAllValues:ForAnyValue:StringEquals';
    expect(
      pathsOf({
        Version: '2012-10-17',
        Statement: { ...allowPublish, Condition: { [operator]: { 'iot:ConnectAttributes': 'LastWill' } } },
      }),
    ).toEqual([`Statement.Condition.${operator}`]);
  });

  it('checks condition values against their operator', () => {
    expect(
      pathsOf({
        Version: '2012-10-17',
        Statement: {
          ...allowPublish,
          Condition: {
            NumericLessThan: { 'iot:X': 'ten' },
            Bool: { 'iot:Connection.Thing.IsAttached': 'yes' },
            IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '10.0.0.0/33'] },
            StringEquals: { 'iot:ClientId': [], nokey: 'a' },
          },
        },
      }),
    ).toEqual([
      'Statement.Condition.NumericLessThan.iot:X',
      'Statement.Condition.Bool.iot:Connection.Thing.IsAttached',
      'Statement.Condition.IpAddress.aws:SourceIp[1]',
      'Statement.Condition.StringEquals.iot:ClientId',
      'Statement.Condition.StringEquals.nokey',
    ]);
  });

  it('accepts numbers and booleans as condition values', () => {
    expect(
      pathsOf({
        Version: '2012-10-17',
        Statement: { ...allowPublish, Condition: { Bool: { 'iot:Connection.Thing.IsAttached': true } } },
      }),
    ).toEqual([]);
  });

  it('accepts a Resource ARN cut short by a segment-ending * (IAM lets that * span colons), but not ArnLike values', () => {
    const resources = ['arn:aws:iot:*', 'arn:aws:iot:us-east-1:*', 'arn:aws:iot:*:topic/a'];
    expect(pathsOf({ Version: '2012-10-17', Statement: { ...allowPublish, Resource: resources } })).toEqual(
      [],
    );
    expect(
      pathsOf({
        Version: '2012-10-17',
        Statement: { ...allowPublish, NotResource: resources, Resource: undefined },
      }),
    ).toEqual([]);
    expect(
      pathsOf({
        Version: '2012-10-17',
        Statement: {
          ...allowPublish,
          Resource: 'arn:aws:iot:us-east-1',
          Condition: { ArnLike: { 'iot:SomeArn': 'arn:aws:iot:*' } },
        },
      }),
    ).toEqual(['Statement.Resource', 'Statement.Condition.ArnLike.iot:SomeArn']);
  });

  it('refuses a policy variable that is never closed', () => {
    expect(
      pathsOf({
        Version: '2012-10-17',
        Statement: { ...allowPublish, Resource: 'arn:aws:iot:us-east-1:1:topic/${iot:ClientId' },
      }),
    ).toEqual(['Statement.Resource']);
  });

  it('refuses more than 2048 characters excluding whitespace, and counts no whitespace', () => {
    const topic = 'x'.repeat(1900);
    const resources = [`arn:aws:iot:us-east-1:1:topic/${topic}`];
    const fits = JSON.stringify(
      { Version: '2012-10-17', Statement: { ...allowPublish, Resource: resources } },
      null,
      8,
    );
    expect(validatePolicyDocument(fits).ok).toBe(true);
    const tooLong = {
      Version: '2012-10-17',
      Statement: { ...allowPublish, Resource: [...resources, resources[0]] },
    };
    const validation = validatePolicyDocument(tooLong);
    expect(validation.ok).toBe(false);
    expect(!validation.ok && validation.errors[0]?.message).toMatch(/at most 2048/);
  });

  it('refuses text that is not JSON, saying where', () => {
    const validation = validatePolicyDocument('{\n  "Version": "2012-10-17",\n  "Statement": [ { {');
    expect(!validation.ok && validation.errors[0]?.message).toMatch(/not valid JSON.*line 3/);
  });

  it('refuses duplicate statement ids', () => {
    expect(
      pathsOf({
        Version: '2012-10-17',
        Statement: [
          { ...allowPublish, Sid: 'A' },
          { ...allowPublish, Sid: 'A' },
        ],
      }),
    ).toEqual(['Statement[1].Sid']);
  });

  it('refuses JSON that is not an object', () => {
    expect(pathsOf('[]')).toEqual(['']);
    expect(pathsOf('null')).toEqual(['']);
  });
});
