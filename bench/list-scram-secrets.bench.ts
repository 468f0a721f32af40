/**
 * How fast the service answers ListScramSecrets (maxResults=100, first page) for a cluster
 * with 1,000 associated secrets, compared with a bare `node:http` server that sends the very
 * same response bytes: the ratio says how much of the budget the service spends on its own
 * work (routing, authentication, SigV4 verification, SQL, JSON) rather than on HTTP. The same
 * service is also measured with SigV4 verification off, on the same data: that ratio says
 * what verifying signatures costs. Two calibration servers send the same body: a Fastify
 * route (what the framework alone costs) and `node:http` after a fixed spell of busy work per
 * request (what any such work costs in throughput, the kernel's wake-ups included). Two more
 * run one part of the service's own work each on bare `node:http` (part-server.ts): its
 * SigV4 check before the recorded bytes, and its page read (SQL, nextToken, JSON) with no
 * check, to show what each part alone costs.
 *
 * The service and the bare servers each run as a child process, so that the load generator
 * (autocannon, in this process) never shares their event loop. Everything listens on
 * 127.0.0.1 only. The run prints a report and exits 0 whether or not the targets are met;
 * it exits 1 only when the benchmark itself could not run.
 *
 * Fairness: one service process creates the data, then stops; the data dir is copied, and the
 * two measured services (verification on and off) start fresh, one on each copy, so that
 * neither carries the other's history (the setup's heap, its write-ahead log). The servers
 * are then loaded in turn, a few seconds each, for several rounds, so that other work on the
 * machine coming and going weighs on all of them alike.
 *
 * Optional environment:
 *   BENCH_SERVICE_NODE_ARGS="..."    extra node flags for the service processes, e.g.
 *                                    "--cpu-prof --cpu-prof-dir=/tmp/scram-secrets-profile"
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import {
  BatchAssociateScramSecretCommand,
  CreateClusterV2Command,
  DescribeClusterV2Command,
  KafkaClient,
  ListScramSecretsCommand,
} from '@aws-sdk/client-kafka';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import autocannon from 'autocannon';

import type { RecordedResponse } from './bare-http-server.js';
import { runBenchmark } from './run.js';

const HOST = '127.0.0.1';
const REGION = 'us-east-1';
const ACCOUNT_ID = '111122223333';
const ACCESS_KEY_ID = 'AKIABENCHMARK0000001';
const SECRET_ACCESS_KEY = 'bench-secret-access-key-000001';

const SECRET_COUNT = 1000;
const BATCH_SIZE = 10;
const PAGE_SIZE = 100;
/** Enough parallel CreateSecret calls to keep the service busy during setup, not more. */
const SETUP_CONCURRENCY = 16;

const CONNECTIONS = 10;
const WARMUP_SECONDS = 2;
const ROUNDS = 4;
const ROUND_SECONDS = 4;

const TARGET_RATIO = 0.3;
const TARGET_VERIFICATION_RATIO = 0.8;
const TARGET_PEAK_RSS_MB = 150;
/** The busy work per request of the calibration server: about what the service spends. */
const CALIBRATION_WORK_US = 100;

/** The whole run must end within three and a half minutes, even when something hangs. */
const RUN_LIMIT_MS = 210_000;
const START_LIMIT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
/** Linux reports process CPU times in USER_HZ ticks, which is 100 on every architecture. */
const USER_HZ = 100;

const SERVICE_MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const BARE_SERVER_MAIN = fileURLToPath(new URL('./bare-http-server.js', import.meta.url));
const PART_SERVER_MAIN = fileURLToPath(new URL('./part-server.js', import.meta.url));

interface Child {
  name: string;
  process: ChildProcess;
  /** The last few kilobytes it wrote, to explain a failure. */
  output(): string;
}

interface SignedRequest {
  /** Path and query, exactly as sent. */
  target: string;
  headers: Record<string, string>;
}

interface CapturedResponse {
  statusCode: number;
  rawHeaders: string[];
  body: Buffer;
}

interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuPercent: number | undefined;
  loadGeneratorCpuPercent: number;
}

/** One round of one server: what was served, in how long, for how much CPU. */
interface RoundResult {
  requests: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuSeconds: number | undefined;
  loadGeneratorCpuSeconds: number;
}

/** A server under test, and the request that it answers with the recorded page. */
interface Target {
  name: string;
  baseUrl: string;
  request: SignedRequest;
  pid: number | undefined;
  rounds: RoundResult[];
}

const children: Child[] = [];
const tempDirs: string[] = [];

async function main(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), 'scram-secrets-bench-'));
  tempDirs.push(workDir);
  const setupDataDir = join(workDir, 'setup');

  const setupPort = await freePort();
  const setup = await startService(setupDataDir, setupPort, true);
  const setupStarted = Date.now();
  const clusterArn = await seed(`http://${HOST}:${setupPort}`);
  const setupSeconds = (Date.now() - setupStarted) / 1000;
  const setupMemory = memoryMb(setup.process.pid);
  await stopChild(setup);

  // A stopped service leaves its data dir whole, so each copy holds the same secrets and
  // master key: both services answer with the same page (a nextToken of the same length,
  // each sealed afresh).
  const verifiedDataDir = join(workDir, 'verified');
  const unverifiedDataDir = join(workDir, 'unverified');
  const pageDataDir = join(workDir, 'page');
  for (const dir of [verifiedDataDir, unverifiedDataDir, pageDataDir]) {
    cpSync(setupDataDir, dir, { recursive: true });
  }

  const servicePort = await freePort();
  const service = await startService(verifiedDataDir, servicePort, true);
  const request = await signListRequest(servicePort, clusterArn);
  const recorded = await captureServiceResponse(servicePort, request);
  const recordingPath = join(workDir, 'list-scram-secrets-response.json');
  writeFileSync(recordingPath, JSON.stringify(toRecording(recorded)));
  const bare = await startBareServer('bare node:http server', [recordingPath]);
  requireSameResponse(recorded, await send(bare.port, request));
  // Calibration: the same body through a Fastify route, and through node:http after a fixed
  // amount of busy work. They show how much of the gap is the framework, and how much any
  // work per request costs in throughput.
  const framework = await startBareServer('Fastify server', [recordingPath, '--fastify']);
  const worked = await startBareServer('worked node:http server', [
    recordingPath,
    `--work-us=${CALIBRATION_WORK_US}`,
  ]);
  // And node:http after the hashing a SigV4 check makes, alone: what any check costs at least.
  const hashed = await startBareServer('hashing node:http server', [recordingPath, '--hashes']);
  for (const calibration of [framework, worked, hashed]) {
    if (!(await send(calibration.port, request)).body.equals(recorded.body)) {
      throw new Error(`The ${calibration.child.name} does not send the recorded body.`);
    }
  }

  // The service's parts alone, each by the service's own code on bare node:http: its
  // signature check before the recorded bytes, and its page read (SQL, token, JSON) unsigned.
  const signatureOnly = await startBareServer(
    'node:http + the SigV4 check',
    [recordingPath, '--sigv4'],
    serviceEnvironment(verifiedDataDir, 0, true),
    PART_SERVER_MAIN,
  );
  const signatureRequest = await signListRequest(signatureOnly.port, clusterArn);
  if (!(await send(signatureOnly.port, signatureRequest)).body.equals(recorded.body)) {
    throw new Error(`The ${signatureOnly.child.name} server does not send the recorded body.`);
  }
  const pageOnly = await startBareServer(
    'node:http + the page read',
    [recordingPath, '--page'],
    serviceEnvironment(pageDataDir, 0, true),
    PART_SERVER_MAIN,
  );
  if (!samePage((await send(pageOnly.port, request)).body, recorded.body)) {
    throw new Error(`The ${pageOnly.child.name} server does not send the same page.`);
  }

  const unverifiedPort = await freePort();
  const unverified = await startService(unverifiedDataDir, unverifiedPort, false);
  const unverifiedRequest = await signListRequest(unverifiedPort, clusterArn);
  const unverifiedBody = (await captureServiceResponse(unverifiedPort, unverifiedRequest)).body;
  if (!samePage(unverifiedBody, recorded.body)) {
    throw new Error('The service without verification answered with a different page.');
  }

  const targets: Target[] = [
    target('service, SigV4 on', servicePort, request, service.process.pid),
    target('bare node:http', bare.port, request, bare.child.process.pid),
    target('service, SigV4 off', unverifiedPort, unverifiedRequest, unverified.process.pid),
    target('Fastify, same body', framework.port, request, framework.child.process.pid),
    target(
      `node:http + ${CALIBRATION_WORK_US} us work`,
      worked.port,
      request,
      worked.child.process.pid,
    ),
    target(
      'node:http + SigV4 check',
      signatureOnly.port,
      signatureRequest,
      signatureOnly.child.process.pid,
    ),
    target('node:http + page read', pageOnly.port, request, pageOnly.child.process.pid),
    target('node:http + SigV4 hashes', hashed.port, request, hashed.child.process.pid),
  ];
  for (const each of targets) await warmUp(each);
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const each of targets) each.rounds.push(await loadRound(each));
  }

  report({
    setupSeconds,
    responseBytes: recorded.body.length,
    serviceLoad: summary(targets[0]!),
    bareLoad: summary(targets[1]!),
    unverifiedLoad: summary(targets[2]!),
    frameworkLoad: summary(targets[3]!),
    workedLoad: summary(targets[4]!),
    signatureOnlyLoad: summary(targets[5]!),
    pageOnlyLoad: summary(targets[6]!),
    hashesOnlyLoad: summary(targets[7]!),
    rounds: targets.map((each) => each.rounds),
    serviceMemory: { setup: setupMemory, afterLoad: memoryMb(service.process.pid) },
    unverifiedMemory: memoryMb(unverified.process.pid),
  });
}

function target(
  name: string,
  port: number,
  request: SignedRequest,
  pid: number | undefined,
): Target {
  return { name, baseUrl: `http://${HOST}:${port}`, request, pid, rounds: [] };
}

async function startService(
  dataDir: string,
  port: number,
  verifySignatures: boolean,
): Promise<Child> {
  const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawnChild(
    'service',
    [...nodeArgs, SERVICE_MAIN, 'serve'],
    serviceEnvironment(dataDir, port, verifySignatures),
  );
  await waitUntilListening(child, port);
  return child;
}

function serviceEnvironment(
  dataDir: string,
  port: number,
  verifySignatures: boolean,
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    SCRAM_SECRETS_HOST: HOST,
    SCRAM_SECRETS_PORT: String(port),
    SCRAM_SECRETS_DATA_DIR: dataDir,
    SCRAM_SECRETS_CREDENTIALS: `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID}`,
    SCRAM_SECRETS_LOG_LEVEL: 'warn',
    SCRAM_SECRETS_CLUSTER_TRANSITION_SECONDS: '0',
    SCRAM_SECRETS_VERIFY_SIGNATURES: String(verifySignatures),
  };
}

async function startBareServer(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '' },
  main = BARE_SERVER_MAIN,
): Promise<{ child: Child; port: number }> {
  const child = spawnChild(name, [main, ...args], env);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(startFailure(child, 'did not report its port')),
      START_LIMIT_MS,
    );
    let pending = '';
    child.process.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const line = pending.split('\n', 1)[0];
      if (line === undefined || !pending.includes('\n')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.process.once('exit', () => reject(startFailure(child, 'exited before listening')));
  });
  return { child, port };
}

function spawnChild(name: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const spawned = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-4096);
  };
  spawned.stdout.on('data', keep);
  spawned.stderr.on('data', keep);
  const child: Child = { name, process: spawned, output: () => output };
  children.push(child);
  return child;
}

async function waitUntilListening(child: Child, port: number): Promise<void> {
  const deadline = Date.now() + START_LIMIT_MS;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) throw startFailure(child, 'exited before listening');
    const answered = await send(port, { target: '/', headers: {} }).then(
      () => true,
      () => false,
    );
    if (answered) return;
    await sleep(100);
  }
  throw startFailure(child, `did not listen on port ${port}`);
}

function startFailure(child: Child, what: string): Error {
  return new Error(`The ${child.name} ${what}. Its output:\n${child.output() || '(none)'}`);
}

/** Stops every child (SIGTERM, then SIGKILL after a grace period) and removes temp dirs. */
async function cleanUp(): Promise<void> {
  await Promise.all(children.map((child) => stopChild(child)));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

async function stopChild(child: Child): Promise<void> {
  const spawned = child.process;
  if (spawned.exitCode !== null || spawned.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => spawned.once('exit', () => resolve()));
  spawned.kill('SIGTERM');
  const killTimer = setTimeout(() => spawned.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(killTimer);
}

function killAllNow(): void {
  for (const child of children) {
    if (child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGKILL');
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('No free port on loopback.');
  return address.port;
}

/** One KMS key, 1,000 secrets, a SCRAM cluster, and every secret associated with it. */
async function seed(endpoint: string): Promise<string> {
  const clientConfig = {
    endpoint,
    region: REGION,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    maxAttempts: 1,
  };
  const kms = new KMSClient(clientConfig);
  const secretsManager = new SecretsManagerClient(clientConfig);
  const kafka = new KafkaClient(clientConfig);
  try {
    const key = await kms.send(new CreateKeyCommand({ Description: 'scram-secrets benchmark' }));
    const keyArn = key.KeyMetadata!.Arn!;
    const secretArns = await createSecrets(secretsManager, keyArn);
    const clusterArn = await createScramCluster(kafka);
    await associateAll(kafka, clusterArn, secretArns);
    return clusterArn;
  } finally {
    kms.destroy();
    secretsManager.destroy();
    kafka.destroy();
  }
}

async function createSecrets(client: SecretsManagerClient, keyArn: string): Promise<string[]> {
  const arns: string[] = new Array<string>(SECRET_COUNT);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < SECRET_COUNT) {
      const index = next++;
      const suffix = String(index).padStart(4, '0');
      const created = await client.send(
        new CreateSecretCommand({
          Name: `AmazonMSK_bench_${suffix}`,
          KmsKeyId: keyArn,
          SecretString: JSON.stringify({
            username: `user-${suffix}`,
            password: `password-${suffix}`,
          }),
        }),
      );
      arns[index] = created.ARN!;
    }
  };
  await Promise.all(Array.from({ length: SETUP_CONCURRENCY }, worker));
  return arns;
}

async function createScramCluster(client: KafkaClient): Promise<string> {
  const created = await client.send(
    new CreateClusterV2Command({
      ClusterName: 'scram-secrets-bench',
      Provisioned: {
        KafkaVersion: '3.6.0',
        NumberOfBrokerNodes: 3,
        BrokerNodeGroupInfo: {
          ClientSubnets: ['subnet-1', 'subnet-2', 'subnet-3'],
          InstanceType: 'kafka.m5.large',
        },
        ClientAuthentication: { Sasl: { Scram: { Enabled: true } } },
      },
    }),
  );
  const clusterArn = created.ClusterArn!;
  const deadline = Date.now() + START_LIMIT_MS;
  for (;;) {
    const described = await client.send(new DescribeClusterV2Command({ ClusterArn: clusterArn }));
    if (described.ClusterInfo?.State === 'ACTIVE') return clusterArn;
    const state = described.ClusterInfo?.State;
    if (Date.now() > deadline) throw new Error(`The cluster stayed ${state}.`);
    await sleep(100);
  }
}

async function associateAll(
  client: KafkaClient,
  clusterArn: string,
  secretArns: string[],
): Promise<void> {
  for (let start = 0; start < secretArns.length; start += BATCH_SIZE) {
    const result = await client.send(
      new BatchAssociateScramSecretCommand({
        ClusterArn: clusterArn,
        SecretArnList: secretArns.slice(start, start + BATCH_SIZE),
      }),
    );
    const refused = result.UnprocessedScramSecrets?.[0];
    if (refused) {
      throw new Error(`A secret was not associated: ${refused.ErrorCode} ${refused.ErrorMessage}`);
    }
  }
  const page = await client.send(
    new ListScramSecretsCommand({ ClusterArn: clusterArn, MaxResults: PAGE_SIZE }),
  );
  if (page.SecretArnList?.length !== PAGE_SIZE || page.NextToken === undefined) {
    const count = page.SecretArnList?.length;
    throw new Error(`ListScramSecrets through the SDK returned ${count} ARNs.`);
  }
}

/**
 * Signs the one request every connection repeats, as the AWS SDK would send it. It is signed
 * once, after setup, so that its X-Amz-Date is seconds old when the load starts and stays
 * within the five minutes of clock skew a verifying server accepts.
 */
async function signListRequest(port: number, clusterArn: string): Promise<SignedRequest> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    region: REGION,
    service: 'kafka',
    sha256: Hash.bind(null, 'sha256'),
  });
  const path = `/v1/clusters/${encodeURIComponent(clusterArn)}/scram-secrets`;
  const signed = await signer.sign({
    method: 'GET',
    protocol: 'http:',
    hostname: HOST,
    port,
    path,
    query: { maxResults: String(PAGE_SIZE) },
    headers: { host: `${HOST}:${port}` },
  });
  return { target: `${path}?maxResults=${PAGE_SIZE}`, headers: signed.headers };
}

/** Checks that the service answers the signed request with a full first page. */
async function captureServiceResponse(
  port: number,
  request: SignedRequest,
): Promise<CapturedResponse> {
  const response = await send(port, request);
  const text = response.body.toString('utf8');
  if (response.statusCode !== 200) {
    throw new Error(`The signed ListScramSecrets request got ${response.statusCode}: ${text}`);
  }
  const page = JSON.parse(text) as { secretArnList?: string[]; nextToken?: string };
  if (page.secretArnList?.length !== PAGE_SIZE || page.nextToken === undefined) {
    throw new Error(`The signed request returned an unexpected page: ${text.slice(0, 200)}`);
  }
  return response;
}

function toRecording(response: CapturedResponse): RecordedResponse {
  const headers: Array<[string, string]> = [];
  for (let index = 0; index + 1 < response.rawHeaders.length; index += 2) {
    headers.push([response.rawHeaders[index]!, response.rawHeaders[index + 1]!]);
  }
  return { statusCode: response.statusCode, headers, bodyBase64: response.body.toString('base64') };
}

/** The comparison is fair only if the bare server sends what the service sent, byte for byte. */
function requireSameResponse(service: CapturedResponse, bare: CapturedResponse): void {
  const sameHeaders = JSON.stringify(service.rawHeaders) === JSON.stringify(bare.rawHeaders);
  if (service.statusCode !== bare.statusCode || !sameHeaders || !service.body.equals(bare.body)) {
    throw new Error(
      'The bare server does not reproduce the service response.\n' +
        `service: ${service.statusCode} ${JSON.stringify(service.rawHeaders)}\n` +
        `bare:    ${bare.statusCode} ${JSON.stringify(bare.rawHeaders)}`,
    );
  }
}

function samePage(left: Buffer, right: Buffer): boolean {
  const arns = (body: Buffer): string => {
    const page = JSON.parse(body.toString('utf8')) as { secretArnList?: string[] };
    return JSON.stringify(page.secretArnList);
  };
  return left.length === right.length && arns(left) === arns(right);
}

/** One request on a keep-alive connection, as autocannon's connections send it. */
function send(port: number, request: SignedRequest): Promise<CapturedResponse> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const headers: OutgoingHttpHeaders = request.headers;
  return new Promise<CapturedResponse>((resolve, reject) => {
    const outgoing = httpRequest(
      { host: HOST, port, method: 'GET', path: request.target, headers, agent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            statusCode: response.statusCode ?? 0,
            rawHeaders: response.rawHeaders,
            body: Buffer.concat(chunks),
          }),
        );
        response.on('error', reject);
      },
    );
    outgoing.setTimeout(5_000, () => outgoing.destroy(new Error('The request timed out.')));
    outgoing.on('error', reject);
    outgoing.end();
  }).finally(() => agent.destroy());
}

function loadOptions(server: Target, seconds: number) {
  return {
    url: `${server.baseUrl}${server.request.target}`,
    method: 'GET',
    headers: server.request.headers,
    connections: CONNECTIONS,
    timeout: 10,
    duration: seconds,
  };
}

async function warmUp(server: Target): Promise<void> {
  requireClean(server.baseUrl, await autocannon(loadOptions(server, WARMUP_SECONDS)));
}

async function loadRound(server: Target): Promise<RoundResult> {
  const serverCpuBefore = cpuSeconds(server.pid);
  const ownCpuBefore = process.cpuUsage();
  const result = await autocannon(loadOptions(server, ROUND_SECONDS));
  const ownCpu = process.cpuUsage(ownCpuBefore);
  const serverCpuAfter = cpuSeconds(server.pid);
  requireClean(server.baseUrl, result);
  return {
    requests: result.requests.total,
    seconds: result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    serverCpuSeconds:
      serverCpuBefore === undefined || serverCpuAfter === undefined
        ? undefined
        : serverCpuAfter - serverCpuBefore,
    loadGeneratorCpuSeconds: (ownCpu.user + ownCpu.system) / 1e6,
  };
}

/** All rounds of one server together; latencies are the median round's. */
function summary(server: Target): LoadResult {
  const rounds = server.rounds;
  const seconds = sum(rounds.map((round) => round.seconds));
  const requests = sum(rounds.map((round) => round.requests));
  const serverCpu = rounds.some((round) => round.serverCpuSeconds === undefined)
    ? undefined
    : sum(rounds.map((round) => round.serverCpuSeconds!));
  return {
    requestsPerSecond: requests / seconds,
    p50Ms: median(rounds.map((round) => round.p50Ms)),
    p99Ms: median(rounds.map((round) => round.p99Ms)),
    serverCpuPercent: serverCpu === undefined ? undefined : (serverCpu / seconds) * 100,
    loadGeneratorCpuPercent:
      (sum(rounds.map((round) => round.loadGeneratorCpuSeconds)) / seconds) * 100,
  };
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A run with failed or refused requests measures something else; it is a failed benchmark. */
function requireClean(baseUrl: string, result: autocannon.Result): void {
  if (result.errors === 0 && result.timeouts === 0 && result.non2xx === 0) return;
  throw new Error(
    `Load on ${baseUrl} had ${result.errors} errors, ${result.timeouts} timeouts and ` +
      `${result.non2xx} non-2xx responses ` +
      `(status counts ${JSON.stringify(result.statusCodeStats)}).`,
  );
}

/** User plus system CPU time of a process so far, from /proc (Linux only). */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces, so fields are counted from after its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return undefined;
  }
}

interface Memory {
  /** Resident set size now (VmRSS). */
  rssMb: number;
  /** The highest resident set size so far (VmHWM). */
  peakRssMb: number;
}

/** A process's resident memory, from /proc (Linux only). */
function memoryMb(pid: number | undefined): Memory | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => {
      const kilobytes = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, 'm').exec(status)?.[1];
      if (kilobytes === undefined) throw new Error(`/proc/${pid}/status has no ${name}.`);
      return Number(kilobytes) / 1024;
    };
    return { rssMb: field('VmRSS'), peakRssMb: field('VmHWM') };
  } catch {
    return undefined;
  }
}

interface Report {
  setupSeconds: number;
  responseBytes: number;
  serviceLoad: LoadResult;
  unverifiedLoad: LoadResult;
  bareLoad: LoadResult;
  frameworkLoad: LoadResult;
  workedLoad: LoadResult;
  signatureOnlyLoad: LoadResult;
  pageOnlyLoad: LoadResult;
  hashesOnlyLoad: LoadResult;
  /** Per server (in the order of the table), its rounds in the order they ran. */
  rounds: RoundResult[][];
  /** The process that created the data, and the verifying one that was measured. */
  serviceMemory: { setup: Memory | undefined; afterLoad: Memory | undefined };
  unverifiedMemory: Memory | undefined;
}

function report(figures: Report): void {
  const ratio = figures.serviceLoad.requestsPerSecond / figures.bareLoad.requestsPerSecond;
  const verificationRatio =
    figures.serviceLoad.requestsPerSecond / figures.unverifiedLoad.requestsPerSecond;
  const { setup, afterLoad } = figures.serviceMemory;
  // The service's peak over its whole life: creating the data counts as much as serving it.
  const rss =
    setup === undefined || afterLoad === undefined
      ? undefined
      : Math.max(setup.peakRssMb, afterLoad.peakRssMb);
  const [serviceRounds = [], bareRounds = [], unverifiedRounds = []] = figures.rounds;
  const lines = [
    `ListScramSecrets, maxResults=${PAGE_SIZE}, first page of ${SECRET_COUNT} associated secrets ` +
      `(${figures.responseBytes} B body)`,
    `autocannon: ${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up, then ${ROUNDS} ` +
      `rounds of ${ROUND_SECONDS} s per server, the servers taking turns; ` +
      `setup took ${figures.setupSeconds.toFixed(1)} s`,
    '',
    'server'.padEnd(24) +
      'requests/s'.padStart(12) +
      'p50 ms'.padStart(9) +
      'p99 ms'.padStart(9) +
      'server CPU'.padStart(12) +
      'autocannon CPU'.padStart(16) +
      'CPU us/request'.padStart(16),
    loadLine('service, SigV4 on', figures.serviceLoad),
    loadLine('bare node:http', figures.bareLoad),
    loadLine('service, SigV4 off', figures.unverifiedLoad),
    loadLine('Fastify, same body', figures.frameworkLoad),
    loadLine(`node:http + ${CALIBRATION_WORK_US} us work`, figures.workedLoad),
    loadLine('node:http + SigV4 check', figures.signatureOnlyLoad),
    loadLine('node:http + page read', figures.pageOnlyLoad),
    loadLine('node:http + SigV4 hashes', figures.hashesOnlyLoad),
    '',
    `ratio service/bare: ${ratio.toFixed(3)} ` +
      `(target >= ${TARGET_RATIO}: ${verdict(ratio >= TARGET_RATIO)}); ` +
      `by round: ${roundRatios(serviceRounds, bareRounds)}`,
    `ratio SigV4 verification on/off: ${verificationRatio.toFixed(3)} ` +
      `(target >= ${TARGET_VERIFICATION_RATIO}: ` +
      `${verdict(verificationRatio >= TARGET_VERIFICATION_RATIO)}); ` +
      `by round: ${roundRatios(serviceRounds, unverifiedRounds)}`,
    `the same ratios by CPU per request (steadier when other work shares the machine): ` +
      `${cpuRatio(figures.bareLoad, figures.serviceLoad)} and ` +
      `${cpuRatio(figures.unverifiedLoad, figures.serviceLoad)}`,
    `calibration, as ratios to bare: the same body through Fastify ` +
      `${rateRatio(figures.frameworkLoad, figures.bareLoad)}; node:http after ` +
      `${CALIBRATION_WORK_US} us of busy work per request ` +
      `${rateRatio(figures.workedLoad, figures.bareLoad)}`,
    `the service's parts alone, as ratios to bare: its SigV4 check before the same bytes ` +
      `${rateRatio(figures.signatureOnlyLoad, figures.bareLoad)}; its page read (SQL, ` +
      `nextToken, JSON) without a check ${rateRatio(figures.pageOnlyLoad, figures.bareLoad)}`,
    ...targetsTogether(figures),
    `service peak RSS: ${rss === undefined ? 'unavailable (no /proc)' : `${rss.toFixed(1)} MB`} ` +
      `(target < ${TARGET_PEAK_RSS_MB} MB: ` +
      `${rss === undefined ? 'unknown' : verdict(rss < TARGET_PEAK_RSS_MB)})`,
    `service RSS: ${setup?.peakRssMb.toFixed(1) ?? '?'} MB peak while creating the data; ` +
      `the measured one ${afterLoad?.peakRssMb.toFixed(1) ?? '?'} MB peak, ` +
      `${afterLoad?.rssMb.toFixed(1) ?? '?'} MB after load; ` +
      `without verification ${figures.unverifiedMemory?.peakRssMb.toFixed(1) ?? '?'} MB peak`,
    'Latencies are recorded by autocannon at 1 ms resolution (medians of the rounds). CPU is',
    "percent of one core; CPU us/request is the server process's CPU time per completed",
    'request, steadier than requests/s when other work shares the machine.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Whether the two throughput targets can hold at once, from CPU time per request: SigV4 on/off
 * of at least 0.8 means the check may take at most a fifth of a checked request, so a check of
 * C µs needs requests of at least 5C µs, and that caps service/bare. Worked out for the
 * service's own check, and for the hashing alone, which any check makes.
 */
function targetsTogether(figures: Report): string[] {
  const bare = cpuMicroseconds(figures.bareLoad);
  const check = cpuMicroseconds(figures.signatureOnlyLoad);
  const hashes = cpuMicroseconds(figures.hashesOnlyLoad);
  if (bare === undefined || check === undefined || hashes === undefined) {
    return ['the two targets together: unavailable (no CPU times)'];
  }
  const share = 1 - TARGET_VERIFICATION_RATIO;
  const cap = (checkMicroseconds: number): string =>
    checkMicroseconds <= 0 ? 'none' : ((bare * share) / checkMicroseconds).toFixed(3);
  return [
    `the two targets together, by CPU per request: service/bare >= ${TARGET_RATIO} allows at ` +
      `most ${(bare / TARGET_RATIO).toFixed(0)} us per request; SigV4 on/off >= ` +
      `${TARGET_VERIFICATION_RATIO} lets the check take at most ${(share * 100).toFixed(0)}% ` +
      `of it. The service's check takes ${(check - bare).toFixed(1)} us, so both hold only ` +
      `up to service/bare ${cap(check - bare)}; the hashing alone, ` +
      `${(hashes - bare).toFixed(1)} us, would allow up to ${cap(hashes - bare)}`,
  ];
}

function cpuMicroseconds(result: LoadResult): number | undefined {
  return result.serverCpuPercent === undefined
    ? undefined
    : (result.serverCpuPercent / 100 / result.requestsPerSecond) * 1e6;
}

function rateRatio(numerator: LoadResult, denominator: LoadResult): string {
  return (numerator.requestsPerSecond / denominator.requestsPerSecond).toFixed(3);
}

/** The throughput ratio slower/faster that their CPU time per request alone would give. */
function cpuRatio(faster: LoadResult, slower: LoadResult): string {
  const perRequest = (result: LoadResult): number | undefined =>
    result.serverCpuPercent === undefined
      ? undefined
      : result.serverCpuPercent / result.requestsPerSecond;
  const fast = perRequest(faster);
  const slow = perRequest(slower);
  return fast === undefined || slow === undefined ? 'n/a' : (fast / slow).toFixed(3);
}

/** The throughput ratio of two servers in each round, to show how much the rounds vary. */
function roundRatios(numerator: RoundResult[], denominator: RoundResult[]): string {
  const rate = (round: RoundResult): number => round.requests / round.seconds;
  return numerator
    .map((round, index) => (rate(round) / rate(denominator[index]!)).toFixed(2))
    .join(', ');
}

function verdict(met: boolean): string {
  return met ? 'met' : 'NOT met';
}

function loadLine(name: string, result: LoadResult): string {
  const cpu = (percent: number | undefined): string =>
    percent === undefined ? 'n/a' : `${percent.toFixed(0)}%`;
  // CPU time per request is steadier than requests/s when other work shares the machine.
  const cpuPerRequest =
    result.serverCpuPercent === undefined
      ? 'n/a'
      : ((result.serverCpuPercent / 100 / result.requestsPerSecond) * 1e6).toFixed(0);
  return (
    name.padEnd(24) +
    result.requestsPerSecond.toFixed(1).padStart(12) +
    String(result.p50Ms).padStart(9) +
    String(result.p99Ms).padStart(9) +
    cpu(result.serverCpuPercent).padStart(12) +
    cpu(result.loadGeneratorCpuPercent).padStart(16) +
    cpuPerRequest.padStart(16)
  );
}

runBenchmark(main, { limitMs: RUN_LIMIT_MS, killNow: killAllNow, cleanUp });
