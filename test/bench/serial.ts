// `npm run bench -- serial [runs]`: for each catalogued driver, a full credential write (CA + certificate,
// + key where the device takes one) to its simulator over an in-memory pair paced as a 115,200 baud UART in
// both directions. Prints the bytes on the wire, the time per write, the wire-time lower bound
// (bytes x 10 / baud) and their ratio, next to a baseline: the same write unpaced, measured in this run.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CredentialSlot, SimulatorOptions } from '../../hardware/drivers/device-driver.js';
import { catalogueDriverNames, catalogueEntry } from '../../hardware/drivers/index.js';
import { createMemoryPair } from '../../hardware/sim/memory-pair.js';
import { wireTimeMs } from '../../hardware/sim/sim-wire.js';
import type { ByteLink } from '../../hardware/transport/byte-link.js';
import { linkFromDuplex } from '../../hardware/transport/duplex-link.js';
import { toPem } from '../../src/pki/pem.js';

const baudRate = 115_200;

interface Credentials {
  ca: Uint8Array;
  certificate: Uint8Array;
  key: Uint8Array;
}

interface WriteMeasure {
  ms: number;
  txBytes: number;
  rxBytes: number;
}

export default async function serialBench(args: string[]): Promise<void> {
  const runs = Math.max(1, Number(args[0] ?? 5) || 5);
  const credentials = await realisticCredentials();
  console.log(
    `credentials: CA ${credentials.ca.length} B, certificate ${credentials.certificate.length} B, key ${credentials.key.length} B (PEM); ${runs} runs per driver, median`,
  );
  console.log(`pacing: ${baudRate} baud, 10 bits per byte, both directions\n`);
  const header = [
    'driver',
    'slots',
    'tx B',
    'rx B',
    'wire bound ms',
    'paced ms',
    'paced/bound',
    'baseline ms',
    'paced/baseline',
  ];
  const rows: string[][] = [];
  for (const name of catalogueDriverNames()) {
    const baseline = median(await measureRuns(name, credentials, runs, {}));
    const paced = await measureRuns(name, credentials, runs, { baudRate });
    const pacedMs = median(paced);
    const { txBytes, rxBytes, slots } = paced[0]!;
    const boundMs = wireTimeMs(txBytes + rxBytes, baudRate);
    rows.push([
      name,
      slots.join('+'),
      String(txBytes),
      String(rxBytes),
      boundMs.toFixed(1),
      pacedMs.toFixed(1),
      (pacedMs / boundMs).toFixed(2),
      baseline.toFixed(1),
      (pacedMs / baseline).toFixed(1),
    ]);
  }
  printTable(header, rows);
  console.log(
    '\nwire bound = (tx + rx bytes) x 10 / baud: request and answer take turns, so both directions count.',
  );
}

async function measureRuns(
  name: string,
  credentials: Credentials,
  runs: number,
  options: SimulatorOptions,
): Promise<Array<WriteMeasure & { slots: CredentialSlot[] }>> {
  const results: Array<WriteMeasure & { slots: CredentialSlot[] }> = [];
  for (let run = 0; run < runs; run += 1)
    results.push(await measureOneWrite(name, credentials, run, options));
  return results;
}

/** One fresh simulated device: open a session, then time the full credential write alone. */
async function measureOneWrite(
  name: string,
  credentials: Credentials,
  seed: number,
  options: SimulatorOptions,
): Promise<WriteMeasure & { slots: CredentialSlot[] }> {
  const entry = catalogueEntry(name);
  const simulator = entry.createSimulator({ ...options, seed });
  const pair = createMemoryPair();
  simulator.attach(pair.device);
  const counted = countingLink(linkFromDuplex(`bench:${name}`, pair.host));
  const session = await entry.driver.open(counted.link, { timeoutMs: 30_000 });
  try {
    const slots: CredentialSlot[] = ['ca', 'certificate'];
    if (session.capabilities().keyInjection) slots.push('key');
    counted.reset();
    const started = performance.now();
    for (const slot of slots) await session.writeCredential(slot, credentials[slot], { timeoutMs: 30_000 });
    const ms = performance.now() - started;
    return { ms, txBytes: counted.tx, rxBytes: counted.rx, slots };
  } finally {
    await session.close().catch(() => undefined);
    simulator.close();
  }
}

/** Counts the bytes crossing a link in each direction. */
function countingLink(link: ByteLink) {
  const counts = { tx: 0, rx: 0 };
  link.onData((chunk) => (counts.rx += chunk.length));
  const counted: ByteLink = {
    port: link.port,
    get closed() {
      return link.closed;
    },
    write(data, signal) {
      counts.tx += data.length;
      return link.write(data, signal);
    },
    onData: (listener) => link.onData(listener),
    onClose: (listener) => link.onClose(listener),
    close: () => link.close(),
  };
  return {
    link: counted,
    get tx() {
      return counts.tx;
    },
    get rx() {
      return counts.rx;
    },
    reset() {
      counts.tx = 0;
      counts.rx = 0;
    },
  };
}

/**
 * Sizes as a cloud provisioning writes them: an RSA-2048 root (Amazon Root CA 1 is 1,188 bytes of PEM), a
 * device certificate the RSA CA signed for a P-256 key (about 1.2 KB), and the P-256 key as PKCS#8 PEM.
 */
async function realisticCredentials(): Promise<Credentials> {
  const rsa = {
    name: 'RSASSA-PKCS1-v1_5',
    hash: 'SHA-256',
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength: 2048,
  };
  const ec = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];
  const caKeys = (await webcrypto.subtle.generateKey(rsa, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const deviceKeys = (await webcrypto.subtle.generateKey(ec, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const validity = {
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2046-01-01T00:00:00Z'),
  };
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '066c9fcf99bf8c0a39e2f0788a43e696365bca',
      name: 'C=US, O=Bench Factory, CN=Bench Factory Root CA 1',
      ...validity,
      keys: caKeys,
      signingAlgorithm: rsa,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '5a3c1e9b7d2f40c8a6e1b3d5f7092c4e6a8b0d12',
      subject: 'C=DE, O=Bench Devices GmbH, OU=Line 3 Provisioning, CN=thing-bench-0001-5a3c1e9b7d2f40c8',
      issuer: ca.subject,
      ...validity,
      publicKey: deviceKeys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: rsa,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: 'url', value: 'urn:thing:bench:thing-bench-0001-5a3c1e9b7d2f40c8' },
          { type: 'dns', value: 'thing-bench-0001.devices.bench.example' },
        ]),
        await x509.SubjectKeyIdentifierExtension.create(deviceKeys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', deviceKeys.privateKey));
  const keyPem = toPem('PRIVATE KEY', pkcs8);
  return {
    ca: Buffer.from(`${ca.toString('pem')}\n`),
    certificate: Buffer.from(`${certificate.toString('pem')}\n`),
    key: Buffer.from(keyPem),
  };
}

function median(values: Array<{ ms: number }>): number {
  const sorted = values.map((value) => value.ms).sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: string[]) => cells.map((cell, column) => cell.padStart(widths[column]!)).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}
