import { StationError } from '../../src/api/errors.js';

/**
 * The transport's failures, each naming the port so one bad bench slot never reads like a station fault.
 * Codes are those the AtChannelContract promises (at-channel-contract.ts).
 */
export function disconnected(port: string, cause?: unknown): StationError {
  return new StationError(
    'transport.disconnected',
    `The device on ${port} went away; check the cable and plug it in again.`,
    { port, cause },
  );
}

export function timedOut(port: string, what: string, timeoutMs: number): StationError {
  return new StationError(
    'transport.timeout',
    `The device on ${port} did not answer ${what} within ${timeoutMs} ms; re-plug it and try again.`,
    { port, details: { command: what, timeoutMs } },
  );
}

export function aborted(port: string, what: string): StationError {
  return new StationError('transport.aborted', `${what} on ${port} was cancelled.`, {
    port,
    details: { command: what },
  });
}

export function lineTooLong(port: string, what: string, maxLineBytes: number): StationError {
  return new StationError(
    'transport.line-too-long',
    `The device on ${port} sent a line longer than ${maxLineBytes} bytes while answering ${what}; it may run other firmware than expected.`,
    { port, details: { command: what, maxLineBytes } },
  );
}

export function garbled(port: string, what: string): StationError {
  return new StationError(
    'transport.garbled',
    `The device on ${port} sent unreadable bytes while answering ${what}; check the baud rate and the cable.`,
    { port, details: { command: what } },
  );
}

/** What a technician can do about a port that would not open, by the OS's words for why. */
const openAdvice: [RegExp, string][] = [
  [/no such file or directory/i, 'there is no such port: is the device plugged in, and is the path right?'],
  [/permission denied/i, 'permission denied: add this user to the dialout group, then log in again.'],
  [
    /cannot lock port|resource temporarily unavailable|busy/i,
    'another program holds it (a serial monitor, ModemManager, another station): close it.',
  ],
  [/inappropriate ioctl/i, 'it is not a serial port.'],
];

export function openFailed(port: string, cause: unknown): StationError {
  const reason = (cause instanceof Error ? cause.message : String(cause)).replace(/^Error:?\s*/, '');
  const advice =
    openAdvice.find(([pattern]) => pattern.test(reason))?.[1] ??
    'check the cable and that no other program holds it.';
  return new StationError('transport.open-failed', `Could not open ${port}: ${advice} (${reason})`, {
    port,
    cause,
  });
}

/** The serial port list could not be read: nothing plugged can be found until it can. */
export function portScanFailed(cause: unknown): StationError {
  const reason = (cause instanceof Error ? cause.message : String(cause)).replace(/^Error:?\s*/, '');
  // serialport lists Linux ports with udevadm, which minimal systems (containers) lack.
  const advice = /udevadm/.test(reason) ? 'udevadm is missing (install the udev package)' : reason;
  return new StationError(
    'transport.port-scan-failed',
    `Cannot list the serial ports: ${advice}. Ports given by path still work: --ports /dev/ttyACM0 ... --driver NAME.`,
    { cause },
  );
}
