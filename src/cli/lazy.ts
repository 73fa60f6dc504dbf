// A command's service, loaded when the command runs: every service is a chunk of its own in the
// bundle, so `qrv --help` or `qrv list` does not parse the code of every other command (V8
// compiles all of a file it loads; on the VM lane's emulated CPU that is most of a start).
export function lazy<A extends unknown[], R>(
  load: () => Promise<(...args: A) => Promise<R>>,
): (...args: A) => Promise<R> {
  return async (...args: A) => (await load())(...args);
}
