import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The built command line: tests run from dist/test, after `npm run build`. */
export const MAIN = join(
  fileURLToPath(new URL('../../../', import.meta.url)),
  'dist',
  'src',
  'cli',
  'main.js',
);

/** `scram-secrets serve` in its own process, as an operator runs it. */
export interface ServeProcess {
  child: ChildProcess;
  /** The URL from its `server.started` log event. */
  url: string;
  /** Everything it has written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the fields of the next log line that carries this event. */
  nextEvent(event: string): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** Sends the signal (SIGTERM by default) unless it has exited, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ServeOptions {
  /** Settings on top of the test's own environment and a free loopback port. */
  env?: NodeJS.ProcessEnv;
  /** Resolve once stdout contains this text as well as the started event. */
  readyText?: string;
  startTimeoutMs?: number;
}

/** Starts `serve` and resolves once it listens (and has printed `readyText`, when given). */
export async function startServe(options: ServeOptions = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    env: {
      ...process.env,
      SCRAM_SECRETS_HOST: '127.0.0.1',
      SCRAM_SECRETS_PORT: '0',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  const waiting: { event: string; resolve: (fields: Record<string, unknown>) => void }[] = [];
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const fields = logFields(line);
    if (!fields) return;
    for (const waiter of waiting.filter((candidate) => candidate.event === fields.event)) {
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve(fields);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const nextEvent = (event: string): Promise<Record<string, unknown>> =>
    new Promise((resolve) => waiting.push({ event, resolve }));

  const started = nextEvent('server.started');
  const ready = (async () => {
    const { url } = await started;
    while (options.readyText !== undefined && !stdout.includes(options.readyText)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return String(url);
  })();
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  const url = await Promise.race([
    ready,
    exited.then((code) => {
      throw new Error(`serve exited with ${code} while starting:\n${output}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`serve did not start within ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));

  return {
    child,
    url,
    output: () => output,
    nextEvent,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

function logFields(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
