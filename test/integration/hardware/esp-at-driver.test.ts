import { EspAtSimulator, espAtDriver } from '../../../hardware/drivers/esp-at/index.js';
import { describeDriverSuite, type FaultCase } from './driver-suite.js';

// The shared driver suite for ESP-AT, in memory and over a socat pty pair. ESP-AT answers a failed NVS
// write with a bare ERROR (protocols.md 2), so storage-full surfaces as device.write-refused.
const faultCases: FaultCase[] = [
  {
    fault: { kind: 'drop-response', match: 'AT+CIPSTAMAC?' },
    operation: 'identify',
    expectedCode: 'transport.timeout',
    timeoutMs: 500,
  },
  {
    fault: { kind: 'slow', match: 'AT+CIPSTAMAC?', delayMs: 5_000 },
    operation: 'identify',
    expectedCode: 'transport.timeout',
    timeoutMs: 500,
  },
  {
    fault: { kind: 'garble', match: 'AT+SYSMFG=2' },
    operation: 'write-certificate',
    expectedCode: 'transport.garbled',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'disconnect', match: 'AT+SYSMFG=2' },
    operation: 'write-certificate',
    expectedCode: 'transport.disconnected',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'storage-full', match: 'AT+SYSMFG=2' },
    operation: 'write-certificate',
    expectedCode: 'device.write-refused',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'refuse', match: 'AT+SYSMFG=1' },
    operation: 'read-certificate',
    expectedCode: 'device.error',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'garble', match: 'AT+SYSMFG=1' },
    operation: 'read-certificate',
    expectedCode: 'transport.garbled',
    timeoutMs: 1_000,
  },
];

for (const transport of ['memory', 'pty'] as const) {
  describeDriverSuite({
    driver: espAtDriver,
    createSimulator: (options) => new EspAtSimulator(options),
    transport,
    faultCases,
    // Over ptys the simulator paces its bytes as a 115,200-baud UART would.
    ...(transport === 'pty' && { simulatorOptions: { baudRate: 115_200 } }),
  });
}
