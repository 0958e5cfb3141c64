import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKeyFile } from '../../../src/keys/soft/soft-key-file.js';
import { toPem } from '../../../src/pki/pem.js';
import { runCli, runCliOnTerminal } from '../../helpers/cli.js';
import { createSoftHsmToken, type SoftHsmToken } from '../../helpers/softhsm.js';
import { deviceCsr, opensslVerify, run, softPassphrase } from './pki-fixture.js';

// Each step spawns the CLI (tsx start-up, and scrypt for the soft store): seconds each on a busy 2-core machine.
const cliTimeout = { timeout: 180_000 };

describe('station ca / cert with the soft key store', cliTimeout, () => {
  let dir: string;
  let dataDir: string;
  const env = { STATION_SOFT_PASSPHRASE: softPassphrase };
  const station = (...args: string[]) => runCli(args, { dataDir, env });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'station-pki-cli-'));
    dataDir = path.join(dir, 'data');
    expect((await station('init', '--hsm', 'soft')).code).toBe(0);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a CA, issues from a CSR file, and the certificate verifies with openssl against ca export', async () => {
    const created = await station(
      'ca',
      'create',
      '--name',
      'factory',
      '--subject',
      'CN=Factory CA, O=Acme, C=DE',
    );
    expect(created.code).toBe(0);
    expect(created.stderr).toContain('NOT an HSM');

    const csrFile = path.join(dir, 'thing-1.csr');
    await writeFile(csrFile, toPem('CERTIFICATE REQUEST', deviceCsr('thing-1').der));
    const certificateFile = path.join(dir, 'thing-1.pem');
    const issued = await station(
      'cert',
      'issue',
      '--csr',
      csrFile,
      '--ca',
      'factory',
      '--days',
      '90',
      '--out',
      certificateFile,
    );
    expect(issued.code).toBe(0);
    const id = issued.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    const exported = await station('ca', 'export', 'factory');
    const caFile = path.join(dir, 'ca.pem');
    await writeFile(caFile, exported.stdout);
    expect(await opensslVerify(['-x509_strict', '-CAfile', caFile, certificateFile])).toContain('OK');

    const verified = await station('cert', 'verify', certificateFile);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('VALID');
  });

  it('includes the PEM in --json list and describe output', async () => {
    const cas = JSON.parse((await station('--json', 'ca', 'list')).stdout) as { name: string; pem: string }[];
    expect(cas.map((ca) => ca.name)).toEqual(['factory']);
    expect(cas[0]!.pem).toContain('BEGIN CERTIFICATE');
    const { certificates } = JSON.parse((await station('--json', 'cert', 'list')).stdout) as {
      certificates: { id: string; pem: string }[];
    };
    expect(certificates).toHaveLength(1);
    expect(certificates[0]!.pem).toContain('BEGIN CERTIFICATE');
    const described = JSON.parse(
      (await station('--json', 'cert', 'describe', certificates[0]!.id)).stdout,
    ) as {
      pem: string;
      status: string;
    };
    expect(described).toMatchObject({ status: 'ACTIVE' });
    expect(described.pem).toBe(certificates[0]!.pem);
    const ca = JSON.parse((await station('--json', 'ca', 'describe', 'factory')).stdout) as { pem: string };
    expect(ca.pem).toContain('BEGIN CERTIFICATE');
  });

  it('refuses a garbage CSR with exit code 1 and its reason, adding no certificate', async () => {
    const garbage = path.join(dir, 'garbage.csr');
    await writeFile(garbage, 'definitely not a CSR');
    const result = await station('cert', 'issue', '--csr', garbage, '--ca', 'factory');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not a certificate signing request');
    const listed = JSON.parse((await station('--json', 'cert', 'list')).stdout) as {
      certificates: unknown[];
    };
    expect(listed.certificates).toHaveLength(1);
  });

  it('cert list --limit says where the next page starts, the last page says nothing, and an unknown --after is refused', async () => {
    const csrFile = path.join(dir, 'thing-2.csr');
    await writeFile(csrFile, toPem('CERTIFICATE REQUEST', deviceCsr('thing-2').der));
    expect((await station('cert', 'issue', '--csr', csrFile, '--ca', 'factory')).code).toBe(0);
    const first = await station('cert', 'list', '--limit', '1');
    const [line, more] = first.stdout.trim().split('\n');
    const firstId = line!.split('\t')[0]!;
    expect(more).toBe(`more: --after ${firstId}`);
    const second = await station('cert', 'list', '--limit', '1', '--after', firstId);
    expect(second.stdout.trim().split('\n')).toHaveLength(1);
    expect(second.stdout).not.toContain('more:');
    expect(second.stdout).not.toContain(firstId);
    // Under --json too: nextAfter while another page exists, so a script knows when to stop.
    const firstJson = JSON.parse((await station('--json', 'cert', 'list', '--limit', '1')).stdout) as {
      certificates: { id: string }[];
      nextAfter?: string;
    };
    expect(firstJson.certificates.map((certificate) => certificate.id)).toEqual([firstId]);
    expect(firstJson.nextAfter).toBe(firstId);
    const lastJson = JSON.parse(
      (await station('--json', 'cert', 'list', '--limit', '1', '--after', firstId)).stdout,
    ) as { certificates: unknown[]; nextAfter?: string };
    expect(lastJson.certificates).toHaveLength(1);
    expect(lastJson).not.toHaveProperty('nextAfter');
    // An id the registry does not hold is not the end of the list.
    const unknown = await station('cert', 'list', '--after', 'ef'.repeat(32));
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toContain(`Certificate ${'ef'.repeat(32)} is not in the registry`);
  });

  it('revokes, writes a CRL openssl verifies, and cert verify then fails with exit code 1', async () => {
    const {
      certificates: [certificate],
    } = JSON.parse((await station('--json', 'cert', 'list')).stdout) as {
      certificates: { id: string; pem: string }[];
    };
    expect((await station('cert', 'revoke', certificate!.id, '--reason', 'keyCompromise')).code).toBe(0);
    const crlFile = path.join(dir, 'factory.crl');
    expect((await station('ca', 'crl', '--name', 'factory', '--out', crlFile)).code).toBe(0);
    const caFile = path.join(dir, 'ca.pem');
    const certificateFile = path.join(dir, 'thing-1.pem');
    const checked = await opensslVerify([
      '-crl_check',
      '-CAfile',
      caFile,
      '-CRLfile',
      crlFile,
      certificateFile,
    ]).catch((error: { stderr?: string }) => error.stderr ?? '');
    expect(checked).toContain('certificate revoked');
    const verified = await station('cert', 'verify', certificateFile);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain('FAIL status: revoked');
    expect((await station('cert', 'revoke', certificate!.id, '--reason', 'whatever')).code).toBe(1);
  });

  // What the store holds, and what it destroyed: a key made and then destroyed would show there.
  async function storedKeys(): Promise<{ keys: string[]; destroyed: string[] }> {
    const contents = await readKeyFile(path.join(dataDir, 'soft-keys.json'), softPassphrase);
    return { keys: contents?.keys.map((key) => key.label) ?? [], destroyed: contents?.destroyed ?? [] };
  }

  it('ca create --intermediate with an --out it cannot write makes no key, so the name stays free', async () => {
    const keysBefore = await storedKeys();
    const intermediate = (out: string) =>
      station('ca', 'create', '--name', 'line-int', '--intermediate', '--out', out);
    const refused = await intermediate(path.join(dir, 'no-such-folder', 'line-int.csr'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: out: cannot write .*ENOENT/m);
    expect(await storedKeys()).toEqual(keysBefore);
    const retried = await intermediate(path.join(dir, 'line-int.csr'));
    expect(retried.code, retried.stderr).toBe(0);
  });

  it('ca create checks --days and --permitted-dns before it makes a key', async () => {
    const keysBefore = await storedKeys();
    const tooLong = await station('ca', 'create', '--name', 'too-long', '--days', '99999999');
    expect(tooLong.stderr).toMatch(/^error: days: validity must be a whole number of days from 1 to 36500/m);
    for (const domain of ['', 'two words.example', 'a..b']) {
      const fenced = await station('ca', 'create', '--name', 'fenced', '--permitted-dns', domain);
      expect(fenced.stderr, domain).toMatch(/^error: permittedDns: '.*' is not a DNS name/m);
    }
    expect(await storedKeys()).toEqual(keysBefore);
    const idn = await station('ca', 'create', '--name', 'fenced', '--permitted-dns', 'bücher.example');
    expect(idn.code, idn.stderr).toBe(0);
    const exportedFile = path.join(dir, 'fenced.pem');
    await writeFile(exportedFile, (await station('ca', 'export', 'fenced')).stdout);
    const { stdout: text } = await run('openssl', ['x509', '-in', exportedFile, '-noout', '-text']);
    expect(text).toMatch(/Permitted:\s+DNS:xn--bcher-kva\.example/);
  });

  it('ca create refuses options that do not apply instead of ignoring them', async () => {
    const rootWithOut = await station('ca', 'create', '--name', 'root-out', '--out', path.join(dir, 'x.csr'));
    expect(rootWithOut.stderr).toMatch(/^error: out: a root CA has no CSR/m);
    // prettier-ignore
    const intermediate = await station('ca', 'create', '--name', 'int-opts', '--intermediate', '--days', '30',
      '--path-length', '0', '--permitted-dns', 'example.com');
    expect(intermediate.code).toBe(1);
    expect(intermediate.stderr).toContain('--days, --path-length, --permitted-dns: the CA that signs');
    const listed = await station('ca', 'list');
    expect(listed.stdout).not.toMatch(/root-out|int-opts/);
  });

  it('ca create asks for the passphrase at a terminal when the environment does not give it', async () => {
    const env = { ...process.env };
    delete env.STATION_SOFT_PASSPHRASE;
    const created = await runCliOnTerminal(['ca', 'create', '--name', 'typed'], {
      dataDir,
      env,
      prompt: 'Soft key store passphrase: ',
      answer: softPassphrase,
    });
    expect(created.output).toContain('created root CA typed');
    expect(created.output).not.toContain(softPassphrase); // typed without echo
    expect(created.code).toBe(0);
  });

  it('writes an intermediate CSR to a file and refuses an unknown CA name', async () => {
    const csrFile = path.join(dir, 'line-1.csr');
    const result = await station('ca', 'create', '--name', 'line-1', '--intermediate', '--out', csrFile);
    expect(result.code).toBe(0);
    expect(await readFile(csrFile, 'utf8')).toContain('BEGIN CERTIFICATE REQUEST');
    const missing = await station('ca', 'describe', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("No CA named 'nope'");
  });
});

describe('station ca / cert with a PKCS#11 token', cliTimeout, () => {
  let dir: string;
  let token: SoftHsmToken;

  beforeAll(async () => {
    token = await createSoftHsmToken();
    dir = await mkdtemp(path.join(os.tmpdir(), 'station-pki-cli-hsm-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await token?.cleanup();
  });

  it('init refuses a token or module that is not there, naming what it saw, and writes nothing', async () => {
    const dataDir = path.join(dir, 'no-token');
    const noToken = await runCli(['init', '--hsm', 'pkcs11', '--module', token.module, '--token', 'line-9'], {
      dataDir,
    });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain(`HSM token 'line-9' not found`);
    expect(noToken.stderr).toContain(`(the module shows '${token.tokenLabel}')`);
    const noModule = await runCli(
      ['init', '--hsm', 'pkcs11', '--module', path.join(dir, 'missing.so'), '--token', token.tokenLabel],
      { dataDir },
    );
    expect(noModule.code).toBe(1);
    expect(noModule.stderr).toContain('could not be loaded');
    await expect(readdir(dataDir).catch(() => [])).resolves.toEqual([]);
  });

  it('creates an HSM CA and issues with the PIN from STATION_HSM_PIN; without it, says what is missing', async () => {
    const dataDir = path.join(dir, 'data');
    const env = { STATION_HSM_PIN: token.pin };
    const init = await runCli(
      ['init', '--hsm', 'pkcs11', '--module', token.module, '--token', token.tokenLabel],
      {
        dataDir,
      },
    );
    expect(init.code).toBe(0);
    expect(
      (await runCli(['ca', 'create', '--name', 'hsm-ca', '--algorithm', 'EC-P384'], { dataDir, env })).code,
    ).toBe(0);

    const csrFile = path.join(dir, 'thing.csr');
    await writeFile(csrFile, deviceCsr('thing-hsm').der);
    const issued = await runCli(['cert', 'issue', '--csr', csrFile, '--ca', 'hsm-ca', '--cn', 'thing-hsm'], {
      dataDir,
      env,
    });
    expect(issued.code).toBe(0);
    expect(issued.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);

    const noPin = await runCli(['cert', 'issue', '--csr', csrFile, '--ca', 'hsm-ca'], {
      dataDir,
      env: { STATION_HSM_PIN: '' },
    });
    expect(noPin.code).toBe(1);
    expect(noPin.stderr).toContain('STATION_HSM_PIN');
  });
});
