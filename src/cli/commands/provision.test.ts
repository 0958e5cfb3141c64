import { describe, expect, it } from 'vitest';
import type { BenchPort } from '../../../hardware/transport/port-watcher.js';
import { benchPortDriver } from './provision.js';

const port = (details: Partial<BenchPort>): BenchPort => ({
  path: '/dev/ttyACM0',
  manual: false,
  ...details,
});

describe('benchPortDriver', () => {
  it('serves USB serial devices by their USB ids, or with the family the job or --driver names', () => {
    expect(benchPortDriver(port({ vendorId: '1915' }), undefined)?.name).toBe('nrf91');
    expect(benchPortDriver(port({ vendorId: '10c4', productId: 'ea60' }), undefined)?.name).toBe('esp-at');
    expect(benchPortDriver(port({ vendorId: 'abcd' }), undefined)).toBeUndefined();
    expect(benchPortDriver(port({ vendorId: 'abcd' }), 'jsonl')?.name).toBe('jsonl');
  });

  it('never serves a port that is not a USB device (a built-in UART), even with a family named', () => {
    expect(benchPortDriver(port({ path: '/dev/ttyS0' }), 'nrf91')).toBeUndefined();
    expect(benchPortDriver(port({ path: '/dev/ttyS0' }), undefined)).toBeUndefined();
  });
});
