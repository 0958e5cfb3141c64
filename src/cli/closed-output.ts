/**
 * Keeps a run going when its output goes away: `station demo | head -1` closes the pipe after one line
 * (EPIPE), a terminal can close under it (EIO). Unhandled, the stream's 'error' event would end the
 * process with a stack trace in the middle of a batch, leaving certificates issued that never reached
 * their devices. What is printed afterwards is lost (there is nowhere to say so); the devices finish and
 * the exit code is the one the run earns.
 */
export function outliveClosedOutput(stream: NodeJS.WritableStream): void {
  stream.on('error', () => undefined);
}
