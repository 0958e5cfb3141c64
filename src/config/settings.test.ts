import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readSettings, requireSettings, settingsFile, writeSettings } from './settings.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'settings-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('station.json', () => {
  it('round-trips a PKCS#11 choice', async () => {
    const settings = {
      version: 1 as const,
      keyStore: { kind: 'pkcs11' as const, module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'factory' },
    };
    await writeSettings(path.join(dir, 'data'), settings);
    expect(await readSettings(path.join(dir, 'data'))).toEqual(settings);
  });

  it('reads as absent in a folder never initialised, and requireSettings says to run init', async () => {
    expect(await readSettings(dir)).toBeUndefined();
    await expect(requireSettings(dir)).rejects.toMatchObject({
      code: 'config.not_initialized',
      message: expect.stringMatching(/station init/),
    });
  });

  it('refuses a settings file that carries a PIN', async () => {
    await writeFile(
      settingsFile(dir),
      JSON.stringify({
        version: 1,
        keyStore: { kind: 'pkcs11', module: 'm.so', tokenLabel: 't', pin: '1234' },
      }),
    );
    await expect(readSettings(dir)).rejects.toMatchObject({ code: 'config.invalid', field: 'keyStore' });
  });

  it('refuses a PKCS#11 choice without a token label, naming the field', async () => {
    await writeFile(
      settingsFile(dir),
      JSON.stringify({ version: 1, keyStore: { kind: 'pkcs11', module: 'm.so' } }),
    );
    await expect(readSettings(dir)).rejects.toMatchObject({
      code: 'config.invalid',
      field: 'keyStore.tokenLabel',
    });
  });

  it('refuses a file that is not JSON', async () => {
    await writeFile(settingsFile(dir), '{ not json');
    await expect(readSettings(dir)).rejects.toMatchObject({ code: 'config.invalid' });
  });

  it('writes the file readable by its owner only', async () => {
    await writeSettings(dir, { version: 1, keyStore: { kind: 'soft' } });
    const { mode } = await stat(settingsFile(dir));
    expect(mode & 0o077).toBe(0);
    expect(JSON.parse(await readFile(settingsFile(dir), 'utf8'))).toEqual({
      version: 1,
      keyStore: { kind: 'soft' },
    });
  });
});
