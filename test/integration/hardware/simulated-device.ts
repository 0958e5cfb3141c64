import type {
  DeviceDriver,
  DeviceOperationOptions,
  DeviceSession,
  DeviceSimulator,
} from '../../../hardware/drivers/device-driver.js';
import { createMemoryPair } from '../../../hardware/sim/memory-pair.js';
import { openPtyDeviceEnd, startPtyPair } from '../../../hardware/sim/pty-pair.js';
import type { ByteLink } from '../../../hardware/transport/byte-link.js';
import { linkFromDuplex } from '../../../hardware/transport/duplex-link.js';
import { openSerialLink } from '../../../hardware/transport/serial-link.js';

export type SimulatedTransport = 'memory' | 'pty';

/** A simulator wired to a host link, in memory or over a real pty pair (socat, serialport both sides). */
export interface SimulatedDevice {
  readonly port: string;
  readonly link: ByteLink;
  readonly simulator: DeviceSimulator;
  /** socat's pid for pty devices, to check nothing is left behind. */
  readonly socatPid?: number;
  open(options?: DeviceOperationOptions): Promise<DeviceSession>;
  dispose(): Promise<void>;
}

let memoryPorts = 0;

export async function connectSimulatedDevice(
  driver: DeviceDriver,
  simulator: DeviceSimulator,
  transport: SimulatedTransport,
): Promise<SimulatedDevice> {
  const sessions: DeviceSession[] = [];
  const open = async (link: ByteLink, options?: DeviceOperationOptions): Promise<DeviceSession> => {
    const session = await driver.open(link, options);
    sessions.push(session);
    return session;
  };
  const closeSessions = async (): Promise<void> => {
    await Promise.all(sessions.map((session) => session.close().catch(() => undefined)));
  };

  if (transport === 'memory') {
    const pair = createMemoryPair();
    simulator.attach(pair.device);
    const link = linkFromDuplex(`mem${++memoryPorts}`, pair.host);
    return {
      port: link.port,
      link,
      simulator,
      open: (options) => open(link, options),
      async dispose() {
        await closeSessions();
        simulator.close();
        await link.close();
      },
    };
  }

  const pair = await startPtyPair();
  try {
    simulator.attach(await openPtyDeviceEnd(pair));
    // RTS/CTS means nothing on a pty (protocols.md 6.7), whatever the driver wants on real hardware.
    const link = await openSerialLink(pair.hostPath, { ...driver.serial, rtscts: false });
    return {
      port: link.port,
      link,
      simulator,
      socatPid: pair.socatPid,
      open: (options) => open(link, options),
      async dispose() {
        await closeSessions();
        await link.close();
        simulator.close();
        await pair.stop();
      },
    };
  } catch (error) {
    simulator.close();
    await pair.stop();
    throw error;
  }
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
