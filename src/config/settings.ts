import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { StationError } from '../api/errors.js';
import { makeDirectory } from './data-dir.js';

/** What lives in a data folder. */
export const settingsFileName = 'station.json';
export const registryFileName = 'registry.sqlite';

/**
 * Where private keys live. The PKCS#11 PIN is never part of it (design.md 11): strict objects
 * refuse a `pin` field rather than keep it.
 */
export const keyStoreSettingsSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('soft') }),
  z.strictObject({
    kind: z.literal('pkcs11'),
    /**
     * Absolute path of the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so. A relative one would load
     * whatever library sits in the folder a later run starts in, and that library would see the PIN.
     */
    module: z
      .string()
      .min(1)
      .refine((module) => path.isAbsolute(module), {
        message:
          'the PKCS#11 module path must be absolute (e.g. /usr/lib/softhsm/libsofthsm2.so): run station init --hsm pkcs11 again in a new data folder, or write the full path here',
      }),
    tokenLabel: z.string().min(1),
  }),
]);
export type KeyStoreSettings = z.infer<typeof keyStoreSettingsSchema>;

export const stationSettingsSchema = z.strictObject({
  /** Format of this file; bumped when a field changes meaning. */
  version: z.literal(1),
  keyStore: keyStoreSettingsSchema,
});
export type StationSettings = z.infer<typeof stationSettingsSchema>;

export const defaultSettings: StationSettings = { version: 1, keyStore: { kind: 'soft' } };

export function settingsFile(dataDir: string): string {
  return path.join(dataDir, settingsFileName);
}

export function registryFile(dataDir: string): string {
  return path.join(dataDir, registryFileName);
}

/** The data folder's settings, or undefined when the folder was never initialised (station init). */
export async function readSettings(dataDir: string): Promise<StationSettings | undefined> {
  const file = settingsFile(dataDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') {
      throw new StationError(
        'config.unreadable',
        `The data folder ${dataDir} is not a folder; give a folder (--data DIR).`,
        {
          field: 'data',
          cause: error,
        },
      );
    }
    throw new StationError(
      'config.unreadable',
      `Cannot read ${file}: ${error instanceof Error ? error.message : String(error)}.`,
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new StationError(
      'config.invalid',
      `${file} is not valid JSON; fix it or run station init in a new data folder.`,
    );
  }
  const parsed = stationSettingsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(top level)';
    throw new StationError('config.invalid', `${file}: ${where}: ${issue?.message ?? 'invalid'}.`, {
      field: where,
    });
  }
  return parsed.data;
}

/** Like readSettings, but a folder without settings is an error telling the user to run station init. */
export async function requireSettings(dataDir: string): Promise<StationSettings> {
  const settings = await readSettings(dataDir);
  if (!settings) {
    throw new StationError(
      'config.not_initialized',
      `No station data in ${dataDir}; run station init first (or pass --data DIR).`,
    );
  }
  return settings;
}

/** Creates the data folder (owner-only) and writes the settings atomically. */
export async function writeSettings(dataDir: string, settings: StationSettings): Promise<void> {
  const valid = stationSettingsSchema.parse(settings);
  await makeDirectory(dataDir, 0o700);
  const file = settingsFile(dataDir);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(valid, null, 2)}\n`, { encoding: 'utf8', mode: 0o600 });
  await rename(temporary, file);
}
