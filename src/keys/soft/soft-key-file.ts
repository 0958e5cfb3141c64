import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { StationError } from '../../api/errors.js';
import { keyAlgorithms } from '../key-store.js';

/**
 * The soft key store's file: a JSON envelope whose only secret-bearing part is AES-256-GCM ciphertext
 * under a key derived from the passphrase with scrypt. The envelope header is authenticated too (GCM
 * additional data), so its KDF parameters cannot be swapped.
 */

const format = 'station-soft-key-store';
const scryptDefaults = { N: 2 ** 15, r: 8, p: 1 };
/** Upper bounds for a file's KDF parameters, so a crafted file cannot make opening it take hours. */
const scryptLimits = { N: 2 ** 20, r: 16, p: 4 };
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

const headerSchema = z.object({
  format: z.literal(format),
  version: z.literal(1),
  notice: z.string(),
  kdf: z.object({
    name: z.literal('scrypt'),
    salt: base64,
    N: z.number().int().min(2).max(scryptLimits.N),
    r: z.number().int().min(1).max(scryptLimits.r),
    p: z.number().int().min(1).max(scryptLimits.p),
  }),
  cipher: z.literal('aes-256-gcm'),
});
type Header = z.infer<typeof headerSchema>;

const envelopeSchema = headerSchema.extend({ iv: base64, tag: base64, ciphertext: base64 });

const storedKeySchema = z.object({
  id: z.string().regex(/^[0-9a-f]+$/),
  label: z.string(),
  algorithm: z.enum(keyAlgorithms),
  /** Files written before claim keys existed hold CA keys only. */
  purpose: z.enum(['ca', 'claim']).default('ca'),
  /** PKCS#8 DER, base64: only ever inside the ciphertext. */
  pkcs8: base64,
});
export type StoredKey = z.output<typeof storedKeySchema>;

// destroyed: ids of keys destroyed here, so a store that read one before does not write it back, while a
// key merely missing (a file put back from a backup) is written again.
const contentsSchema = z.object({
  keys: z.array(storedKeySchema),
  destroyed: z.array(z.string()).default([]),
});
export type KeyFileContents = z.output<typeof contentsSchema>;

/** The derived file key and the header it belongs with; the passphrase itself is not kept. */
export interface SoftKeyFileKey {
  readonly header: Header;
  readonly key: Buffer;
}

function deriveKey(passphrase: string, kdf: Header['kdf']): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const { N, r, p } = kdf;
    // scrypt needs 128 * N * r bytes; node's default ceiling (32 MiB) is just below that for N = 2^15.
    scrypt(
      passphrase,
      Buffer.from(kdf.salt, 'base64'),
      32,
      { N, r, p, maxmem: 256 * N * r + 1024 },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

function headerBytes(header: Header): Buffer {
  const { format: f, version, notice, kdf, cipher } = header;
  return Buffer.from(JSON.stringify({ format: f, version, notice, kdf, cipher }), 'utf8');
}

function corrupt(file: string, reason: string): StationError {
  return new StationError(
    'keys.soft-file-corrupt',
    `The software key file ${path.basename(file)} is damaged (${reason}): restore it from a backup.`,
    { subject: file, userFault: true },
  );
}

/** A fresh header and key for a new file. */
export async function newFileKey(passphrase: string): Promise<SoftKeyFileKey> {
  const header: Header = {
    format,
    version: 1,
    notice: 'Software key store: NOT an HSM. Keys are encrypted with a passphrase.',
    kdf: { name: 'scrypt', salt: randomBytes(16).toString('base64'), ...scryptDefaults },
    cipher: 'aes-256-gcm',
  };
  return { header, key: await deriveKey(passphrase, header.kdf) };
}

type Envelope = z.infer<typeof envelopeSchema>;

/** Whether the key file is there (a store opened on a missing one creates it). */
export async function keyFileExists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

async function readEnvelope(file: string): Promise<Envelope | undefined> {
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw corrupt(file, 'not JSON');
  }
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) throw corrupt(file, 'unknown layout');
  return parsed.data;
}

function decryptEnvelope(file: string, envelope: Envelope, fileKey: SoftKeyFileKey): KeyFileContents {
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', fileKey.key, Buffer.from(envelope.iv, 'base64'));
    decipher.setAAD(headerBytes(fileKey.header));
    decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
    plaintext = Buffer.concat([
      decipher.update(Buffer.from(envelope.ciphertext, 'base64')),
      decipher.final(),
    ]);
  } catch {
    // GCM cannot tell a wrong key from altered bytes; a wrong passphrase is by far the likelier.
    throw new StationError(
      'keys.wrong-passphrase',
      'Wrong passphrase for the software key store (or its file was altered).',
      { field: 'passphrase', subject: path.basename(file) },
    );
  }
  try {
    const contents = contentsSchema.safeParse(JSON.parse(plaintext.toString('utf8')));
    if (!contents.success) throw corrupt(file, 'unknown contents');
    return contents.data;
  } catch (error) {
    if (error instanceof StationError) throw error;
    throw corrupt(file, 'unreadable contents');
  } finally {
    plaintext.fill(0);
  }
}

/** Reads and decrypts the file; undefined when it does not exist. */
export async function readKeyFile(
  file: string,
  passphrase: string,
): Promise<({ fileKey: SoftKeyFileKey } & KeyFileContents) | undefined> {
  const envelope = await readEnvelope(file);
  if (!envelope) return undefined;
  const header: Header = headerSchema.parse(envelope);
  const fileKey = { header, key: await deriveKey(passphrase, header.kdf) };
  try {
    return { fileKey, ...decryptEnvelope(file, envelope, fileKey) };
  } catch (error) {
    fileKey.key.fill(0);
    throw error;
  }
}

/**
 * Reads the file again with the key already derived, to pick up what another store (another process) wrote
 * since. A file re-created under another passphrase is refused rather than overwritten.
 */
export async function rereadKeyFile(file: string, fileKey: SoftKeyFileKey): Promise<KeyFileContents> {
  const envelope = await readEnvelope(file);
  if (!envelope) return { keys: [], destroyed: [] };
  if (!headerBytes(headerSchema.parse(envelope)).equals(headerBytes(fileKey.header))) {
    throw new StationError(
      'keys.soft-file-replaced',
      `The software key file ${path.basename(file)} was replaced while the station had it open: restart the station.`,
      { subject: file },
    );
  }
  return decryptEnvelope(file, envelope, fileKey);
}

/** How long a write waits for another process's; a write holds the lock for milliseconds. */
const lockWaitMs = 10_000;
/** A lock this old was left by a process killed while writing. */
const staleLockMs = 30_000;

/**
 * Runs `work` (read the file, merge, write it back) while no other process does the same: an exclusive
 * lock file beside the key file. Without it two station processes (ca create beside claim create) each
 * write back what they read, and one drops the other's new keys.
 */
export async function withKeyFileLock<T>(file: string, work: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + lockWaitMs;
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      await handle.writeFile(String(process.pid)).finally(() => handle.close());
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = await stat(lock).then(
        (held) => Date.now() - held.mtimeMs,
        () => 0,
      );
      if (age > staleLockMs) {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new StationError(
          'keys.soft-file-locked',
          `The software key file ${path.basename(file)} stays locked by another station process (${path.basename(lock)}); try again, or delete the lock file if no station runs.`,
          { subject: file },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
  try {
    return await work();
  } finally {
    await rm(lock, { force: true });
  }
}

/**
 * Encrypts and writes the keys atomically: a temp file beside the target (holding only ciphertext, like
 * the target) is synced and renamed over it, so a crash leaves the old file or the new one, never half.
 */
export async function writeKeyFile(
  file: string,
  fileKey: SoftKeyFileKey,
  contents: KeyFileContents,
): Promise<void> {
  const plaintext = Buffer.from(JSON.stringify(contents), 'utf8');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', fileKey.key, iv);
  cipher.setAAD(headerBytes(fileKey.header));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  plaintext.fill(0);
  const envelope = {
    ...fileKey.header,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(envelope, null, 2)}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
