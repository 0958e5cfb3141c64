// Installs the Debian packages the tests drive as real parts, when they are missing: `npm test` runs it
// first (pretest) so a fresh machine needs nothing done by hand, and .ci/run uses the same list.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** What each package gives the tests, and a file that shows it is installed. */
const packages = [
  { name: 'softhsm2', file: '/usr/lib/softhsm/libsofthsm2.so', why: 'a real PKCS#11 token' },
  { name: 'opensc', file: '/usr/bin/pkcs11-tool', why: 'pkcs11-tool to inspect token objects' },
  { name: 'socat', file: '/usr/bin/socat', why: 'pseudo-terminal pairs for serial tests' },
  { name: 'sqlite3', file: '/usr/bin/sqlite3', why: 'tampering with the registry as an attacker would' },
  { name: 'openssl', file: '/usr/bin/openssl', why: 'independent certificate and CRL checks' },
];

const missing = packages.filter((pkg) => !existsSync(pkg.file));
if (missing.length === 0) process.exit(0);

const names = missing.map((pkg) => pkg.name);
console.error(
  `Installing Debian packages the tests need: ${missing.map((pkg) => `${pkg.name} (${pkg.why})`).join(', ')}`,
);
const root = process.getuid?.() === 0;
const sudo = root ? [] : ['sudo', '-n'];
const run = (args) => {
  const [command, ...rest] = [...sudo, ...args];
  return spawnSync(command, rest, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
};
if (!root) {
  try {
    execFileSync('sudo', ['-n', 'true'], { stdio: 'ignore' });
  } catch {
    console.error(`Cannot install them without root; run: sudo apt-get install -y ${names.join(' ')}`);
    process.exit(1);
  }
}
if (
  run(['apt-get', 'update', '-qq']).status !== 0 ||
  run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...names]).status !== 0
) {
  console.error(`Installing ${names.join(' ')} failed; install them with apt-get and run the tests again.`);
  process.exit(1);
}
