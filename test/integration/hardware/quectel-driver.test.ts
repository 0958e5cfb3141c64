import { QuectelSimulator, quectelDriver } from '../../../hardware/drivers/quectel/index.js';
import { describeDriverSuite, type FaultCase } from './driver-suite.js';

// The shared driver suite for Quectel, in memory and over a socat pty pair.
const faultCases: FaultCase[] = [
  {
    fault: { kind: 'drop-response', match: 'AT+GSN' },
    operation: 'identify',
    expectedCode: 'transport.timeout',
    timeoutMs: 500,
  },
  {
    fault: { kind: 'slow', match: 'AT+QCCID', delayMs: 5_000 },
    operation: 'identify',
    expectedCode: 'transport.timeout',
    timeoutMs: 500,
  },
  {
    fault: { kind: 'garble', match: 'AT+QFUPL' },
    operation: 'write-certificate',
    expectedCode: 'transport.garbled',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'disconnect', match: 'AT+QFUPL' },
    operation: 'write-certificate',
    expectedCode: 'transport.disconnected',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'storage-full', match: 'AT+QFUPL' },
    operation: 'write-certificate',
    expectedCode: 'device.storage-full',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'refuse', match: 'AT+QFDEL' },
    operation: 'write-certificate',
    expectedCode: 'device.file-held-open',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'refuse', match: 'AT+QFDWL' },
    operation: 'read-certificate',
    expectedCode: 'device.cme-error',
    timeoutMs: 1_000,
  },
  // The read path leaves the AT channel for QFDWL's raw bytes: it must fail as typed and as fast.
  {
    fault: { kind: 'garble', match: 'AT+QFDWL' },
    operation: 'read-certificate',
    expectedCode: 'transport.garbled',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'slow', match: 'AT+QFDWL', delayMs: 5_000 },
    operation: 'read-certificate',
    expectedCode: 'transport.timeout',
    timeoutMs: 1_000,
  },
];

// The module vanishing half-way through a download, while the host only reads: the read the hangup wakes
// must report it.
const readOnlyDisconnect: FaultCase = {
  fault: { kind: 'disconnect', match: 'AT+QFDWL' },
  operation: 'read-certificate',
  expectedCode: 'transport.disconnected',
  timeoutMs: 1_000,
};

for (const transport of ['memory', 'pty'] as const) {
  describeDriverSuite({
    driver: quectelDriver,
    createSimulator: (options) => new QuectelSimulator(options),
    transport,
    faultCases: [...faultCases, readOnlyDisconnect],
    // Over ptys the simulator paces its bytes as a 115,200-baud UART would.
    ...(transport === 'pty' && { simulatorOptions: { baudRate: 115_200 } }),
  });
}
