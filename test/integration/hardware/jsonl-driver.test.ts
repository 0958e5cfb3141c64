import { JsonlSimulator, jsonlDriver } from '../../../hardware/drivers/jsonl/index.js';
import { describeDriverSuite, type FaultCase } from './driver-suite.js';

// The shared driver suite for jsonl, in memory and over a socat pty pair. Fault `match` is the jsonl
// command name (docs/jsonl-protocol.md); device refusals map to station codes as its section 6 lists.
const faultCases: FaultCase[] = [
  {
    // A session's first identify answers from the hello that opened it: this one is lost.
    fault: { kind: 'drop-response', match: 'hello', nth: 1 },
    operation: 'identify',
    expectedCode: 'transport.timeout',
    timeoutMs: 500,
  },
  {
    fault: { kind: 'slow', match: 'keygen', delayMs: 5_000 },
    operation: 'generate-csr',
    expectedCode: 'transport.timeout',
    timeoutMs: 500,
  },
  {
    fault: { kind: 'garble', match: 'write.chunk' },
    operation: 'write-certificate',
    expectedCode: 'transport.garbled',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'garble', match: 'slot.read' },
    operation: 'read-certificate',
    expectedCode: 'transport.garbled',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'disconnect', match: 'write.chunk' },
    operation: 'write-certificate',
    expectedCode: 'transport.disconnected',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'storage-full', match: 'write.begin' },
    operation: 'write-certificate',
    expectedCode: 'device.storage-full',
    timeoutMs: 1_000,
  },
  {
    fault: { kind: 'refuse', match: 'slot.digest' },
    operation: 'read-certificate',
    expectedCode: 'device.refused',
    timeoutMs: 1_000,
  },
];

for (const transport of ['memory', 'pty'] as const) {
  describeDriverSuite({
    driver: jsonlDriver,
    createSimulator: (options) => new JsonlSimulator(options),
    transport,
    faultCases,
  });
}
