/**
 * The simulated `mfg_nvs` partition behind AT+SYSMFG (protocols.md 2): fixed namespaces, keys of at most
 * 15 characters (an NVS limit), typed values, and a finite capacity.
 */
export const SYSMFG_NAMESPACES = [
  'factory_param',
  'client_cert',
  'client_key',
  'client_ca',
  'server_cert',
  'server_key',
  'server_ca',
  'mqtt_cert',
  'mqtt_key',
  'mqtt_ca',
  'https_cert',
  'https_key',
  'https_ca',
  'wss_cert',
  'wss_key',
  'wss_ca',
  'wpa_ent_cert',
  'wpa_ent_key',
  'wpa_ent_ca',
] as const;

/** AT+SYSMFG value types: 1 u8, 2 i8, 3 u16, 4 i16, 5 u32, 6 i32, 7 string, 8 binary. */
export type SysmfgType = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;
export const SYSMFG_BINARY: SysmfgType = 8;
export const SYSMFG_STRING: SysmfgType = 7;

export interface NvsEntry {
  type: SysmfgType;
  /** Integers for types 1-6; bytes for 7 and 8. */
  value: number | Uint8Array;
}

/** NVS stores data in 32-byte entries plus one header entry per item; used space counts whole entries. */
const NVS_ENTRY_BYTES = 32;
const NVS_KEY_MAX = 15;

export class MfgNvs {
  private readonly namespaces = new Map<string, Map<string, NvsEntry>>(
    SYSMFG_NAMESPACES.map((name) => [name, new Map<string, NvsEntry>()]),
  );

  constructor(private readonly capacityBytes: number) {}

  namespaceNames(): string[] {
    return [...this.namespaces.keys()];
  }

  hasNamespace(namespace: string): boolean {
    return this.namespaces.has(namespace);
  }

  keys(namespace: string): [string, NvsEntry][] | undefined {
    const entries = this.namespaces.get(namespace);
    return entries && [...entries];
  }

  get(namespace: string, key: string): NvsEntry | undefined {
    return this.namespaces.get(namespace)?.get(key);
  }

  /** Whether the namespace exists and the key is a legal NVS key. */
  accepts(namespace: string, key: string): boolean {
    return this.namespaces.has(namespace) && key.length > 0 && key.length <= NVS_KEY_MAX;
  }

  /** Stores the value; false when it does not fit, the old value then stays. */
  set(namespace: string, key: string, entry: NvsEntry): boolean {
    const entries = this.namespaces.get(namespace);
    if (!entries || !this.accepts(namespace, key)) return false;
    const previous = entries.get(key);
    const usedWithout = this.usedBytes() - (previous ? entryFootprint(previous) : 0);
    if (usedWithout + entryFootprint(entry) > this.capacityBytes) return false;
    entries.set(key, entry);
    return true;
  }

  /** Erases one key, or the whole namespace when key is absent; false when there was nothing to erase. */
  erase(namespace: string, key?: string): boolean {
    const entries = this.namespaces.get(namespace);
    if (!entries) return false;
    if (key === undefined) {
      entries.clear();
      return true;
    }
    return entries.delete(key);
  }

  usedBytes(): number {
    let used = 0;
    for (const entries of this.namespaces.values()) {
      for (const entry of entries.values()) used += entryFootprint(entry);
    }
    return used;
  }
}

function entryFootprint(entry: NvsEntry): number {
  const dataBytes = typeof entry.value === 'number' ? 0 : entry.value.length;
  return NVS_ENTRY_BYTES * (1 + Math.ceil(dataBytes / NVS_ENTRY_BYTES));
}
