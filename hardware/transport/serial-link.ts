import type { ByteLink, SerialSettings } from './byte-link.js';
import { linkFromDuplex } from './duplex-link.js';
import { openSerialStream } from './serial-stream.js';

/**
 * Opens a serial port (or a pseudo-terminal path) as a ByteLink. RTS/CTS comes from the driver: real nRF91
 * DKs want it, ptys ignore it (protocols.md 6.7). A port unplugged mid-command closes the link, which the
 * channel above reports as transport.disconnected for this port.
 */
export async function openSerialLink(path: string, settings: SerialSettings): Promise<ByteLink> {
  const stream = await openSerialStream(path, settings);
  return linkFromDuplex(path, stream, { close: () => stream.close() });
}
