import 'reflect-metadata';
import { registryFile, requireSettings, type StationSettings } from './config/settings.js';
import type { KeyStore } from './keys/key-store.js';
import { openKeyStore, type OpenKeyStoreOptions } from './keys/open-key-store.js';
import { Pki } from './pki/pki.js';
import { DeviceTable } from './registry/devices.js';
import { JobTable } from './registry/jobs.js';
import { PolicyRegistry } from './registry/policies.js';
import { RecordTable } from './registry/records.js';
import { Registry } from './registry/registry.js';
import { TemplateRegistry } from './registry/templates.js';

export interface StationOptions {
  dataDir: string;
  /** Secrets for the key store (operator input); each falls back to its env variable, never stored. */
  keyStore?: Omit<OpenKeyStoreOptions, 'dataDir'>;
}

/**
 * The composition root (design.md 2): one data folder's registry, key store and the services on them.
 * Hosts (CLI, server, Electron) build a Station and serve the contract; they hold no logic of their own.
 * The key store opens on first use, so reading the registry never asks for a PIN or passphrase.
 */
export class Station {
  readonly jobs: JobTable;
  readonly records: RecordTable;
  readonly devices: DeviceTable;
  readonly policies: PolicyRegistry;
  readonly templates: TemplateRegistry;
  private keyStoreOpening: Promise<KeyStore> | undefined;
  private pkiInstance: Pki | undefined;

  private constructor(
    readonly dataDir: string,
    readonly settings: StationSettings,
    readonly registry: Registry,
    private readonly keyStoreOptions: Omit<OpenKeyStoreOptions, 'dataDir'>,
  ) {
    const reader = registry.reader;
    this.jobs = new JobTable(reader);
    this.records = new RecordTable(reader);
    this.devices = new DeviceTable(reader);
    this.policies = new PolicyRegistry(reader);
    this.templates = new TemplateRegistry(reader);
  }

  static async open(options: StationOptions): Promise<Station> {
    const settings = await requireSettings(options.dataDir);
    const registry = await Registry.open(registryFile(options.dataDir));
    return new Station(options.dataDir, settings, registry, options.keyStore ?? {});
  }

  keyStore(): Promise<KeyStore> {
    this.keyStoreOpening ??= openKeyStore(this.settings.keyStore, {
      dataDir: this.dataDir,
      ...this.keyStoreOptions,
    }).catch((error: unknown) => {
      this.keyStoreOpening = undefined; // a wrong PIN may be retried
      throw error;
    });
    return this.keyStoreOpening;
  }

  /** PKI services for reading and checking (CAs, certificates); opens no key store. */
  readOnlyPki(): Pki {
    return new Pki(this.registry, undefined);
  }

  /** PKI services with signing (opens the key store). */
  async pki(): Promise<Pki> {
    this.pkiInstance ??= new Pki(this.registry, await this.keyStore());
    return this.pkiInstance;
  }

  async close(): Promise<void> {
    const keyStore = await this.keyStoreOpening?.catch(() => undefined);
    await keyStore?.close();
    await this.registry.close();
  }
}
