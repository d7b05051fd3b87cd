import { runCli } from './cli';
import { processIo } from './io';

// `kiln | head` closes stdout early: that is not an error
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

void runCli(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code;
});
