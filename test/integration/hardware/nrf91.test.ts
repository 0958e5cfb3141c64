import { createNrf91Driver } from '../../../hardware/drivers/nrf91/nrf91-driver.js';
import { Nrf91Simulator } from '../../../hardware/drivers/nrf91/nrf91-simulator.js';
import { describeDriverSuite, type FaultCase } from './driver-suite.js';

const driver = createNrf91Driver();

const faultCases: FaultCase[] = [
  {
    fault: { kind: 'drop-response', match: 'AT%CMNG=0' },
    operation: 'write-certificate',
    expectedCode: 'transport.timeout',
    timeoutMs: 600,
  },
  {
    fault: { kind: 'garble', match: 'AT+CGSN' },
    operation: 'identify',
    expectedCode: 'transport.garbled',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'disconnect', match: 'AT%CMNG=0' },
    operation: 'write-certificate',
    expectedCode: 'transport.disconnected',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'storage-full', match: 'AT%CMNG=0' },
    operation: 'write-certificate',
    expectedCode: 'device.storage-full',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'refuse', match: 'AT%KEYGEN' },
    operation: 'generate-csr',
    expectedCode: 'device.refused',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'slow', match: 'AT%CMNG=1', delayMs: 5_000 },
    operation: 'read-certificate',
    expectedCode: 'transport.timeout',
    timeoutMs: 600,
  },
];

for (const transport of ['memory', 'pty'] as const) {
  describeDriverSuite({
    driver,
    createSimulator: (options) => new Nrf91Simulator(options),
    transport,
    faultCases,
    // Over ptys the modem takes a few ms per command and the UART runs at 115,200 baud, as on a bench.
    ...(transport === 'pty' && { simulatorOptions: { latencyMs: 2, baudRate: 115_200 } }),
  });
}
