import { StationError } from '../../api/errors.js';

/** pkcs11js throws Pkcs11Error whose message is the CKR_ name (its class is not in the type declarations). */
export function ckrName(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  return /^CKR_[A-Z0-9_]+$/.test(error.message) ? error.message : undefined;
}

export function isCkr(error: unknown, ...names: string[]): boolean {
  const name = ckrName(error);
  return name !== undefined && names.includes(name);
}

/**
 * Turns what a PKCS#11 call threw into a StationError a technician can act on; the CKR name goes to
 * details. `action` completes "could not ...", e.g. "sign with key 'factory-ca'".
 */
export function hsmError(error: unknown, tokenLabel: string, action: string): StationError {
  if (error instanceof StationError) return error;
  const ckr = ckrName(error);
  const details = { ckr: ckr ?? (error instanceof Error ? error.message : String(error)), action };
  const subject = tokenLabel;
  switch (ckr) {
    case 'CKR_PIN_INCORRECT':
    case 'CKR_PIN_LEN_RANGE':
      return new StationError('keys.wrong-pin', `Wrong HSM PIN for token '${tokenLabel}'.`, {
        subject,
        details,
      });
    case 'CKR_PIN_LOCKED':
      return pinLocked(tokenLabel, details);
    case 'CKR_TOKEN_NOT_PRESENT':
    case 'CKR_TOKEN_NOT_RECOGNIZED':
    case 'CKR_DEVICE_REMOVED':
    case 'CKR_DEVICE_ERROR':
    case 'CKR_SESSION_CLOSED':
    case 'CKR_SESSION_HANDLE_INVALID':
      return new StationError(
        'keys.token-unavailable',
        `HSM token '${tokenLabel}' stopped answering: is the HSM still plugged in?`,
        { subject, details },
      );
    case 'CKR_MECHANISM_INVALID':
    case 'CKR_MECHANISM_PARAM_INVALID':
    case 'CKR_KEY_SIZE_RANGE':
    case 'CKR_DOMAIN_PARAMS_INVALID':
    case 'CKR_CURVE_NOT_SUPPORTED':
      return new StationError(
        'keys.unsupported-by-token',
        `HSM token '${tokenLabel}' cannot ${action}: it does not support this key type or mechanism.`,
        { subject, details },
      );
    case 'CKR_DEVICE_MEMORY':
      return new StationError(
        'keys.token-full',
        `HSM token '${tokenLabel}' is out of memory: delete unused keys or use another token.`,
        { subject, details },
      );
    case 'CKR_KEY_HANDLE_INVALID':
    case 'CKR_OBJECT_HANDLE_INVALID':
      return new StationError(
        'keys.key-not-found',
        `Could not ${action}: the key is no longer on HSM token '${tokenLabel}'.`,
        {
          subject,
          details,
        },
      );
    case 'CKR_ATTRIBUTE_SENSITIVE':
    case 'CKR_KEY_UNEXTRACTABLE':
      return new StationError(
        'keys.not-extractable',
        `Could not ${action}: the key on HSM token '${tokenLabel}' is not extractable.`,
        { subject, details },
      );
    default:
      return new StationError(
        'keys.hsm-failed',
        `HSM token '${tokenLabel}' failed to ${action}${ckr ? ` (${ckr})` : ''}.`,
        { subject, details, userFault: false, cause: error },
      );
  }
}

export function pinLocked(tokenLabel: string, details?: Record<string, string>): StationError {
  return new StationError(
    'keys.pin-locked',
    `The PIN of HSM token '${tokenLabel}' is locked after too many wrong tries: an administrator must unblock it with the SO PIN.`,
    { subject: tokenLabel, ...(details && { details }) },
  );
}
