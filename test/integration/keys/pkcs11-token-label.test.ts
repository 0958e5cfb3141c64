import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initStation } from '../../../src/cli/commands/init.js';
import { Pkcs11KeyStore } from '../../../src/keys/pkcs11/pkcs11-key-store.js';
import { createSoftHsmToken, type SoftHsmToken } from '../../helpers/softhsm.js';

// Its own file: SoftHSM2 sees tokens made before the module is initialised, and both must exist here.
let first: SoftHsmToken;
let second: SoftHsmToken;
let dir: string;

beforeAll(async () => {
  // Two tokens with one label: an HSM and its backup, or a replacement token set up like the old one.
  first = await createSoftHsmToken({ label: 'factory-ca-twice' });
  second = await createSoftHsmToken({ label: 'factory-ca-twice' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'station-token-label-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  // Deleting by an ambiguous label may fail; the token folder goes with the last token anyway.
  await first?.cleanup().catch(() => undefined);
  await second?.cleanup().catch(() => undefined);
});

describe('a token label two tokens carry', () => {
  it('is refused at open with either PIN, naming both serial numbers, never tried as a wrong PIN', async () => {
    for (const token of [first, second]) {
      const error = await Pkcs11KeyStore.open({
        module: token.module,
        tokenLabel: token.tokenLabel,
        pin: token.pin,
      }).then(
        async (store) => {
          await store.close();
          return undefined;
        },
        (thrown: unknown) => thrown,
      );
      expect(error).toMatchObject({ code: 'keys.token-ambiguous' });
      const { serialNumbers } = (error as { details: { serialNumbers: string[] } }).details;
      expect(new Set(serialNumbers).size).toBe(2);
      for (const serial of serialNumbers) {
        expect(serial).not.toBe('');
        expect((error as Error).message).toContain(serial);
      }
    }
  });

  it('is refused by station init, which writes nothing', async () => {
    const dataDir = path.join(dir, 'data');
    await expect(
      initStation(dataDir, { kind: 'pkcs11', module: first.module, tokenLabel: first.tokenLabel }),
    ).rejects.toMatchObject({ code: 'keys.token-ambiguous', message: /serial numbers/ });
    await expect(readdir(dataDir).catch(() => [])).resolves.toEqual([]);
  });
});
