/**
 * The simulated Quectel file system (protocols.md 3): `UFS:` persists, `RAM:` is lost on power-off; names
 * up to 80 bytes; a bare name means UFS. QFLST prints every file with its drive prefix.
 */
export type QuectelDrive = 'UFS' | 'RAM';

export interface QuectelFileName {
  drive: QuectelDrive;
  name: string;
}

const MAX_NAME_BYTES = 80;

/** Splits an optional drive prefix off; undefined for names a module would refuse with 406. */
export function parseQuectelFileName(text: string): QuectelFileName | undefined {
  const match = /^(UFS|RAM):(.*)$/i.exec(text);
  const drive = (match?.[1]?.toUpperCase() as QuectelDrive | undefined) ?? 'UFS';
  const name = match ? (match[2] ?? '') : text;
  if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME_BYTES || /[\\/:*?"<>|]/.test(name))
    return undefined;
  return { drive, name };
}

export function formatQuectelFileName(file: QuectelFileName): string {
  return `${file.drive}:${file.name}`;
}

export class QuectelDriveStore {
  private readonly files = new Map<string, Uint8Array>();

  constructor(readonly capacityBytes: number) {}

  get(name: string): Uint8Array | undefined {
    return this.files.get(name);
  }

  has(name: string): boolean {
    return this.files.has(name);
  }

  set(name: string, content: Uint8Array): void {
    this.files.set(name, content);
  }

  delete(name: string): boolean {
    return this.files.delete(name);
  }

  clear(): void {
    this.files.clear();
  }

  /** Files matching a QFLST pattern, where `*` and `?` are wildcards. */
  list(pattern: string): [string, Uint8Array][] {
    const expression = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
      'i',
    );
    return [...this.files].filter(([name]) => expression.test(name)).sort(([a], [b]) => a.localeCompare(b));
  }

  freeBytes(): number {
    let used = 0;
    for (const content of this.files.values()) used += content.length;
    return this.capacityBytes - used;
  }
}
