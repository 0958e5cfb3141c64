import 'reflect-metadata';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { Pkcs10CertificateRequest } from '@peculiar/x509';
import { beforeEach, describe, expect, it } from 'vitest';
import { JsonlDevice, type JsonlResponse } from './jsonl-device.js';
import { crc32Hex, encodeLine, sha256Hex } from './protocol.js';

let nextId = 1;
let device: JsonlDevice;

function ask(device: JsonlDevice, body: Record<string, unknown>): Promise<JsonlResponse> {
  const line = encodeLine({ id: nextId++, ...body });
  return device.answer(line.subarray(0, line.length - 1));
}

async function ok(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await ask(device, body);
  if (!response.ok) throw new Error(`expected ok, got ${JSON.stringify(response)}`);
  return response;
}

async function errorCode(body: Record<string, unknown>): Promise<string> {
  const response = await ask(device, body);
  if (response.ok) throw new Error(`expected an error, got ${JSON.stringify(response)}`);
  return response.err.code;
}

function chunk(slot: string, off: number, bytes: Buffer) {
  return { cmd: 'write.chunk', slot, off, data: bytes.toString('base64'), crc: crc32Hex(bytes) };
}

async function writeAll(slot: string, content: Buffer): Promise<void> {
  await ok({ cmd: 'write.begin', slot, len: content.length, sha256: sha256Hex(content) });
  for (let off = 0; off < content.length; off += 256)
    await ok(chunk(slot, off, content.subarray(off, off + 256)));
  await ok({ cmd: 'write.commit', slot });
}

const certificate = Buffer.from(
  `-----BEGIN CERTIFICATE-----\n${'A'.repeat(1100)}\n-----END CERTIFICATE-----\n`,
);

beforeEach(() => {
  device = new JsonlDevice({
    deviceId: 'JL0001',
    model: 'test',
    firmware: '1.0.0',
    slotCapacity: { ca: 4096, certificate: 2048, key: 2048 },
  });
});

describe('the reference jsonl device', () => {
  it('introduces itself with protocol version, identity, capabilities and limits', async () => {
    const hello = await ok({ cmd: 'hello', proto: 1 });
    expect(hello).toMatchObject({
      proto: 1,
      device: 'JL0001',
      caps: { keygen: true, keyInject: true, sign: true, readBack: 'full' },
      slots: { ca: 4096, certificate: 2048, key: 2048 },
      maxLine: 1024,
      chunk: 256,
    });
    expect(await errorCode({ cmd: 'hello', proto: 2 })).toBe('proto.version');
  });

  it('answers bad JSON with id 0 and unknown commands with their id', async () => {
    const bad = await device.answer(Buffer.from('{"id":5,"cmd":'));
    expect(bad).toMatchObject({ id: 0, ok: false, err: { code: 'proto.bad-json' } });
    const unknown = await device.answer(Buffer.from('{"id":6,"cmd":"format"}'));
    expect(unknown).toMatchObject({ id: 6, ok: false, err: { code: 'proto.unknown-cmd' } });
    expect(await errorCode({ cmd: 'slot.read', slot: 'ca', off: 0, max: 4096 })).toBe('proto.bad-args');
  });

  it('stores a chunked write byte-exact and reads it back with the same digest', async () => {
    await writeAll('certificate', certificate);
    expect(Buffer.from(device.storedBytes('certificate') ?? [])).toEqual(certificate);
    expect(await ok({ cmd: 'slot.digest', slot: 'certificate' })).toMatchObject({
      present: true,
      len: certificate.length,
      sha256: sha256Hex(certificate),
    });
    const read = await ok({ cmd: 'slot.read', slot: 'certificate', off: 256, max: 256 });
    expect(Buffer.from(read.data as string, 'base64')).toEqual(certificate.subarray(256, 512));
    expect(read.len).toBe(certificate.length);
  });

  it('never commits a torn write: a missing chunk fails the commit and the old content stays', async () => {
    await writeAll('certificate', certificate);
    const replacement = Buffer.from(certificate.toString().replace(/A/g, 'B'));
    await ok({
      cmd: 'write.begin',
      slot: 'certificate',
      len: replacement.length,
      sha256: sha256Hex(replacement),
    });
    await ok(chunk('certificate', 0, replacement.subarray(0, 256)));
    expect(await errorCode({ cmd: 'write.commit', slot: 'certificate' })).toBe('write.length');
    expect(Buffer.from(device.storedBytes('certificate') ?? [])).toEqual(certificate);
    // The staging is gone after a failed commit: the host must begin again.
    expect(await errorCode({ cmd: 'write.commit', slot: 'certificate' })).toBe('write.not-begun');
  });

  it('drops an unfinished write on reset, as a power cycle would', async () => {
    await ok({ cmd: 'write.begin', slot: 'ca', len: certificate.length, sha256: sha256Hex(certificate) });
    await ok(chunk('ca', 0, certificate.subarray(0, 256)));
    device.reset();
    expect(await errorCode(chunk('ca', 256, certificate.subarray(256, 512)))).toBe('write.not-begun');
    expect(await ok({ cmd: 'slot.digest', slot: 'ca' })).toEqual({
      id: expect.any(Number),
      ok: true,
      present: false,
    });
  });

  it('refuses a chunk whose CRC does not match, out of order or past the length, and keeps the staging', async () => {
    const content = certificate.subarray(0, 300);
    await ok({ cmd: 'write.begin', slot: 'ca', len: 300, sha256: sha256Hex(content) });
    const first = content.subarray(0, 256);
    expect(await errorCode({ ...chunk('ca', 0, first), crc: '00000000' })).toBe('payload.crc');
    expect(await errorCode(chunk('ca', 256, content.subarray(256)))).toBe('write.offset');
    await ok(chunk('ca', 0, first));
    expect(await errorCode(chunk('ca', 256, certificate.subarray(256, 512)))).toBe('write.length');
    await ok(chunk('ca', 256, content.subarray(256)));
    await ok({ cmd: 'write.commit', slot: 'ca' });
  });

  it('refuses a commit whose bytes do not match the announced SHA-256', async () => {
    const content = Buffer.from('hello');
    await ok({ cmd: 'write.begin', slot: 'ca', len: 5, sha256: sha256Hex(Buffer.from('HELLO')) });
    await ok(chunk('ca', 0, content));
    expect(await errorCode({ cmd: 'write.commit', slot: 'ca' })).toBe('write.digest');
    expect(device.storedBytes('ca')).toBeUndefined();
  });

  it('refuses a write larger than the slot', async () => {
    expect(
      await errorCode({ cmd: 'write.begin', slot: 'certificate', len: 2049, sha256: sha256Hex(certificate) }),
    ).toBe('slot.too-large');
  });

  it('makes a real P-256 key and CSR, and signs challenges with that key', async () => {
    expect(await errorCode({ cmd: 'sign', challenge: 'AAEC', crc: crc32Hex(Buffer.from([0, 1, 2])) })).toBe(
      'key.none',
    );
    const keygen = await ok({ cmd: 'keygen', cn: 'thing-42' });
    const der = Buffer.from(keygen.csr as string, 'base64');
    expect(crc32Hex(der)).toBe(keygen.crc);
    const csr = new Pkcs10CertificateRequest(der);
    expect(csr.subject).toBe('CN=thing-42');
    expect(await csr.verify()).toBe(true);

    const challenge = Buffer.from('proof of possession 0123456789ab');
    const signed = await ok({
      cmd: 'sign',
      challenge: challenge.toString('base64'),
      crc: crc32Hex(challenge),
    });
    const publicKey = createPublicKey({
      key: Buffer.from(csr.publicKey.rawData),
      format: 'der',
      type: 'spki',
    });
    expect(verify('sha256', challenge, publicKey, Buffer.from(signed.sig as string, 'base64'))).toBe(true);

    // The key slot reports the public key's digest and is never read out.
    expect((await ok({ cmd: 'slot.digest', slot: 'key' })).sha256).toBe(
      sha256Hex(Buffer.from(csr.publicKey.rawData)),
    );
    expect(await errorCode({ cmd: 'slot.read', slot: 'key', off: 0, max: 16 })).toBe('slot.protected');
  });

  it('takes an injected P-256 key and signs with it; refuses other keys', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeAll('key', Buffer.from(privateKey.export({ format: 'pem', type: 'pkcs8' })));
    const challenge = Buffer.from('nonce');
    const signed = await ok({
      cmd: 'sign',
      challenge: challenge.toString('base64'),
      crc: crc32Hex(challenge),
    });
    expect(verify('sha256', challenge, publicKey, Buffer.from(signed.sig as string, 'base64'))).toBe(true);

    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const rsaPem = Buffer.from(rsa.export({ format: 'pem', type: 'pkcs8' }));
    await ok({ cmd: 'write.begin', slot: 'key', len: rsaPem.length, sha256: sha256Hex(rsaPem) });
    for (let off = 0; off < rsaPem.length; off += 256)
      await ok(chunk('key', off, rsaPem.subarray(off, off + 256)));
    expect(await errorCode({ cmd: 'write.commit', slot: 'key' })).toBe('key.invalid');
  });

  it('deletes a slot idempotently', async () => {
    await writeAll('ca', certificate);
    expect(await ok({ cmd: 'slot.delete', slot: 'ca' })).toMatchObject({ existed: true });
    expect(await ok({ cmd: 'slot.delete', slot: 'ca' })).toMatchObject({ existed: false });
    expect(await errorCode({ cmd: 'slot.read', slot: 'ca', off: 0, max: 16 })).toBe('slot.empty');
  });
});
