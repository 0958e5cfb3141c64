import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initStation } from '../../../src/cli/commands/init.js';
import { settingsFile } from '../../../src/config/settings.js';
import { createSoftHsmToken, type SoftHsmToken } from '../../helpers/softhsm.js';

let token: SoftHsmToken;
let dir: string;

beforeAll(async () => {
  token = await createSoftHsmToken();
  dir = await mkdtemp(path.join(os.tmpdir(), 'station-init-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  await token?.cleanup();
});

describe('station init --hsm pkcs11', () => {
  it('writes the module path absolute, so later runs do not load a library from their working folder', async () => {
    const relative = path.relative(process.cwd(), token.module);
    expect(path.isAbsolute(relative)).toBe(false);
    const dataDir = path.join(dir, 'data');
    const result = await initStation(dataDir, {
      kind: 'pkcs11',
      module: relative,
      tokenLabel: token.tokenLabel,
    });
    const written = JSON.parse(await readFile(settingsFile(dataDir), 'utf8'));
    expect(written.keyStore.module).toBe(path.resolve(relative));
    expect(result.settings.keyStore).toEqual(written.keyStore);
    // Repeating init with the same relative path is the same choice, not a conflict.
    await expect(
      initStation(dataDir, { kind: 'pkcs11', module: relative, tokenLabel: token.tokenLabel }),
    ).resolves.toMatchObject({ settings: { status: 'exists' } });
  });
});
