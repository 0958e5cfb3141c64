import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { received } from '../../test/helpers/byte-links.js';
import { openSerialLink, type SerialLink } from '../transport/serial-link.js';
import { openPtyMasters, type PtyMaster } from './pty-master.js';

const masters: PtyMaster[] = [];
const hosts: SerialLink[] = [];

async function openHost(path: string): Promise<SerialLink> {
  const link = await openSerialLink(path, { baudRate: 115_200, rtscts: false });
  hosts.push(link);
  return link;
}

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((link) => link.close()));
  await Promise.all(masters.splice(0).map((master) => master.link.close()));
});

describe('openPtyMasters', () => {
  it('opens distinct ptys whose host ends carry bytes both ways, raw', async () => {
    masters.push(...(await openPtyMasters(2)));
    const [first, second] = masters as [PtyMaster, PtyMaster];
    expect(first.hostPath).toMatch(/^\/dev\/pts\/\d+$/);
    expect(second.hostPath).not.toBe(first.hostPath);
    const host = await openHost(first.hostPath);
    // CR, LF and ^C pass untouched: no line discipline, echo or signals on the way.
    const toDevice = Buffer.from('AT+CGSN\r\n\x03\x00\xff');
    const atDevice = received(first.link, toDevice.length);
    await host.write(toDevice);
    expect((await atDevice).equals(toDevice)).toBe(true);
    const toHost = Buffer.from('\r\n+CGSN: 1\r\nOK\r\n');
    const atHost = received(host, toHost.length);
    await first.link.write(toHost);
    expect((await atHost).equals(toHost)).toBe(true);
  });

  it('lets the host close and reopen its port without hanging the device end up', async () => {
    const [master] = await openPtyMasters(1);
    masters.push(master!);
    const first = await openHost(master!.hostPath);
    await first.close();
    const again = await openHost(master!.hostPath);
    const atDevice = received(master!.link, 4);
    await again.write(Buffer.from('AT\r\n'));
    expect((await atDevice).toString()).toBe('AT\r\n');
    expect(master!.link.closed).toBe(false);
  });

  it('hangs the host up with transport.disconnected when the device end closes (an unplug)', async () => {
    const [master] = await openPtyMasters(1);
    masters.push(master!);
    const host = await openHost(master!.hostPath);
    const closed = new Promise<Error | undefined>((resolve) => host.onClose(resolve));
    await master!.link.close();
    expect(await closed).toMatchObject({ code: 'transport.disconnected', port: master!.hostPath });
  });

  it('runs perl without the key store secrets in its environment', async () => {
    // A perl ahead of the real one on PATH writes down the environment it was given.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'station-perl-env-'));
    try {
      const seen = path.join(dir, 'environment');
      writeFileSync(path.join(dir, 'perl'), `#!/bin/sh\nenv > '${seen}'\nexec /usr/bin/perl "$@"\n`);
      chmodSync(path.join(dir, 'perl'), 0o755);
      vi.stubEnv('PATH', `${dir}:${process.env.PATH}`);
      vi.stubEnv('STATION_HSM_PIN', 'pin-for-the-station-only');
      vi.stubEnv('STATION_SOFT_PASSPHRASE', 'passphrase for the station only');
      masters.push(...(await openPtyMasters(1).finally(() => vi.unstubAllEnvs())));
      const environment = readFileSync(seen, 'utf8');
      expect(environment).toContain('PATH=');
      expect(environment).not.toContain('STATION_');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
