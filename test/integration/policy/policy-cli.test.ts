import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const referenceDir = path.join(repoRoot, '..', 'shared', 'reference', 'aws', 'policies');
const tempDir = mkdtempSync(path.join(os.tmpdir(), 'policy-cli-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

/** `station --data TEMP ARGS` as a real process (test/helpers/cli.ts). */
async function station(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const run = await runCli(args, { dataDir: tempDir });
  return { status: run.code, stdout: run.stdout, stderr: run.stderr };
}

function writeTemp(name: string, content: unknown): string {
  const file = path.join(tempDir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const reference = (file: string): string => path.join(referenceDir, file);
const publishToOwnTopic = {
  Version: '2012-10-17',
  Statement: {
    Effect: 'Allow',
    Action: 'iot:Publish',
    Resource: 'arn:aws:iot:eu-west-1:111122223333:topic/dt/${iot:ClientId}/*',
  },
};

describe('station policy validate', () => {
  it('exits 1 with a JSON list of {path, message} for the malformed reference policy', async () => {
    const run = await station(
      '--json',
      'policy',
      'validate',
      reference('P21-malformed-doc-policy-must-be-rejected.json'),
    );
    expect(run.status).toBe(1);
    const issues = JSON.parse(run.stdout) as { path: string; message: string }[];
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: '', message: expect.stringContaining('line 5, column 5') });
  });

  it('names every fault of a document with its path', async () => {
    const file = writeTemp('faulty.json', {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Permit',
          Action: 'iot:Publish',
          Resource: '*',
          Condition: { StringEqual: { 'iot:ClientId': 'a' } },
        },
      ],
    });
    const run = await station('--json', 'policy', 'validate', file);
    expect(run.status).toBe(1);
    expect((JSON.parse(run.stdout) as { path: string }[]).map((issue) => issue.path)).toEqual([
      'Statement[0].Effect',
      'Statement[0].Condition.StringEqual',
    ]);
  });

  it('exits 0 for a valid bare document and for a reference file with substitutions', async () => {
    expect((await station('policy', 'validate', writeTemp('own-topic.json', publishToOwnTopic))).status).toBe(
      0,
    );
    const run = await station(
      '--json',
      'policy',
      'validate',
      reference('P17-automated-fp-by-claim-production-policy.json'),
    );
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ name: 'P17', valid: true });
  });
});

describe('files saved with a UTF-8 byte order mark', () => {
  const withBom = (name: string, content: unknown): string =>
    writeTemp(name, `\uFEFF${JSON.stringify(content)}`);

  it('validate reads the document as if the mark were not there', async () => {
    const run = await station('policy', 'validate', withBom('bom-policy.json', publishToOwnTopic));
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('test reads the policy, the request and the context files as if the mark were not there', async () => {
    const run = await station(
      '--json',
      'policy',
      'test',
      withBom('bom-own-topic.json', publishToOwnTopic),
      '--request',
      `@${withBom('bom-request.json', { action: 'iot:Publish', resource: 'arn:aws:iot:eu-west-1:111122223333:topic/dt/sensor-7/temp' })}`,
      '--context',
      `@${withBom('bom-context.json', { clientId: 'sensor-7' })}`,
    );
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject({ decision: 'ALLOWED', allowedBy: ['bom-own-topic'] });
  });
});

describe('station policy test', () => {
  it('prints the TestAuthorization-shaped answer for a reference policy, request and context', async () => {
    const run = await station(
      'policy',
      'test',
      reference('P04-publish-client-prefix-except-bar.json'),
      '--request',
      JSON.stringify({
        action: 'iot:Publish',
        resource: 'arn:aws:iot:us-east-1:123456789012:topic/client1/bar',
      }),
      '--context',
      JSON.stringify({ clientId: 'client1', principalAttachedThings: [] }),
    );
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      decision: 'EXPLICIT_DENY',
      allowedBy: ['P04'],
      explicitDenyBy: ['P04'],
      implicitDenyBy: [],
      missingContextValues: [],
    });
  });

  it('reads the request and context from @FILE and names a bare document after its file', async () => {
    const policy = writeTemp('own-topic.json', publishToOwnTopic);
    const request = writeTemp('request.json', {
      action: 'iot:Publish',
      resource: 'arn:aws:iot:eu-west-1:111122223333:topic/dt/sensor-7/temp',
    });
    const context = writeTemp('context.json', { clientId: 'sensor-7' });
    const run = await station(
      '--json',
      'policy',
      'test',
      policy,
      '--request',
      `@${request}`,
      '--context',
      `@${context}`,
    );
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ decision: 'ALLOWED', allowedBy: ['own-topic'] });
  });

  it('refuses a context field the reference shape does not have, naming it', async () => {
    const run = await station(
      'policy',
      'test',
      writeTemp('own-topic.json', publishToOwnTopic),
      '--request',
      JSON.stringify({ action: 'iot:Publish', resource: 'arn:aws:iot:eu-west-1:111122223333:topic/dt/a/b' }),
      '--context',
      JSON.stringify({ clientID: 'a' }),
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('--context');
    expect(run.stderr).toContain('clientID');
  });

  describe('refuses a request AWS never makes instead of deciding it', () => {
    const subscribeUnderFoo = {
      Version: '2012-10-17',
      Statement: {
        Effect: 'Allow',
        Action: 'iot:Subscribe',
        Resource: 'arn:aws:iot:us-east-1:123456789012:topic/foo/*',
      },
    };
    const test = async (request: object) =>
      station(
        'policy',
        'test',
        writeTemp('subscribe-foo.json', subscribeUnderFoo),
        '--request',
        JSON.stringify(request),
      );

    it('iot:Subscribe on a topic/ ARN: AWS checks Subscribe against topicfilter/', async () => {
      const run = await test({
        action: 'iot:Subscribe',
        resource: 'arn:aws:iot:us-east-1:123456789012:topic/foo/bar',
      });
      expect(run.status).toBe(1);
      expect(run.stdout).not.toContain('ALLOWED');
      expect(run.stderr).toContain('--request: resource: AWS checks iot:Subscribe against topicfilter/ ARNs');
    });

    it('a resource that is not an ARN, and an action AWS does not have', async () => {
      const notArn = await test({ action: 'iot:Subscribe', resource: 'topicfilter/foo/bar' });
      expect(notArn.status).toBe(1);
      expect(notArn.stderr).toContain('"topicfilter/foo/bar" is not an AWS IoT resource ARN');
      const misspelled = await test({
        action: 'iot:Publsh',
        resource: 'arn:aws:iot:us-east-1:123456789012:topic/foo/bar',
      });
      expect(misspelled.status).toBe(1);
      expect(misspelled.stderr).toContain('"iot:Publsh" is not an AWS IoT policy action');
    });
  });

  it('exits 1 without an answer when the policy itself is invalid', async () => {
    const run = await station(
      'policy',
      'test',
      reference('P21-malformed-doc-policy-must-be-rejected.json'),
      '--request',
      JSON.stringify({
        action: 'iot:Connect',
        resource: 'arn:aws:iot:us-east-1:123456789012:client/device1',
      }),
    );
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
  });
});
