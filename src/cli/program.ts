import { Command, CommanderError } from 'commander';
import { isStationError, toErrorBody } from '../api/errors.js';
import { createCliContext, type CliContext, type GlobalOptions } from './context.js';
import { commandModules } from './commands/index.js';

export type ContextFactory = () => CliContext;

/** Each command module adds its commands to the program; the context is made lazily from the global options. */
export interface CommandModule {
  register(program: Command, context: ContextFactory): void;
}

export function buildProgram(): Command {
  const program = new Command('station')
    .description('Provisioning station: devices in, trusted cloud identities out')
    .option('--data <dir>', 'data folder (default: STATION_DATA or the per-user data folder)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .exitOverride();
  const context: ContextFactory = () => createCliContext(program.opts<GlobalOptions>());
  for (const module of commandModules) module.register(program, context);
  return program;
}

/** Runs the CLI and returns its exit code: 0 ok, 1 user error, 2 internal error. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.configureOutput({ writeErr: (text) => process.stderr.write(text) });
  try {
    await program.parseAsync(argv);
    // A command that finished but found faults (a failed device, a broken chain) sets the exit code itself.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 1; // help/version print and exit 0; usage errors are user errors
    }
    const body = toErrorBody(error);
    if (program.opts<GlobalOptions>().json) {
      process.stdout.write(`${JSON.stringify({ error: body }, null, 2)}\n`);
    }
    if (isStationError(error) && error.userFault) {
      process.stderr.write(`error: ${body.message}\n`);
      return 1;
    }
    process.stderr.write(`internal error (${body.code}): ${body.message}\n`);
    return 2;
  }
}
