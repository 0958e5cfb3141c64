// A real SoftHSM2 token for tests, in a temp folder with its own softhsm2.conf (stack-notes.md section 1).
//
// SoftHSM2 reads SOFTHSM2_CONF and scans its token folder at C_Initialize only, and a process initialises
// a module once (src/keys/pkcs11/pkcs11-module.ts). So each test process gets one token folder and one
// conf (SOFTHSM2_CONF is set for the process and inherited by spawned CLIs); every call adds a token with
// a unique label there. Create tokens before opening a store, or after every store is closed (the module
// is finalised with its last store). Parallel test processes each have their own folder.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pkcs11js from 'pkcs11js';
import { ecCurves } from '../../src/keys/key-encoding.js';
import { acquireTokenSession } from '../../src/keys/pkcs11/pkcs11-module.js';

const run = promisify(execFile);

export const softHsmModule = '/usr/lib/softhsm/libsofthsm2.so';

export interface SoftHsmToken {
  /** The PKCS#11 library path. */
  module: string;
  tokenLabel: string;
  pin: string;
  soPin: string;
  /** The temp folder holding softhsm2.conf and the tokens of this process. */
  dir: string;
  /** The softhsm2.conf path (also in process.env.SOFTHSM2_CONF). */
  conf: string;
  /** Deletes the token; the folder goes with the last token of the process. */
  cleanup(): Promise<void>;
}

interface ProcessTokenFolder {
  dir: string;
  conf: string;
  tokens: number;
}

let folder: Promise<ProcessTokenFolder> | undefined;
let previousConf: string | undefined;

async function createFolder(): Promise<ProcessTokenFolder> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'station-softhsm-'));
  const tokenDir = path.join(dir, 'tokens');
  await mkdir(tokenDir);
  const conf = path.join(dir, 'softhsm2.conf');
  await writeFile(
    conf,
    [
      `directories.tokendir = ${tokenDir}`,
      'objectstore.backend = file',
      'log.level = ERROR',
      'slots.removable = false',
      '',
    ].join('\n'),
  );
  previousConf = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  return { dir, conf, tokens: 0 };
}

export async function createSoftHsmToken(options: { label?: string } = {}): Promise<SoftHsmToken> {
  folder ??= createFolder();
  const current = await folder;
  current.tokens++;
  // Token labels are at most 32 characters.
  const tokenLabel = options.label ?? `test-${randomBytes(6).toString('hex')}`;
  const pin = randomBytes(4).toString('hex');
  const soPin = randomBytes(8).toString('hex');
  const env = { ...process.env, SOFTHSM2_CONF: current.conf };
  try {
    await run(
      'softhsm2-util',
      ['--init-token', '--free', '--label', tokenLabel, '--so-pin', soPin, '--pin', pin],
      { env },
    );
  } catch (error) {
    await release(current);
    throw error;
  }
  let cleaned = false;
  return {
    module: softHsmModule,
    tokenLabel,
    pin,
    soPin,
    dir: current.dir,
    conf: current.conf,
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      try {
        await run('softhsm2-util', ['--delete-token', '--token', tokenLabel], { env });
      } finally {
        await release(current);
      }
    },
  };
}

async function release(current: ProcessTokenFolder): Promise<void> {
  current.tokens--;
  if (current.tokens > 0) return;
  folder = undefined;
  if (process.env.SOFTHSM2_CONF === current.conf) {
    if (previousConf === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previousConf;
  }
  await rm(current.dir, { recursive: true, force: true });
}

/**
 * Makes a P-256 key pair on the token the way a tool other than the station might (an administrator's
 * pkcs11-tool, a migrated key), with the given protection of its private half.
 */
export function makeForeignTokenKey(
  token: SoftHsmToken,
  label: string,
  protection: { sensitive: boolean; extractable: boolean },
): void {
  const { pkcs11, session, release } = acquireTokenSession(token.module, token.tokenLabel, token.pin);
  try {
    const id = randomBytes(8);
    pkcs11.C_GenerateKeyPair(
      session,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_ID, value: id },
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(ecCurves['EC-P256'].paramsDer) },
      ],
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_ID, value: id },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: protection.sensitive },
        { type: pkcs11js.CKA_EXTRACTABLE, value: protection.extractable },
      ],
    );
  } finally {
    release();
  }
}
