import { existsSync } from 'node:fs';
import path from 'node:path';
import { StationError, invalidInput } from '../../api/errors.js';
import {
  type KeyStoreSettings,
  defaultSettings,
  readSettings,
  registryFile,
  settingsFile,
  writeSettings,
} from '../../config/settings.js';
import { probeToken } from '../../keys/pkcs11/pkcs11-module.js';
import { Registry } from '../../registry/registry.js';
import type { CommandModule } from '../program.js';

interface InitOptions {
  hsm?: string;
  module?: string;
  token?: string;
}

export interface InitResult {
  readonly dataDir: string;
  readonly settings: {
    readonly file: string;
    readonly status: 'created' | 'exists';
    readonly keyStore: KeyStoreSettings;
  };
  readonly registry: {
    readonly file: string;
    readonly status: 'created' | 'migrated' | 'up to date';
    readonly schemaVersion: number;
    readonly previousSchemaVersion: number;
  };
}

/** `station init`: the data folder, station.json (key store choice) and the registry. Repeating it changes nothing. */
export const initCommands: CommandModule = {
  register(program, context) {
    program
      .command('init')
      .description('create the data folder, its settings and the registry (harmless to repeat)')
      .option('--hsm <kind>', 'key store: soft (default; a file, NOT an HSM) or pkcs11')
      .option('--module <path>', 'PKCS#11 module path, with --hsm pkcs11')
      .option(
        '--token <label>',
        'PKCS#11 token label, with --hsm pkcs11 (the PIN is asked when needed, never stored)',
      )
      .action(async (options: InitOptions) => {
        const cli = context();
        const result = await initStation(cli.dataDir, requestedKeyStore(options));
        cli.print(result, describeInit);
      });
  },
};

export async function initStation(dataDir: string, given: KeyStoreSettings | undefined): Promise<InitResult> {
  // Kept absolute: a relative module path would load from the working folder of every later run.
  const requested = given?.kind === 'pkcs11' ? { ...given, module: path.resolve(given.module) } : given;
  const existing = await readSettings(dataDir);
  if (existing && requested && JSON.stringify(existing.keyStore) !== JSON.stringify(requested)) {
    throw new StationError(
      'config.conflict',
      `${settingsFile(dataDir)} already chooses the ${existing.keyStore.kind} key store; edit that file or use another data folder.`,
      { field: 'hsm' },
    );
  }
  const settings = existing ?? { ...defaultSettings, keyStore: requested ?? defaultSettings.keyStore };
  // Settings naming a module or token that is not there would fail at the first key, and need editing by
  // hand: nothing is written until the token is found.
  if (!existing && settings.keyStore.kind === 'pkcs11')
    probeToken(settings.keyStore.module, settings.keyStore.tokenLabel);
  if (!existing) await writeSettings(dataDir, settings);
  const file = registryFile(dataDir);
  const registryExisted = existsSync(file);
  const registry = await Registry.open(file);
  await registry.close();
  const { from, to } = registry.migration;
  return {
    dataDir,
    settings: {
      file: settingsFile(dataDir),
      status: existing ? 'exists' : 'created',
      keyStore: settings.keyStore,
    },
    registry: {
      file,
      status: !registryExisted || from === 0 ? 'created' : from < to ? 'migrated' : 'up to date',
      schemaVersion: to,
      previousSchemaVersion: from,
    },
  };
}

function requestedKeyStore(options: InitOptions): KeyStoreSettings | undefined {
  switch (options.hsm) {
    case undefined:
      if (options.module !== undefined || options.token !== undefined) {
        throw invalidInput('hsm', '--module and --token go with --hsm pkcs11.');
      }
      return undefined;
    case 'soft':
      if (options.module !== undefined || options.token !== undefined) {
        throw invalidInput('hsm', 'the soft key store takes no --module or --token.');
      }
      return { kind: 'soft' };
    case 'pkcs11':
      if (!options.module)
        throw invalidInput(
          'module',
          '--hsm pkcs11 needs --module PATH (e.g. /usr/lib/softhsm/libsofthsm2.so).',
        );
      if (!options.token) throw invalidInput('token', '--hsm pkcs11 needs --token LABEL.');
      return { kind: 'pkcs11', module: options.module, tokenLabel: options.token };
    default:
      throw invalidInput('hsm', `"${options.hsm}" is not a key store; use soft or pkcs11.`);
  }
}

function describeInit(result: InitResult): string {
  const keyStore =
    result.settings.keyStore.kind === 'soft'
      ? 'soft key store (a file, NOT an HSM)'
      : `PKCS#11 token "${result.settings.keyStore.tokenLabel}" via ${result.settings.keyStore.module}`;
  const registry =
    result.registry.status === 'migrated'
      ? `migrated from schema ${result.registry.previousSchemaVersion} to ${result.registry.schemaVersion}`
      : `${result.registry.status} (schema ${result.registry.schemaVersion})`;
  return [
    `data folder: ${result.dataDir}`,
    `settings:    ${result.settings.file} ${result.settings.status === 'created' ? 'created' : 'already exists, kept'}; ${keyStore}`,
    `registry:    ${result.registry.file} ${registry}`,
  ].join('\n');
}
