import { randomUUID } from 'node:crypto';

import { CreateClusterV2Command, type KafkaClient } from '@aws-sdk/client-kafka';
import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

import { rawRequest, type RawResponse } from './raw.js';
import { ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY } from './server.js';

/** A short random tag, so that names made by one test never collide with another's. */
export function uniqueTag(): string {
  return randomUUID().slice(0, 8);
}

/** A customer managed KMS key; returns its key id. */
export async function createKey(kms: KMSClient, description = 'test key'): Promise<string> {
  const created = await kms.send(new CreateKeyCommand({ Description: description }));
  return created.KeyMetadata!.KeyId!;
}

export interface MskSecret {
  arn: string;
  name: string;
  username: string;
  password: string;
}

export interface MskSecretInput {
  /** The KMS key to encrypt under; left out, Secrets Manager uses aws/secretsmanager. */
  kmsKeyId?: string;
  /** The full secret name; by default `AmazonMSK_<username>`. */
  name?: string;
  username?: string;
  password?: string;
  /** A raw secret string, instead of the `{username, password}` document. */
  secretString?: string;
  /** Create the secret with no value at all. */
  noValue?: boolean;
}

/** A secret shaped as MSK expects it, unless the input asks for one that is not. */
export async function createMskSecret(
  secretsManager: SecretsManagerClient,
  input: MskSecretInput = {},
): Promise<MskSecret> {
  const username = input.username ?? `user-${uniqueTag()}`;
  const password = input.password ?? `pw-${randomUUID()}`;
  const name = input.name ?? `AmazonMSK_${username}-${uniqueTag()}`;
  const secretString = input.noValue
    ? undefined
    : (input.secretString ?? JSON.stringify({ username, password }));
  const created = await secretsManager.send(
    new CreateSecretCommand({ Name: name, KmsKeyId: input.kmsKeyId, SecretString: secretString }),
  );
  return { arn: created.ARN!, name, username, password };
}

/** Many valid secrets under one key, created a chunk at a time so the run stays quick. */
export async function createMskSecrets(
  secretsManager: SecretsManagerClient,
  kmsKeyId: string,
  count: number,
  nameOf: (index: number) => string = (index) => `AmazonMSK_bulk-${uniqueTag()}-${index}`,
  chunkSize = 50,
): Promise<MskSecret[]> {
  const secrets: MskSecret[] = [];
  for (let start = 0; start < count; start += chunkSize) {
    const indexes = Array.from({ length: Math.min(chunkSize, count - start) }, (_, i) => start + i);
    const chunk = await Promise.all(
      indexes.map((index) =>
        createMskSecret(secretsManager, {
          kmsKeyId,
          name: nameOf(index),
          username: `bulk-${uniqueTag()}-${index}`,
        }),
      ),
    );
    secrets.push(...chunk);
  }
  return secrets;
}

/** A provisioned cluster, with SASL/SCRAM on unless asked otherwise; returns its ARN. */
export async function createScramCluster(
  kafka: KafkaClient,
  options: { name?: string; scram?: boolean } = {},
): Promise<string> {
  const created = await kafka.send(
    new CreateClusterV2Command({
      ClusterName: options.name ?? `cluster-${uniqueTag()}`,
      Provisioned: {
        KafkaVersion: '3.6.0',
        NumberOfBrokerNodes: 3,
        BrokerNodeGroupInfo: {
          ClientSubnets: ['subnet-1', 'subnet-2'],
          InstanceType: 'kafka.m5.large',
        },
        ClientAuthentication:
          options.scram === false ? undefined : { Sasl: { Scram: { Enabled: true } } },
      },
    }),
  );
  return created.ClusterArn!;
}

export interface RecordedResponse {
  operation: string;
  status: number;
  requestId: string | undefined;
  body: string;
}

interface RawHttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * Keeps every raw HTTP response a client receives, before the SDK parses it, so that tests
 * can assert on what went over the wire. The body is read once and handed on as bytes, which
 * the SDK's deserializers accept in place of a stream.
 */
export function recordResponses<Client extends { middlewareStack: unknown }>(
  client: Client,
  sink: RecordedResponse[],
): Client {
  const stack = client.middlewareStack as {
    add(middleware: unknown, options: Record<string, unknown>): void;
  };
  type Next = (args: unknown) => Promise<{ response: RawHttpResponse }>;
  const record = (next: Next, context: { commandName?: string }) => async (args: unknown) => {
    const result = await next(args);
    const bytes = await readBody(result.response.body);
    result.response.body = bytes;
    sink.push({
      operation: context.commandName ?? 'unknown',
      status: result.response.statusCode,
      requestId: headerOf(result.response.headers, 'x-amzn-requestid'),
      body: Buffer.from(bytes).toString('utf8'),
    });
    return result;
  };
  // Low priority in the deserialize step runs inside the SDK's deserializer, on the raw reply.
  stack.add(record, { step: 'deserialize', priority: 'low', name: 'recordRawResponses' });
  return client;
}

async function readBody(body: unknown): Promise<Uint8Array> {
  if (body === undefined || body === null) return new Uint8Array();
  if (body instanceof Uint8Array) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function headerOf(headers: Record<string, string>, name: string): string | undefined {
  const found = Object.keys(headers).find((key) => key.toLowerCase() === name);
  return found === undefined ? undefined : headers[found];
}

/**
 * One MSK REST request sent without the SDK, for input the SDK will not send. It is signed
 * with SigV4 as the SDK would sign it, so it passes signature verification when that is on.
 */
export async function kafkaRequest(
  baseUrl: string,
  input: {
    method: 'GET' | 'POST' | 'PATCH';
    /** The path as sent, already percent-encoded, with its query string if any. */
    path: string;
    body?: string;
  },
  sink?: RecordedResponse[],
): Promise<RawResponse> {
  const url = new URL(`${baseUrl}${input.path}`);
  const headers: Record<string, string> = { host: url.host };
  if (input.body !== undefined) headers['content-type'] = 'application/json';
  const signer = new SignatureV4({
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    region: REGION,
    service: 'kafka',
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.sign({
    method: input.method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query: parseQuery(url.search.slice(1)),
    headers,
    body: input.body,
  });
  const { host: _host, ...sent } = signed.headers;
  const response = await rawRequest(url.toString(), {
    method: input.method,
    headers: sent,
    body: input.body,
  });
  sink?.push({
    operation: `raw ${input.method} ${input.path}`,
    status: response.status,
    requestId: response.headers.get('x-amzn-requestid') ?? undefined,
    body: response.text,
  });
  return response;
}

/** The query as the service reads it: repeated names become lists, values are decoded. */
function parseQuery(raw: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const separator = pair.indexOf('=');
    const name = decodeURIComponent(separator < 0 ? pair : pair.slice(0, separator));
    const value = separator < 0 ? '' : decodeURIComponent(pair.slice(separator + 1));
    const existing = query[name];
    if (existing === undefined) query[name] = value;
    else query[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return query;
}
