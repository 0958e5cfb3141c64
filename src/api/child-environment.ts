/**
 * The key store secrets the operator may give the station through its environment (never through a file).
 * They stay in this process only.
 */
const secretEnvironmentVariables = ['STATION_HSM_PIN', 'STATION_SOFT_PASSPHRASE'] as const;

/**
 * The environment for a helper program the station starts (perl, socat, ...): this process's, without the
 * key store secrets, which a helper has no use for and would hand on to whatever it runs in turn.
 */
export function childEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of secretEnvironmentVariables) delete copy[name];
  return copy;
}
