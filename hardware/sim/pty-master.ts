import { autoDetect, type BindingPortInterface } from '@serialport/bindings-cpp';
import { Poller } from '@serialport/bindings-cpp/dist/poller.js';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { childEnvironment } from '../../src/api/child-environment.js';
import { StationError } from '../../src/api/errors.js';
import { SerialLink, type PolledFd } from '../transport/serial-link.js';

/**
 * A pseudo-terminal whose master end this process holds, for a simulated device: the host opens
 * `hostPath` (/dev/pts/N) as a serial port and the simulator reads and writes the master, with nothing
 * between them. (A socat pair copies every byte through a third process, which a USB device does not
 * have; at 32 busy ports those extra wake-ups are a visible part of every answer's delay.)
 */
export interface PtyMaster {
  readonly hostPath: string;
  /** The device end. Closing it hangs the host's port up, as unplugging a USB device does. */
  readonly link: SerialLink;
}

// Linux's ioctl numbers (asm-generic: x86-64, arm64): unlock the slave, read its index.
const TIOCSPTLCK = 0x40045431;
const TIOCGPTN = 0x80045430;

// Node has no ioctl. perl (perl-base, part of every Debian system) unlocks each master it inherits and
// prints its slave's index; the masters stay this process's, the child only borrows them.
const unlockScript = `
for my $fd (@ARGV) {
  open(my $m, '+<&=', $fd) or die "fd $fd: $!\\n";
  my $unlock = pack('i', 0);
  ioctl($m, ${TIOCSPTLCK}, $unlock) or die "unlockpt: $!\\n";
  my $index = pack('i', 0);
  ioctl($m, ${TIOCGPTN}, $index) or die "ptsname: $!\\n";
  print unpack('i', $index), "\\n";
}`;

/** Opens `count` pseudo-terminals; the caller closes each master's link when done. */
export async function openPtyMasters(count: number): Promise<PtyMaster[]> {
  const masters: number[] = [];
  const opened: PtyMaster[] = [];
  try {
    if (process.platform !== 'linux') throw new Error(`not supported on ${process.platform}`);
    for (let index = 0; index < count; index++)
      masters.push(openSync('/dev/ptmx', constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK));
    const result = spawnSync('perl', ['-e', unlockScript, ...masters.map((_, index) => String(3 + index))], {
      stdio: ['ignore', 'pipe', 'pipe', ...masters],
      encoding: 'utf8',
      env: childEnvironment(),
    });
    if (result.error) throw result.error;
    if (result.status !== 0) throw new Error(result.stderr.trim() || `perl exited with ${result.status}`);
    const indexes = result.stdout.trim().split('\n').map(Number);
    for (const [index, fd] of masters.entries()) {
      const hostPath = `/dev/pts/${indexes[index]}`;
      // The device side holds the slave too (raw, unlocked), so the host can close and reopen its port
      // between devices without the master seeing a hang-up.
      const held = await autoDetect().open({ path: hostPath, baudRate: 115_200, lock: false });
      opened.push({ hostPath, link: new SerialLink(hostPath, masterFd(fd, held)) });
    }
    return opened;
  } catch (error) {
    for (const master of opened) await master.link.close();
    for (const fd of masters.slice(opened.length)) closeSync(fd);
    throw new StationError(
      'transport.pty-failed',
      `Could not open pseudo-terminals for the simulated devices (${(error as Error).message}); perl unlocks them.`,
      { cause: error, userFault: false },
    );
  }
}

function masterFd(fd: number, heldSlave: BindingPortInterface): PolledFd {
  const poller = new Poller(fd);
  let open = true;
  return {
    fd,
    poller,
    get isOpen() {
      return open;
    },
    async close() {
      if (!open) return;
      open = false;
      // As serialport closes its own ports: stop the poll (libuv forgets the fd) before the fd can be reused.
      poller.stop();
      poller.destroy();
      closeSync(fd);
      await heldSlave.close();
    },
  };
}
