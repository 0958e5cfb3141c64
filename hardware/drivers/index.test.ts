import { describe, expect, it } from 'vitest';
import { catalogueDriverNames, createSimulator, driverByName, driverForUsb } from './index.js';

describe('the driver catalogue', () => {
  it('lists every driver once, each selectable by name with a simulator of its own kind', () => {
    const names = catalogueDriverNames();
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('jsonl');
    for (const name of names) {
      expect(driverByName(name).name).toBe(name);
      const simulator = createSimulator(name, { seed: 1 });
      expect(simulator.driver).toBe(name);
      simulator.close();
    }
  });

  it('recognises a port by USB ids in any case, and nothing for unknown ids', () => {
    expect(driverForUsb('1209', '0001')?.name).toBe('jsonl');
    expect(driverForUsb('1209', '0001'.toUpperCase())?.name).toBe('jsonl');
    expect(driverForUsb('1209', 'beef')).toBeUndefined();
    expect(driverForUsb(undefined, undefined)).toBeUndefined();
  });

  it('names the choices when asked for a driver it does not have', () => {
    expect(() => driverByName('nrf52')).toThrow(/no driver named "nrf52"; choose one of .*jsonl/);
  });
});
