import type {
  DeviceDriver,
  DeviceSession,
  DeviceSimulator,
} from '../../../hardware/drivers/device-driver.js';
import { openPtyDeviceEnd, startPtyPair } from '../../../hardware/sim/pty-pair.js';
import type { ByteLink } from '../../../hardware/transport/byte-link.js';
import { openSerialLink } from '../../../hardware/transport/serial-link.js';
import { expect } from 'vitest';

/** One station run on the module: its own serial link and session, as a fresh process would open them. */
export interface StationRun {
  link: ByteLink;
  session: DeviceSession;
  /** What crossed the link, in order: `rx` text from the module, `tx` what the station wrote. */
  traffic: string[];
  /**
   * Closes this run's port, as a killed station's closes, once `bytes` raw bytes have gone out after the
   * module's `prompt` (ESP-AT `>`, Quectel `CONNECT`); resolves when it is closed.
   */
  dieMidPayload(prompt: string, bytes: number): Promise<void>;
}

export interface ModuleOnPty {
  /** Opens a new station run on the module's pty. */
  station(): Promise<StationRun>;
}

/**
 * A simulated module on a real pty pair that outlives the station runs using it, as a powered module on
 * USB does: a run that goes away closes only its own end. Cleanups go to `cleanups`, last first.
 */
export async function moduleOnPty(
  driver: DeviceDriver,
  simulator: DeviceSimulator,
  cleanups: (() => void | Promise<void>)[],
): Promise<ModuleOnPty> {
  const pair = await startPtyPair();
  cleanups.push(() => pair.stop());
  simulator.attach(await openPtyDeviceEnd(pair));
  cleanups.push(() => simulator.close());

  const station = async (): Promise<StationRun> => {
    // RTS/CTS means nothing on a pty (protocols.md 6.7), whatever the driver wants on real hardware.
    const link = await openSerialLink(pair.hostPath, { ...driver.serial, rtscts: false });
    cleanups.push(() => link.close());
    const traffic: string[] = [];
    let received = '';
    let cut: { prompt: string; bytes: number; sent: number; closed: () => void } | undefined;
    link.onData((chunk) => {
      traffic.push(`rx ${chunk.toString('latin1')}`);
      if (cut) received += chunk.toString('latin1');
    });
    const logged: ByteLink = {
      port: link.port,
      get closed() {
        return link.closed;
      },
      write: async (data, signal) => {
        traffic.push(`tx ${Buffer.from(data).toString('latin1')}`);
        const written = link.write(data, signal);
        if (cut && received.includes(cut.prompt)) {
          cut.sent += data.length;
          if (cut.sent >= cut.bytes) {
            const { closed } = cut;
            cut = undefined;
            await written.catch(() => undefined);
            await link.close();
            closed();
          }
        }
        return written;
      },
      onData: (listener) => link.onData(listener),
      onClose: (listener) => link.onClose(listener),
      close: () => link.close(),
    };
    const dieMidPayload = (prompt: string, bytes: number): Promise<void> =>
      new Promise<void>((closed) => {
        received = '';
        cut = { prompt, bytes, sent: 0, closed };
      });
    return { link, session: await driver.open(logged), traffic, dieMidPayload };
  };
  return { station };
}

/**
 * The run reads `certificate` back and goes away (closes its port, as a killed station's closes) once more
 * than `bytes` have arrived after the line starting with `after` (the start of the raw data, e.g. Quectel's
 * CONNECT), or after the read began; the read fails with transport.disconnected.
 */
export async function expectCutOffReadBack(run: StationRun, bytes: number, after?: string): Promise<void> {
  let received = Buffer.alloc(0);
  /** Where the read's data begins in what arrived; undefined while the line starting with `after` is incomplete. */
  const dataStart = (): number | undefined => {
    if (after === undefined) return 0;
    const marker = received.indexOf(after);
    const lineEnd = marker === -1 ? -1 : received.indexOf('\n', marker);
    return lineEnd === -1 ? undefined : lineEnd + 1;
  };
  let closing: Promise<void> | undefined;
  const stopWatching = run.link.onData((chunk) => {
    received = Buffer.concat([received, chunk]);
    const start = dataStart();
    if (start !== undefined && received.length - start > bytes) {
      stopWatching();
      closing = run.link.close();
    }
  });
  await expect(run.session.readCredential('certificate')).rejects.toMatchObject({
    code: 'transport.disconnected',
  });
  // The read fails as the close begins; the port's lock is released only once the close completes. A
  // killed station's process lets go of it as it dies, so the next run must not find it held.
  await closing;
}

/** The run writes `certificate` again and reads it back: the module stores and returns exactly those bytes. */
export async function expectRewriteAndReadBack(
  run: StationRun,
  simulator: DeviceSimulator,
  certificate: Buffer,
): Promise<void> {
  await run.session.writeCredential('certificate', certificate);
  expect(Buffer.from(simulator.storedCredentials().get('certificate') ?? [])).toEqual(certificate);
  const readBack = await run.session.readCredential('certificate');
  expect(Buffer.from(readBack.bytes ?? [])).toEqual(certificate);
}
