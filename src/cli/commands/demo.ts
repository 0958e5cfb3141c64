import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { invalidInput } from '../../api/errors.js';
import { runDemo, type DemoResult } from '../../provisioning/demo.js';
import { EventBatcher } from '../../provisioning/event-batcher.js';
import { BatchTally, formatSummary, LiveDisplay } from '../live-display.js';
import { cliActor } from '../open-registry.js';
import { wholeNumber } from '../option-values.js';
import { untilStopped } from '../until-stopped.js';
import { outcomeView } from './provision.js';
import type { CommandModule } from '../program.js';

interface DemoOptions {
  devices: string;
  ptys?: boolean;
  log?: boolean;
}

/** `station demo`: the whole station on embedded defaults (soft key store, simulated devices). */
export const demoCommands: CommandModule = {
  register(program, context) {
    program
      .command('demo')
      .description('provision simulated devices of every driver in a fresh data folder (no HSM, no hardware)')
      .option('--devices <n>', 'how many simulated devices (spread over every driver)', '8')
      .option('--ptys', 'run the devices on pseudo-terminals instead of in memory')
      .option('--log', "also print each device's log lines: identified, issued, written, verified")
      .addHelpText(
        'after',
        '\nWithout --data the demo makes a new folder under the system temp folder. Keys live in the soft\n' +
          'key store (NOT an HSM), encrypted with STATION_SOFT_PASSPHRASE or, when unset, a random passphrase\n' +
          'that is kept nowhere: the registry stays readable, the demo CA cannot sign again.',
      )
      .action(async (options: DemoOptions, command: { parent?: { opts(): { data?: string } } }) => {
        const cli = context();
        const devices = wholeNumber('devices', options.devices, 1)!;
        if (devices > 64) throw invalidInput('devices', 'the demo runs at most 64 devices.');
        const explicit = command.parent?.opts().data;
        const dataDir = explicit
          ? path.resolve(explicit)
          : await mkdtemp(path.join(os.tmpdir(), 'station-demo-'));
        if ((await readdir(dataDir).catch(() => [])).length > 0) {
          throw invalidInput(
            'data',
            `${dataDir} is not empty; the demo needs a fresh data folder: give --data a new (or empty) folder, or leave --data out to have one made. To look at what this one holds: station --data ${dataDir} job list`,
          );
        }
        const tally = new BatchTally();
        const display = cli.json ? undefined : new LiveDisplay(process.stdout, { log: options.log === true });
        const batcher = new EventBatcher((batch) => display?.update(batch));
        const notify = (text: string) => (display ? display.notice(text) : process.stderr.write(`${text}\n`));
        if (!cli.json) process.stderr.write('Key store: software key store (NOT an HSM), demo only.\n');
        const { result, stoppedBy } = await untilStopped(notify, (signal) =>
          runDemo({
            dataDir,
            devices,
            ptys: options.ptys === true,
            ...(process.env.STATION_SOFT_PASSPHRASE && { passphrase: process.env.STATION_SOFT_PASSPHRASE }),
            actor: cliActor(),
            emit: (event) => {
              tally.add(event);
              batcher.push(event);
            },
            signal,
          }),
        );
        batcher.flush();
        const summary = tally.summary();
        cli.print(
          { ...result, ...(stoppedBy && { stoppedBy }), summary, outcomes: result.outcomes.map(outcomeView) },
          () => formatDemo(result, formatSummary(summary), stoppedBy),
        );
        // A stopped run exits as a shell reports a run its signal ended: 128 + the signal's number (130).
        if (stoppedBy) process.exitCode = 128 + os.constants.signals[stoppedBy];
        else if (summary.failed > 0 || !result.auditVerified) process.exitCode = 1;
      });
  },
};

function formatDemo(result: DemoResult, summary: string, stoppedBy?: NodeJS.Signals): string {
  const jobs = result.jobs.map((job) => `  job ${job.id}: ${job.keyMode} keys for ${job.drivers.join(', ')}`);
  return [
    '',
    summary,
    // The demo's simulated devices end with it: no later run can finish the devices it stopped.
    ...(stoppedBy
      ? [
          `Stopped by ${stoppedBy === 'SIGINT' ? 'Ctrl+C' : stoppedBy}: for a whole run, start the demo again in a fresh data folder.`,
        ]
      : []),
    `Jobs:\n${jobs.join('\n')}`,
    `Audit chain: ${result.auditVerified ? 'verified' : 'BROKEN'}`,
    `Registry: ${result.registryFile}`,
    `Look around: npm run station -- --data ${result.dataDir} thing list   (or: job list, cert list, audit verify)`,
  ].join('\n');
}
