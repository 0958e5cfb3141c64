import { describe, expect, it } from 'vitest';
import { childEnvironment } from './child-environment.js';

describe('childEnvironment', () => {
  it('keeps the environment but drops the key store secrets, leaving the original untouched', () => {
    const env = {
      PATH: '/usr/bin',
      LANG: 'C',
      STATION_HSM_PIN: '1234',
      STATION_SOFT_PASSPHRASE: 'long phrase',
    };
    expect(childEnvironment(env)).toEqual({ PATH: '/usr/bin', LANG: 'C' });
    expect(env.STATION_HSM_PIN).toBe('1234');
  });
});
