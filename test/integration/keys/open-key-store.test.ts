import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKeyStore, softKeyFileName } from '../../../src/keys/open-key-store.js';
import { createSoftHsmToken } from '../../helpers/softhsm.js';
import type { SoftHsmToken } from '../../helpers/softhsm.js';

let token: SoftHsmToken;
let dataDir: string;

beforeAll(async () => {
  token = await createSoftHsmToken();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'station-data-'));
});

afterAll(async () => {
  await token?.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('openKeyStore', () => {
  it('opens the soft store in the data folder when no HSM is configured', async () => {
    const store = await openKeyStore(
      { kind: 'soft' },
      { dataDir, env: { STATION_SOFT_PASSPHRASE: 'a long passphrase' } },
    );
    try {
      expect(store.kind).toBe('soft');
      expect(store.isHardware).toBe(false);
      expect(await readdir(dataDir)).toEqual([softKeyFileName]);
    } finally {
      await store.close();
    }
  });

  it('opens the PKCS#11 token the settings name, with the PIN from the operator', async () => {
    const store = await openKeyStore(
      { kind: 'pkcs11', module: token.module, tokenLabel: token.tokenLabel },
      { dataDir, env: {}, promptPin: () => Promise.resolve(token.pin) },
    );
    try {
      expect(store.kind).toBe('pkcs11');
      expect(store.description).toContain(token.tokenLabel);
      const key = await store.generateKeyPair({
        algorithm: 'EC-P256',
        label: 'via-settings',
        purpose: 'device',
      });
      expect(key.publicKeySpki.length).toBeGreaterThan(0);
      await store.destroyKey(key);
    } finally {
      await store.close();
    }
  });
});
