import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { checkPinTries } from './pkcs11-module.js';

// SoftHSM2 does not count PIN tries, so the flags a counting token sets are given here.
const initialized = pkcs11js.CKF_TOKEN_INITIALIZED | pkcs11js.CKF_LOGIN_REQUIRED;

describe('checkPinTries', () => {
  it('lets any PIN be tried when no try was wrong', () => {
    expect(checkPinTries(initialized, 'factory-ca', 'environment')).toBeUndefined();
    expect(checkPinTries(initialized, 'factory-ca', 'operator')).toBeUndefined();
  });

  it('warns when the count is low, whoever gave the PIN', () => {
    for (const source of ['environment', 'operator'] as const) {
      expect(checkPinTries(initialized | pkcs11js.CKF_USER_PIN_COUNT_LOW, 'factory-ca', source)).toMatch(
        /few remain/,
      );
    }
  });

  it('leaves the final try to a PIN the technician types', () => {
    const finalTry = initialized | pkcs11js.CKF_USER_PIN_COUNT_LOW | pkcs11js.CKF_USER_PIN_FINAL_TRY;
    expect(() => checkPinTries(finalTry, 'factory-ca', 'environment')).toThrow(
      expect.objectContaining({
        code: 'keys.pin-final-try',
        message: expect.stringMatching(/unset STATION_HSM_PIN and type the PIN/),
      }),
    );
    expect(checkPinTries(finalTry, 'factory-ca', 'operator')).toMatch(/one more wrong try/);
  });

  it('refuses a locked PIN before trying one', () => {
    for (const source of ['environment', 'operator'] as const) {
      expect(() => checkPinTries(initialized | pkcs11js.CKF_USER_PIN_LOCKED, 'factory-ca', source)).toThrow(
        expect.objectContaining({ code: 'keys.pin-locked', message: expect.stringMatching(/SO PIN/) }),
      );
    }
  });
});
