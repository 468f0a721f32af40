import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';

import { ListClustersCommand } from '@aws-sdk/client-kafka';

import { startTestServer, type TestServer } from '../support/server.js';

let t: TestServer;

before(async () => {
  t = await startTestServer({
    SCRAM_SECRETS_REQUEST_TIMEOUT_SECONDS: '1',
    SCRAM_SECRETS_MAX_IN_FLIGHT: '2',
  });
});
after(async () => t.stop());

interface Stalled {
  socket: Socket;
  /** Everything the server wrote, once it closed the connection. */
  answer: Promise<string>;
  /** When the server closed it, in ms since the request began. */
  closedAfterMs: Promise<number>;
}

/** A request whose body never arrives whole: it announces 100 bytes and sends 5. */
function stalledRequest(trickle = false): Stalled {
  const { port } = new URL(t.url);
  const started = Date.now();
  const socket = connect(Number(port), '127.0.0.1');
  let timer: NodeJS.Timeout | undefined;
  socket.on('connect', () => {
    socket.write(
      'POST /v1/clusters/x/scram-secrets HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"sec',
    );
    // A byte now and then: a client that is slow, not silent, is bounded all the same.
    if (trickle) timer = setInterval(() => socket.write(' '), 200);
  });
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  return {
    socket,
    answer: closed.then(() => {
      clearInterval(timer);
      return text;
    }),
    closedAfterMs: closed.then(() => Date.now() - started),
  };
}

test('a request that never finishes arriving is answered 408 and frees its place', async () => {
  const stalled = [stalledRequest(), stalledRequest(true), stalledRequest()];
  // Until they time out, they fill the places in flight: a real call is turned away.
  await new Promise((resolve) => setTimeout(resolve, 200));
  await assert.rejects(t.kafka().send(new ListClustersCommand({})), {
    name: 'ServiceUnavailableException',
  });

  const answers = await Promise.all(stalled.map((each) => each.answer));
  // The third came when two were in flight: it was answered 503 at once, and its connection
  // closed then, without a second answer at the timeout.
  const turnedAway = answers.filter((answer) => answer.startsWith('HTTP/1.1 503 '));
  assert.equal(turnedAway.length, 1, answers.join('\n---\n'));
  assert.equal(turnedAway[0]!.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer only');
  assert.match(turnedAway[0]!, /\r\nconnection: close\r\n/i);
  for (const answer of answers.filter((each) => !each.startsWith('HTTP/1.1 503 '))) {
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /x-amzn-ErrorType: BadRequestException/);
    assert.match(answer, /x-amzn-RequestId: [0-9a-f-]{36}/);
  }
  for (const each of stalled) {
    // One second allowed, checked every second by Node: closed within about three.
    assert.ok((await each.closedAfterMs) < 5000, `closed after ${await each.closedAfterMs} ms`);
  }
  const clusters = await t.kafka().send(new ListClustersCommand({}));
  assert.ok(Array.isArray(clusters.ClusterInfoList));
});

test('a client that neither reads its 408 nor closes does not keep its place', async () => {
  const { port } = new URL(t.url);
  const silent = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<Socket>((resolve) => {
          const socket = connect(Number(port), '127.0.0.1', () => {
            socket.write(
              'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentService.ListKeys\r\n' +
                'Content-Type: application/x-amz-json-1.1\r\nContent-Length: 10\r\n\r\n{',
            );
            // Reads nothing, and is never ended from this side while the test runs.
            socket.pause();
            resolve(socket);
          });
          socket.on('error', () => {});
        }),
    ),
  );
  try {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const clusters = await t.kafka().send(new ListClustersCommand({}));
    assert.ok(Array.isArray(clusters.ClusterInfoList));
  } finally {
    for (const socket of silent) socket.destroy();
  }
});
