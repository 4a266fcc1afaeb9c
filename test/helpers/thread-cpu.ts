/**
 * Milliseconds of CPU the calling thread spends in `work`: a bound on it holds on a loaded
 * machine, where wall time does not (a test worker waiting for a core is not slow code). For the
 * tests that guard against catastrophic backtracking, not for measuring speed (bench/ does that).
 */
export function threadCpuMs(work: () => void): number {
  const before = process.threadCpuUsage();
  work();
  const spent = process.threadCpuUsage(before);
  return (spent.user + spent.system) / 1000;
}
