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
        keyStore: { kind: 'pkcs11', module: '/opt/m.so', tokenLabel: 't', pin: '1234' },
      }),
    );
    await expect(readSettings(dir)).rejects.toMatchObject({ code: 'config.invalid', field: 'keyStore' });
  });

  it('refuses a PKCS#11 choice without a token label, naming the field', async () => {
    await writeFile(
      settingsFile(dir),
      JSON.stringify({ version: 1, keyStore: { kind: 'pkcs11', module: '/opt/m.so' } }),
    );
    await expect(readSettings(dir)).rejects.toMatchObject({
      code: 'config.invalid',
      field: 'keyStore.tokenLabel',
    });
  });

  it('refuses a relative PKCS#11 module path, saying it must be absolute', async () => {
    await writeFile(
      settingsFile(dir),
      JSON.stringify({
        version: 1,
        keyStore: { kind: 'pkcs11', module: './libsofthsm2.so', tokenLabel: 't' },
      }),
    );
    await expect(readSettings(dir)).rejects.toMatchObject({
      code: 'config.invalid',
      field: 'keyStore.module',
      message: expect.stringMatching(/must be absolute/),
    });
    await expect(
      writeSettings(dir, {
        version: 1,
        keyStore: { kind: 'pkcs11', module: 'libsofthsm2.so', tokenLabel: 't' },
      }),
    ).rejects.toThrow(/must be absolute/);
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

  it('makes the missing folders of a new data folder, owner-only', async () => {
    const nested = path.join(dir, 'a', 'b', 'data');
    await writeSettings(nested, { version: 1, keyStore: { kind: 'soft' } });
    expect((await stat(nested)).mode & 0o077).toBe(0);
    expect((await stat(path.join(dir, 'a'))).mode & 0o077).toBe(0);
    await writeSettings(nested, { version: 1, keyStore: { kind: 'soft' } }); // there already: fine
  });

  it('refuses a data folder that cannot be made, with a clear error and in bounded time', async () => {
    await writeFile(path.join(dir, 'plain-file'), '');
    // Node 20's own recursive mkdir never returned for /proc/1/x, where the system answers ENOENT.
    const unmakeable = [
      path.join(dir, 'plain-file', 'data'),
      ...(process.platform === 'linux' ? ['/proc/1/x/y'] : []),
    ];
    for (const folder of unmakeable)
      await expect(writeSettings(folder, { version: 1, keyStore: { kind: 'soft' } })).rejects.toMatchObject({
        code: 'config.unwritable',
        message: expect.stringContaining(`Cannot create the folder ${folder}`),
      });
  }, 10_000);

  it('says a data folder that is a file is not a folder', async () => {
    const file = path.join(dir, 'plain-file');
    await writeFile(file, '');
    await expect(readSettings(file)).rejects.toMatchObject({
      code: 'config.unreadable',
      field: 'data',
      message: `The data folder ${file} is not a folder; give a folder (--data DIR).`,
    });
  });
});
