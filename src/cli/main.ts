#!/usr/bin/env node
import { outliveClosedOutput } from './closed-output.js';
import { runCli } from './program.js';

outliveClosedOutput(process.stdout);
outliveClosedOutput(process.stderr);
process.exitCode = await runCli(process.argv);
