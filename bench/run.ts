/** What a benchmark started, and how to stop it. */
export interface BenchmarkLifecycle {
  /** The longest the whole run may take before it is abandoned. */
  limitMs: number;
  /** Kills everything it started at once (a watchdog or a signal fired). */
  killNow(): void;
  /** Stops what it started in good order, and removes its files. */
  cleanUp(): Promise<void>;
}

/**
 * Runs a benchmark to its end, then cleans up. A run that hangs, or is interrupted, kills
 * what it started and exits 1, so that no server outlives the benchmark.
 */
export function runBenchmark(main: () => Promise<void>, lifecycle: BenchmarkLifecycle): void {
  const watchdog = setTimeout(() => {
    process.stderr.write(
      `Benchmark failed: it did not finish within ${lifecycle.limitMs / 1000} s.\n`,
    );
    lifecycle.killNow();
    void lifecycle.cleanUp().finally(() => process.exit(1));
  }, lifecycle.limitMs);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      lifecycle.killNow();
      process.exit(1);
    });
  }

  main()
    .catch((error: unknown) => {
      process.stderr.write(`Benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    })
    .finally(async () => {
      await lifecycle.cleanUp();
      clearTimeout(watchdog);
    });
}
