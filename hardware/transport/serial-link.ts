import { SerialPort } from 'serialport';
import type { ByteLink, SerialSettings } from './byte-link.js';
import { linkFromDuplex } from './duplex-link.js';
import { openFailed } from './transport-errors.js';

/**
 * Opens a serial port (or a pseudo-terminal path) as a ByteLink. RTS/CTS comes from the driver: real nRF91
 * DKs want it, ptys ignore it (protocols.md 6.7). A port unplugged mid-command closes the link, which the
 * channel above reports as transport.disconnected for this port.
 */
export async function openSerialLink(path: string, settings: SerialSettings): Promise<ByteLink> {
  const port = new SerialPort({
    path,
    baudRate: settings.baudRate,
    rtscts: settings.rtscts,
    autoOpen: false,
  });
  await new Promise<void>((resolve, reject) => {
    port.open((error) => (error ? reject(openFailed(path, error)) : resolve()));
  });
  return linkFromDuplex(path, port, {
    close: () =>
      new Promise<void>((resolve) => {
        if (!port.isOpen) {
          resolve();
          return;
        }
        // A close error means the port is already gone: nothing left to release.
        port.close(() => resolve());
      }),
  });
}
