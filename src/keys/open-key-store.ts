import path from 'node:path';
import type { KeyStoreSettings } from '../config/settings.js';
import type { KeyStore } from './key-store.js';
import { Pkcs11KeyStore } from './pkcs11/pkcs11-key-store.js';
import { SoftKeyStore } from './soft/soft-key-store.js';

/** The soft store's file inside the data folder. */
export const softKeyFileName = 'soft-keys.json';

export interface OpenKeyStoreOptions {
  dataDir: string;
  /** Operator-supplied secrets; each falls back to its env variable, then to its prompt. Never stored. */
  pin?: string;
  promptPin?: () => Promise<string>;
  passphrase?: string;
  promptPassphrase?: (question: string) => Promise<string>;
  env?: NodeJS.ProcessEnv;
  /** Told when the HSM token has few PIN tries left. */
  warn?: (message: string) => void;
}

/** Opens the key store the data folder's settings (station.json, `station init --hsm ...`) choose. */
export function openKeyStore(settings: KeyStoreSettings, options: OpenKeyStoreOptions): Promise<KeyStore> {
  if (settings.kind === 'pkcs11') {
    return Pkcs11KeyStore.open({
      module: settings.module,
      tokenLabel: settings.tokenLabel,
      pin: options.pin,
      promptPin: options.promptPin,
      env: options.env,
      warn: options.warn,
    });
  }
  return SoftKeyStore.open({
    file: path.join(options.dataDir, softKeyFileName),
    passphrase: options.passphrase,
    promptPassphrase: options.promptPassphrase,
    env: options.env,
  });
}
