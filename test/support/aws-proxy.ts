import { createServer, request as forward, type Server } from 'node:http';

/**
 * A loopback HTTP proxy in front of moto's server that records each AWS call the service
 * makes (its operation, from `X-Amz-Target`, and the access key id it was signed with) and,
 * when asked, answers an operation with an AWS JSON error instead: moto itself can neither
 * throttle nor deny.
 */
export interface AwsProxy {
  endpoint: string;
  /** The operations called since the last `reset`, e.g. `ListSecrets`, `DescribeKey`. */
  calls(): RecordedCall[];
  count(operation: string): number;
  reset(): void;
  /** Answers the operation's next `times` calls (all, by default) with this error. */
  fail(operation: string, error: { status: number; type: string }, times?: number): void;
  heal(): void;
  stop(): Promise<void>;
}

export interface RecordedCall {
  operation: string;
  accessKeyId: string | undefined;
}

export async function startAwsProxy(target: string): Promise<AwsProxy> {
  const upstream = new URL(target);
  let recorded: RecordedCall[] = [];
  const failures = new Map<string, { status: number; type: string; left: number }>();

  const server: Server = createServer((request, response) => {
    const operation = String(request.headers['x-amz-target'] ?? '').replace(/^.*\./, '');
    const authorization = String(request.headers.authorization ?? '');
    const accessKeyId = /Credential=([^/]+)\//.exec(authorization)?.[1];
    recorded.push({ operation, accessKeyId });

    const failure = failures.get(operation);
    if (failure && failure.left > 0) {
      failure.left -= 1;
      request.resume();
      request.on('end', () => {
        response.writeHead(failure.status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify({ __type: failure.type, message: `proxy: ${failure.type}` }));
      });
      return;
    }
    const proxied = forward(
      {
        hostname: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    proxied.on('error', () => {
      response.writeHead(502);
      response.end();
    });
    request.pipe(proxied);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: () => [...recorded],
    count: (operation) => recorded.filter((call) => call.operation === operation).length,
    reset: () => {
      recorded = [];
    },
    fail: (operation, error, times = Number.POSITIVE_INFINITY) =>
      failures.set(operation, { ...error, left: times }),
    heal: () => failures.clear(),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
