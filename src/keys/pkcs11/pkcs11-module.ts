import { createHmac, randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { StationError } from '../../api/errors.js';
import { hsmError, isCkr, pinLocked } from './pkcs11-errors.js';

/**
 * Process-wide bookkeeping of PKCS#11 modules and logged-in tokens. PKCS#11 allows one C_Initialize per
 * module per process (a second gives CKR_CRYPTOKI_ALREADY_INITIALIZED) and one login per token per
 * application (a second gives CKR_USER_ALREADY_LOGGED_IN): stack-notes.md "Watch out for these". So every
 * store on the same module shares one initialisation, and every store on the same token shares one
 * logged-in session; both are reference-counted and finalised when the last user lets go (which is also
 * when a module notices tokens created since it was initialised: SoftHSM2 reads its token folder at
 * C_Initialize only).
 */

export type Pkcs11 = InstanceType<typeof pkcs11js.PKCS11>;
export type Pkcs11Handle = Buffer;

interface LoadedModule {
  readonly pkcs11: Pkcs11;
  readonly tokens: Map<string, OpenToken>;
  users: number;
}

interface OpenToken {
  readonly slot: Pkcs11Handle;
  readonly session: Pkcs11Handle;
  readonly manufacturer: string;
  readonly model: string;
  /** HMAC of the PIN under a key that lives only in this process, to check later openers' PINs. */
  readonly pinCheck: Buffer;
  users: number;
}

export interface TokenSession {
  readonly pkcs11: Pkcs11;
  readonly session: Pkcs11Handle;
  readonly tokenLabel: string;
  readonly manufacturer: string;
  readonly model: string;
  /** Ends this user's share; the session closes and the module finalises when nobody else uses them. */
  release(): void;
}

const modules = new Map<string, LoadedModule>();
const pinCheckKey = randomBytes(32);

function pinCheckOf(pin: string): Buffer {
  return createHmac('sha256', pinCheckKey).update(pin, 'utf8').digest();
}

/** One entry per library file: two paths to it (the SoftHSM2 symlink and its target) are one module. */
function moduleKey(modulePath: string): string {
  try {
    return realpathSync(modulePath);
  } catch {
    return path.resolve(modulePath);
  }
}

function acquireModule(key: string, modulePath: string): LoadedModule {
  const existing = modules.get(key);
  if (existing) {
    existing.users++;
    return existing;
  }
  const pkcs11 = new pkcs11js.PKCS11();
  try {
    pkcs11.load(modulePath);
  } catch (error) {
    throw new StationError(
      'keys.module-unavailable',
      `The PKCS#11 module '${modulePath}' could not be loaded: check the module path given to 'station init --module'.`,
      { field: 'module', details: { reason: error instanceof Error ? error.message : String(error) } },
    );
  }
  try {
    pkcs11.C_Initialize();
  } catch (error) {
    pkcs11.close();
    throw hsmError(error, path.basename(modulePath), 'initialise the PKCS#11 module');
  }
  const loaded: LoadedModule = { pkcs11, tokens: new Map(), users: 1 };
  modules.set(key, loaded);
  return loaded;
}

function releaseModule(key: string, loaded: LoadedModule): void {
  loaded.users--;
  if (loaded.users > 0) return;
  modules.delete(key);
  try {
    loaded.pkcs11.C_Finalize();
  } finally {
    loaded.pkcs11.close();
  }
}

interface FoundToken {
  slot: Pkcs11Handle;
  manufacturer: string;
  model: string;
  serialNumber: string;
  /** CK_TOKEN_INFO flags, as read when the token was found. */
  flags: number;
}

function findSlot(pkcs11: Pkcs11, tokenLabel: string): FoundToken {
  const seen: string[] = [];
  const matches: FoundToken[] = [];
  // Slot ids are random on SoftHSM2 (stack-notes.md section 1): the token is chosen by its label.
  for (const slot of pkcs11.C_GetSlotList(true)) {
    const info = pkcs11.C_GetTokenInfo(slot);
    const label = info.label.trimEnd();
    if (label === tokenLabel) {
      matches.push({
        slot,
        manufacturer: info.manufacturerID.trimEnd(),
        model: info.model.trimEnd(),
        serialNumber: info.serialNumber.trimEnd(),
        flags: info.flags,
      });
    } else if (label.length > 0) seen.push(label);
  }
  // Taking the first of two would be slot order's choice, and a PIN meant for one would count as a wrong try
  // against the other.
  if (matches.length > 1) {
    const serialNumbers = matches.map((match) => match.serialNumber);
    throw new StationError(
      'keys.token-ambiguous',
      `${matches.length} HSM tokens carry the label '${tokenLabel}' (serial numbers ${serialNumbers.join(', ')}): give one of them another label, or unplug the one the station must not use.`,
      { subject: tokenLabel, details: { serialNumbers } },
    );
  }
  const [match] = matches;
  if (match) return match;
  throw new StationError(
    'keys.token-not-found',
    `HSM token '${tokenLabel}' not found: is the HSM plugged in and the token label right? ${seen.length > 0 ? `(the module shows ${seen.map((label) => `'${label}'`).join(', ')})` : '(the module shows no token)'}`,
    { subject: tokenLabel, details: { tokensSeen: seen } },
  );
}

/** Where the PIN came from: one in the environment is tried again by every run, unattended. */
export type PinSource = 'operator' | 'environment';

export interface LoginOptions {
  pinSource: PinSource;
  /** Told when few PIN tries remain. */
  warn?: (message: string) => void;
}

/**
 * What the token's PIN flags say about trying a PIN now. A locked PIN is refused before any try; the final
 * try is left to a PIN the technician types, since a stale STATION_HSM_PIN would lock the token; a low count
 * gives a warning (returned). Tokens that do not count tries (SoftHSM2) never set these flags.
 */
export function checkPinTries(flags: number, tokenLabel: string, pinSource: PinSource): string | undefined {
  if (flags & pkcs11js.CKF_USER_PIN_LOCKED) throw pinLocked(tokenLabel);
  if (flags & pkcs11js.CKF_USER_PIN_FINAL_TRY) {
    if (pinSource === 'environment') {
      throw new StationError(
        'keys.pin-final-try',
        `HSM token '${tokenLabel}' locks its PIN after one more wrong try, so the PIN in STATION_HSM_PIN is not tried: unset STATION_HSM_PIN and type the PIN when asked.`,
        { subject: tokenLabel, field: 'pin' },
      );
    }
    return `HSM token '${tokenLabel}' locks its PIN after one more wrong try: make sure of the PIN.`;
  }
  if (flags & pkcs11js.CKF_USER_PIN_COUNT_LOW) {
    return `HSM token '${tokenLabel}' has had wrong PIN tries: few remain before it locks its PIN.`;
  }
  return undefined;
}

function openToken(pkcs11: Pkcs11, tokenLabel: string, pin: string, login: LoginOptions): OpenToken {
  const { slot, manufacturer, model, flags } = findSlot(pkcs11, tokenLabel);
  const warning = checkPinTries(flags, tokenLabel, login.pinSource);
  if (warning !== undefined) login.warn?.(warning);
  let session: Pkcs11Handle;
  try {
    session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  } catch (error) {
    throw hsmError(error, tokenLabel, 'open a session');
  }
  try {
    pkcs11.C_Login(session, pkcs11js.CKU_USER, pin);
  } catch (error) {
    pkcs11.C_CloseSession(session);
    throw hsmError(error, tokenLabel, 'log in');
  }
  return { slot, session, manufacturer, model, pinCheck: pinCheckOf(pin), users: 1 };
}

/**
 * Loads the module and finds the token by its label, without logging in (`station init` checks the
 * settings it is about to write; the PIN is asked only when a key is used).
 */
export function probeToken(modulePath: string, tokenLabel: string): { manufacturer: string; model: string } {
  const key = moduleKey(modulePath);
  const loaded = acquireModule(key, modulePath);
  try {
    const { manufacturer, model } = findSlot(loaded.pkcs11, tokenLabel);
    return { manufacturer, model };
  } finally {
    releaseModule(key, loaded);
  }
}

/** Opens (or joins) the logged-in session on the token with this label. */
export function acquireTokenSession(
  modulePath: string,
  tokenLabel: string,
  pin: string,
  login: LoginOptions = { pinSource: 'operator' },
): TokenSession {
  const key = moduleKey(modulePath);
  const loaded = acquireModule(key, modulePath);
  let token = loaded.tokens.get(tokenLabel);
  try {
    if (token) {
      // The token is already logged in for this process, so C_Login cannot check the PIN: compare it with
      // the first opener's instead, so a wrong PIN is refused whoever opens first.
      if (!pinCheckOf(pin).equals(token.pinCheck)) {
        throw new StationError('keys.wrong-pin', `Wrong HSM PIN for token '${tokenLabel}'.`, {
          subject: tokenLabel,
        });
      }
      token.users++;
    } else {
      token = openToken(loaded.pkcs11, tokenLabel, pin, login);
      loaded.tokens.set(tokenLabel, token);
    }
  } catch (error) {
    releaseModule(key, loaded);
    throw error;
  }
  const opened = token;
  let released = false;
  return {
    pkcs11: loaded.pkcs11,
    session: opened.session,
    tokenLabel,
    manufacturer: opened.manufacturer,
    model: opened.model,
    release() {
      if (released) return;
      released = true;
      opened.users--;
      try {
        if (opened.users === 0) closeToken(loaded, tokenLabel, opened);
      } finally {
        releaseModule(key, loaded);
      }
    },
  };
}

function closeToken(loaded: LoadedModule, tokenLabel: string, token: OpenToken): void {
  loaded.tokens.delete(tokenLabel);
  try {
    loaded.pkcs11.C_Logout(token.session);
  } catch (error) {
    // Already logged out (the token went away): closing the session below is what matters.
    if (!isCkr(error, 'CKR_USER_NOT_LOGGED_IN', 'CKR_SESSION_HANDLE_INVALID', 'CKR_DEVICE_REMOVED')) {
      throw hsmError(error, tokenLabel, 'log out');
    }
  }
  try {
    loaded.pkcs11.C_CloseSession(token.session);
  } catch (error) {
    if (!isCkr(error, 'CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_DEVICE_REMOVED')) {
      throw hsmError(error, tokenLabel, 'close its session');
    }
  }
}
