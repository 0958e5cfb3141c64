import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveDataDir } from './data-dir.js';

describe('resolveDataDir', () => {
  it('takes --data over STATION_DATA, and STATION_DATA over the per-user folder', () => {
    expect(resolveDataDir('here', { STATION_DATA: '/elsewhere' })).toBe(path.resolve('here'));
    expect(resolveDataDir(undefined, { STATION_DATA: '/elsewhere' })).toBe(path.resolve('/elsewhere'));
    expect(resolveDataDir(undefined, {})).toMatch(/provisioning-station$/);
  });

  it('refuses an empty --data instead of falling back to another registry', () => {
    for (const empty of ['', '  '])
      expect(() => resolveDataDir(empty, { STATION_DATA: '/elsewhere' })).toThrow(
        expect.objectContaining({ code: 'input.invalid', field: 'data' }),
      );
  });

  it('treats an empty STATION_DATA as unset', () => {
    expect(resolveDataDir(undefined, { STATION_DATA: '', XDG_DATA_HOME: '/xdg' })).toBe(
      resolveDataDir(undefined, { XDG_DATA_HOME: '/xdg' }),
    );
  });
});
