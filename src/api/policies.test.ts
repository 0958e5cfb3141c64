import { describe, expect, it } from 'vitest';
import { authorizationRequestSchema } from './policies.js';

const arn = (resource: string): string => `arn:aws:iot:us-east-1:123456789012:${resource}`;

/** The first fault's field and message, or undefined when the request is one AWS can make. */
function faultOf(action: string, resource: string): { path: string; message: string } | undefined {
  const result = authorizationRequestSchema.safeParse({ action, resource });
  if (result.success) return undefined;
  const issue = result.error.issues[0];
  return { path: issue?.path.join('.') ?? '', message: issue?.message ?? '' };
}

// aws-iot-spec.md 4, Resource ARNs: the resource type AWS checks each action against.
describe('an authorization request', () => {
  it('is accepted for each action on the resource type AWS checks it against', () => {
    for (const [action, resource] of [
      ['iot:Connect', arn('client/dev1')],
      ['iot:Publish', arn('topic/a/b')],
      ['iot:Receive', arn('topic/a/b')],
      ['iot:RetainPublish', arn('topic/a/b')],
      ['iot:GetRetainedMessage', arn('topic/a/b')],
      ['iot:Subscribe', arn('topicfilter/a/+')],
      ['iot:GetThingShadow', arn('thing/dev1/shadow1')],
      ['iot:UpdateJobExecution', arn('thing/dev1')],
      ['iotjobsdata:DescribeJobExecution', arn('thing/dev1')],
      ['iot:AssumeRoleWithCertificate', arn('rolealias/uploader')],
      ['iot:ListRetainedMessages', '*'],
      ['iot:ListNamedShadowsForThing', '*'],
      ['iot:publish', 'arn:aws-cn:iot:cn-north-1:123456789012:topic/a'],
    ]) {
      expect(faultOf(action as string, resource as string), action).toBeUndefined();
    }
  });

  it('is refused when AWS never checks the action against that resource type, naming the one it does', () => {
    expect(faultOf('iot:Subscribe', arn('topic/foo/bar'))).toEqual({
      path: 'resource',
      message: expect.stringContaining('AWS checks iot:Subscribe against topicfilter/ ARNs, never topic/'),
    });
    expect(faultOf('iot:Publish', arn('topicfilter/foo'))?.message).toContain(
      'topic/ ARNs, never topicfilter/',
    );
    expect(faultOf('iot:Connect', arn('thing/dev1'))?.message).toContain('client/ ARNs, never thing/');
    expect(faultOf('iot:ListRetainedMessages', arn('topic/a'))?.message).toContain('against the resource *');
  });

  it('is refused when the resource is not an AWS IoT ARN', () => {
    for (const resource of [
      'topicfilter/foo/bar',
      '*',
      'arn:aws:s3:::bucket/key',
      'arn:aws:iot:us-east-1::topic/a',
    ]) {
      expect(faultOf('iot:Subscribe', resource), resource).toEqual({
        path: 'resource',
        message: expect.stringContaining(
          'is not an AWS IoT resource ARN; AWS checks iot:Subscribe against topicfilter/',
        ),
      });
    }
  });

  it('is refused when the action is not an AWS IoT policy action', () => {
    for (const action of ['iot:Publsh', 'iot:CreateThing', 's3:GetObject', 'iot:*']) {
      expect(faultOf(action, arn('topic/a')), action).toEqual({
        path: 'action',
        message: expect.stringContaining(
          `"${action}" is not an AWS IoT policy action; use one of iot:Connect`,
        ),
      });
    }
  });
});
