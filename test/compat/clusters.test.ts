import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import {
  BadRequestException,
  ConflictException,
  CreateClusterCommand,
  CreateClusterV2Command,
  DeleteClusterCommand,
  DescribeClusterCommand,
  DescribeClusterOperationCommand,
  DescribeClusterV2Command,
  GetBootstrapBrokersCommand,
  KafkaServiceException,
  ListClustersCommand,
  ListClustersV2Command,
  ListTagsForResourceCommand,
  NotFoundException,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecurityCommand,
  type ClientAuthentication,
  type KafkaClient,
} from '@aws-sdk/client-kafka';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

import {
  ACCESS_KEY_ID,
  ACCOUNT_ID,
  OTHER_ACCESS_KEY_ID,
  OTHER_SECRET_ACCESS_KEY,
  REGION,
  SECRET_ACCESS_KEY,
  startTestServer,
  type TestServer,
} from '../support/server.js';
import { rawRequest } from '../support/raw.js';
import { signedHeaders } from '../support/signing.js';

let server: TestServer;
let kafka: KafkaClient;

before(async () => {
  server = await startTestServer();
  kafka = server.kafka();
});
after(async () => server.stop());

const SCRAM: ClientAuthentication = { Sasl: { Scram: { Enabled: true } } };
const BROKER_NODE_GROUP = {
  ClientSubnets: ['subnet-0a1', 'subnet-0b2', 'subnet-0c3'],
  InstanceType: 'kafka.m5.large',
};

function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

function clusterArnPattern(name: string, region = REGION, account = ACCOUNT_ID): RegExp {
  return new RegExp(
    `^arn:aws:kafka:${region}:${account}:cluster/${name}/` +
      '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-\\d+$',
  );
}

/** A cluster ARN in the right format that names no cluster. */
function unknownClusterArn(account = ACCOUNT_ID): string {
  return `arn:aws:kafka:${REGION}:${account}:cluster/nobody/${randomUUID()}-3`;
}

/**
 * Awaits a call that must fail, and checks that the SDK turned the answer into the named MSK
 * exception class.
 */
async function rejectsWith<T extends Error>(
  call: Promise<unknown>,
  exception: new (...args: never[]) => T,
): Promise<T> {
  const error = await call.then(
    () => assert.fail(`expected ${exception.name}, but the call succeeded`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof exception, `expected ${exception.name}, got ${String(error)}`);
  assert.equal(error.name, exception.name);
  assert.ok(error instanceof KafkaServiceException);
  return error;
}

async function createCluster(
  client: KafkaClient,
  options: { name?: string; scram?: boolean; tags?: Record<string, string> } = {},
): Promise<{ arn: string; name: string }> {
  const name = options.name ?? unique('cluster');
  const created = await client.send(
    new CreateClusterV2Command({
      ClusterName: name,
      Tags: options.tags,
      Provisioned: {
        KafkaVersion: '3.6.0',
        NumberOfBrokerNodes: 3,
        BrokerNodeGroupInfo: BROKER_NODE_GROUP,
        ClientAuthentication: options.scram === false ? undefined : SCRAM,
      },
    }),
  );
  return { arn: created.ClusterArn!, name };
}

async function currentVersion(arn: string, client = kafka): Promise<string> {
  const described = await client.send(new DescribeClusterCommand({ ClusterArn: arn }));
  return described.ClusterInfo!.CurrentVersion!;
}

describe('CreateCluster and CreateClusterV2', () => {
  test('CreateCluster makes a provisioned cluster with an MSK-shaped ARN', async () => {
    const name = unique('v1');
    const created = await kafka.send(
      new CreateClusterCommand({
        ClusterName: name,
        KafkaVersion: '3.5.1',
        NumberOfBrokerNodes: 2,
        BrokerNodeGroupInfo: BROKER_NODE_GROUP,
        ClientAuthentication: SCRAM,
        Tags: { env: 'test' },
      }),
    );
    assert.equal(created.ClusterName, name);
    assert.match(created.ClusterArn!, clusterArnPattern(name));
    assert.ok(['CREATING', 'ACTIVE'].includes(created.State!), created.State);
  });

  test('CreateClusterV2 makes a provisioned cluster and refuses serverless', async () => {
    const name = unique('v2');
    const created = await kafka.send(
      new CreateClusterV2Command({
        ClusterName: name,
        Provisioned: {
          KafkaVersion: '3.6.0',
          NumberOfBrokerNodes: 3,
          BrokerNodeGroupInfo: BROKER_NODE_GROUP,
        },
      }),
    );
    assert.equal(created.ClusterName, name);
    assert.equal(created.ClusterType, 'PROVISIONED');
    assert.match(created.ClusterArn!, clusterArnPattern(name));

    const serverlessName = unique('serverless');
    await rejectsWith(
      kafka.send(
        new CreateClusterV2Command({
          ClusterName: serverlessName,
          Serverless: { VpcConfigs: [{ SubnetIds: ['subnet-1', 'subnet-2'] }] },
        }),
      ),
      BadRequestException,
    );
    await rejectsWith(
      kafka.send(new CreateClusterV2Command({ ClusterName: unique('neither') })),
      BadRequestException,
    );
    const listed = await kafka.send(
      new ListClustersV2Command({ ClusterNameFilter: serverlessName }),
    );
    assert.deepEqual(listed.ClusterInfoList ?? [], []);
  });

  test('a name already in use is ConflictException, whichever call made it', async () => {
    const { name } = await createCluster(kafka);
    await rejectsWith(createCluster(kafka, { name }), ConflictException);
    await rejectsWith(
      kafka.send(
        new CreateClusterCommand({
          ClusterName: name,
          KafkaVersion: '3.6.0',
          NumberOfBrokerNodes: 3,
          BrokerNodeGroupInfo: BROKER_NODE_GROUP,
        }),
      ),
      ConflictException,
    );
  });

  test('invalid input is BadRequestException', async () => {
    await rejectsWith(createCluster(kafka, { name: 'bad name!' }), BadRequestException);
    await rejectsWith(
      kafka.send(
        new CreateClusterCommand({
          ClusterName: unique('zero-brokers'),
          KafkaVersion: '3.6.0',
          NumberOfBrokerNodes: 0,
          BrokerNodeGroupInfo: BROKER_NODE_GROUP,
        }),
      ),
      BadRequestException,
    );
  });
});

describe('DescribeCluster and DescribeClusterV2', () => {
  test('describe what was created, with dates the SDK parses', async () => {
    const before = Date.now();
    const { arn, name } = await createCluster(kafka, { tags: { team: 'streaming' } });

    const v1 = (await kafka.send(new DescribeClusterCommand({ ClusterArn: arn }))).ClusterInfo!;
    assert.equal(v1.ClusterArn, arn);
    assert.equal(v1.ClusterName, name);
    assert.equal(v1.State, 'ACTIVE');
    assert.ok(v1.CreationTime instanceof Date);
    assert.ok(Math.abs(v1.CreationTime.getTime() - before) < 60_000);
    assert.equal(typeof v1.CurrentVersion, 'string');
    assert.ok(v1.CurrentVersion!.length > 0);
    assert.equal(v1.NumberOfBrokerNodes, 3);
    assert.deepEqual(v1.BrokerNodeGroupInfo?.ClientSubnets, BROKER_NODE_GROUP.ClientSubnets);
    assert.equal(v1.BrokerNodeGroupInfo?.InstanceType, 'kafka.m5.large');
    assert.equal(v1.ClientAuthentication?.Sasl?.Scram?.Enabled, true);
    assert.equal(v1.CurrentBrokerSoftwareInfo?.KafkaVersion, '3.6.0');
    assert.deepEqual(v1.Tags, { team: 'streaming' });

    const v2 = (await kafka.send(new DescribeClusterV2Command({ ClusterArn: arn }))).ClusterInfo!;
    assert.equal(v2.ClusterArn, arn);
    assert.equal(v2.ClusterName, name);
    assert.equal(v2.ClusterType, 'PROVISIONED');
    assert.equal(v2.State, 'ACTIVE');
    assert.ok(v2.CreationTime instanceof Date);
    assert.equal(v2.CreationTime.getTime(), v1.CreationTime.getTime());
    assert.equal(v2.CurrentVersion, v1.CurrentVersion);
    assert.deepEqual(v2.Tags, { team: 'streaming' });
    assert.equal(v2.Provisioned?.NumberOfBrokerNodes, 3);
    assert.equal(v2.Provisioned?.ClientAuthentication?.Sasl?.Scram?.Enabled, true);
    assert.equal(v2.Provisioned?.CurrentBrokerSoftwareInfo?.KafkaVersion, '3.6.0');
    assert.equal(v2.Provisioned?.BrokerNodeGroupInfo?.InstanceType, 'kafka.m5.large');
  });
});

describe('ListClusters and ListClustersV2', () => {
  // A region of its own, so that only this suite's clusters are listed.
  const LIST_REGION = 'eu-central-1';
  let client: KafkaClient;
  const arns = new Map<string, string>();

  before(async () => {
    client = server.kafka({ region: LIST_REGION });
    for (const name of ['orders-1', 'orders-2', 'orders-3', 'orders-4', 'payments-1', 'Orders-x']) {
      arns.set(name, (await createCluster(client, { name })).arn);
    }
  });

  async function listV1(filter?: string, maxResults?: number): Promise<string[]> {
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new ListClustersCommand({
          ClusterNameFilter: filter,
          MaxResults: maxResults,
          NextToken: nextToken,
        }),
      );
      if (maxResults !== undefined) assert.ok((page.ClusterInfoList ?? []).length <= maxResults);
      for (const info of page.ClusterInfoList ?? []) {
        assert.equal(info.ClusterArn, arns.get(info.ClusterName!));
        assert.ok(info.CreationTime instanceof Date);
        names.push(info.ClusterName!);
      }
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
    return names;
  }

  async function listV2(filter?: string, maxResults?: number): Promise<string[]> {
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new ListClustersV2Command({
          ClusterNameFilter: filter,
          MaxResults: maxResults,
          NextToken: nextToken,
        }),
      );
      if (maxResults !== undefined) assert.ok((page.ClusterInfoList ?? []).length <= maxResults);
      for (const info of page.ClusterInfoList ?? []) {
        assert.equal(info.ClusterArn, arns.get(info.ClusterName!));
        assert.equal(info.ClusterType, 'PROVISIONED');
        assert.ok(info.CreationTime instanceof Date);
        names.push(info.ClusterName!);
      }
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
    return names;
  }

  test('list every cluster, in one page or many', async () => {
    const everything = [...arns.keys()].sort();
    assert.deepEqual((await listV1()).sort(), everything);
    assert.deepEqual((await listV2()).sort(), everything);

    const paged = await listV1(undefined, 2);
    assert.equal(paged.length, everything.length, 'no cluster is listed twice');
    assert.deepEqual(paged.sort(), everything);
    assert.deepEqual((await listV2(undefined, 4)).sort(), everything);

    const first = await client.send(new ListClustersCommand({ MaxResults: 6 }));
    assert.equal(first.NextToken, undefined, 'a page that holds the last cluster ends the list');
  });

  test('ClusterNameFilter keeps the clusters whose name starts with it', async () => {
    const orders = ['orders-1', 'orders-2', 'orders-3', 'orders-4'];
    assert.deepEqual((await listV1('orders')).sort(), orders);
    assert.deepEqual((await listV1('orders', 3)).sort(), orders);
    assert.deepEqual((await listV2('orders', 1)).sort(), orders);
    assert.deepEqual(await listV1('payments'), ['payments-1']);
    assert.deepEqual(await listV2('Orders'), ['Orders-x']);
    assert.deepEqual(await listV1('nothing-like-this'), []);
  });

  test('ClusterTypeFilter PROVISIONED lists them all, SERVERLESS none', async () => {
    const provisioned = await client.send(
      new ListClustersV2Command({ ClusterTypeFilter: 'PROVISIONED' }),
    );
    assert.equal(provisioned.ClusterInfoList?.length, arns.size);
    const serverless = await client.send(
      new ListClustersV2Command({ ClusterTypeFilter: 'SERVERLESS' }),
    );
    assert.deepEqual(serverless.ClusterInfoList ?? [], []);
    await rejectsWith(
      client.send(new ListClustersV2Command({ ClusterTypeFilter: 'BOTH' })),
      BadRequestException,
    );
  });

  test('a NextToken from another listing, or made up, is BadRequestException', async () => {
    const page = await client.send(new ListClustersCommand({ MaxResults: 1 }));
    assert.ok(page.NextToken);
    await rejectsWith(
      client.send(
        new ListClustersCommand({ NextToken: page.NextToken, ClusterNameFilter: 'orders' }),
      ),
      BadRequestException,
    );
    await rejectsWith(
      client.send(new ListClustersV2Command({ NextToken: 'made-up-token' })),
      BadRequestException,
    );
    await rejectsWith(client.send(new ListClustersCommand({ MaxResults: 0 })), BadRequestException);
  });
});

describe('DeleteCluster', () => {
  test('deletes a cluster, checking CurrentVersion when it is given', async () => {
    const { arn } = await createCluster(kafka);
    await rejectsWith(
      kafka.send(new DeleteClusterCommand({ ClusterArn: arn, CurrentVersion: 'K3AEGXETSR30VB' })),
      BadRequestException,
    );
    await kafka.send(new DescribeClusterCommand({ ClusterArn: arn }));

    const deleted = await kafka.send(
      new DeleteClusterCommand({ ClusterArn: arn, CurrentVersion: await currentVersion(arn) }),
    );
    assert.equal(deleted.ClusterArn, arn);
    assert.equal(deleted.State, 'DELETING');
    await rejectsWith(
      kafka.send(new DescribeClusterCommand({ ClusterArn: arn })),
      NotFoundException,
    );
    await rejectsWith(kafka.send(new DeleteClusterCommand({ ClusterArn: arn })), NotFoundException);
  });

  test('without CurrentVersion, and the name can be used again', async () => {
    const { arn, name } = await createCluster(kafka);
    await kafka.send(new DeleteClusterCommand({ ClusterArn: arn }));
    const again = await createCluster(kafka, { name });
    assert.notEqual(again.arn, arn);
  });
});

describe('GetBootstrapBrokers and UpdateSecurity', () => {
  test('the SASL/SCRAM broker string is there exactly while SCRAM is on', async () => {
    const { arn } = await createCluster(kafka);
    const withScram = await kafka.send(new GetBootstrapBrokersCommand({ ClusterArn: arn }));
    assert.ok(withScram.BootstrapBrokerStringSaslScram, 'SCRAM brokers are listed');
    const hosts = withScram.BootstrapBrokerStringSaslScram.split(',');
    assert.equal(hosts.length, 3);
    for (const host of hosts) assert.match(host, /^b-\d\.[a-z0-9-]+\..+:9096$/);

    const versionBefore = await currentVersion(arn);
    await rejectsWith(
      kafka.send(
        new UpdateSecurityCommand({
          ClusterArn: arn,
          CurrentVersion: 'K3AEGXETSR30VB',
          ClientAuthentication: {
            Sasl: { Scram: { Enabled: false } },
            Unauthenticated: { Enabled: true },
          },
        }),
      ),
      BadRequestException,
    );
    assert.equal(await currentVersion(arn), versionBefore, 'a refused update changes nothing');

    const off = await kafka.send(
      new UpdateSecurityCommand({
        ClusterArn: arn,
        CurrentVersion: versionBefore,
        ClientAuthentication: {
          Sasl: { Scram: { Enabled: false } },
          Unauthenticated: { Enabled: true },
        },
      }),
    );
    assert.equal(off.ClusterArn, arn);
    // As on MSK, the operation is named after the cluster's name and id.
    const [, clusterId] = arn.split(':cluster/');
    assert.match(
      off.ClusterOperationArn!,
      new RegExp(
        `^arn:aws:kafka:us-east-1:111122223333:cluster-operation/${clusterId}/[0-9a-f-]{36}$`,
      ),
    );
    const versionAfterOff = await currentVersion(arn);
    assert.notEqual(versionAfterOff, versionBefore);

    // The operation can be followed, as Terraform's provider does after an update.
    const operation = (
      await kafka.send(
        new DescribeClusterOperationCommand({ ClusterOperationArn: off.ClusterOperationArn }),
      )
    ).ClusterOperationInfo!;
    assert.equal(operation.ClusterArn, arn);
    assert.equal(operation.OperationType, 'UPDATE_SECURITY');
    assert.equal(operation.OperationState, 'UPDATE_COMPLETE');
    assert.ok(operation.CreationTime instanceof Date);
    assert.equal(operation.SourceClusterInfo?.ClientAuthentication?.Sasl?.Scram?.Enabled, true);
    assert.equal(operation.TargetClusterInfo?.ClientAuthentication?.Sasl?.Scram?.Enabled, false);
    const stranger = server.kafka({
      accessKeyId: OTHER_ACCESS_KEY_ID,
      secretAccessKey: OTHER_SECRET_ACCESS_KEY,
    });
    await rejectsWith(
      stranger.send(
        new DescribeClusterOperationCommand({ ClusterOperationArn: off.ClusterOperationArn }),
      ),
      NotFoundException,
    );

    const described = await kafka.send(new DescribeClusterCommand({ ClusterArn: arn }));
    assert.equal(described.ClusterInfo?.ClientAuthentication?.Sasl?.Scram?.Enabled, false);
    const withoutScram = await kafka.send(new GetBootstrapBrokersCommand({ ClusterArn: arn }));
    assert.equal(withoutScram.BootstrapBrokerStringSaslScram, undefined);
    assert.ok(withoutScram.BootstrapBrokerString, 'plaintext brokers once unauthenticated is on');

    await rejectsWith(
      kafka.send(
        new UpdateSecurityCommand({
          ClusterArn: arn,
          CurrentVersion: versionBefore,
          ClientAuthentication: SCRAM,
        }),
      ),
      BadRequestException,
    );
    await kafka.send(
      new UpdateSecurityCommand({
        ClusterArn: arn,
        CurrentVersion: versionAfterOff,
        ClientAuthentication: SCRAM,
      }),
    );
    assert.notEqual(await currentVersion(arn), versionAfterOff);
    const scramAgain = await kafka.send(new GetBootstrapBrokersCommand({ ClusterArn: arn }));
    assert.ok(scramAgain.BootstrapBrokerStringSaslScram);
  });

  test('a cluster without SCRAM has no SASL/SCRAM broker string', async () => {
    const { arn } = await createCluster(kafka, { scram: false });
    const brokers = await kafka.send(new GetBootstrapBrokersCommand({ ClusterArn: arn }));
    assert.equal(brokers.BootstrapBrokerStringSaslScram, undefined);
    assert.ok(brokers.BootstrapBrokerString);
  });
});

describe('cluster state transitions', () => {
  let slow: TestServer;
  before(async () => {
    slow = await startTestServer({ SCRAM_SECRETS_CLUSTER_TRANSITION_SECONDS: '0.3' });
  });
  after(async () => slow.stop());

  test('security changes wait until a new cluster is ACTIVE', async () => {
    const client = slow.kafka();
    const { arn } = await createCluster(client);
    const creating = await client.send(new DescribeClusterCommand({ ClusterArn: arn }));
    assert.equal(creating.ClusterInfo?.State, 'CREATING');
    await rejectsWith(
      client.send(
        new UpdateSecurityCommand({
          ClusterArn: arn,
          CurrentVersion: creating.ClusterInfo!.CurrentVersion,
          ClientAuthentication: { Sasl: { Scram: { Enabled: false } } },
        }),
      ),
      BadRequestException,
    );

    await new Promise((resolve) => setTimeout(resolve, 400));
    const active = await client.send(new DescribeClusterCommand({ ClusterArn: arn }));
    assert.equal(active.ClusterInfo?.State, 'ACTIVE');
    await client.send(
      new UpdateSecurityCommand({
        ClusterArn: arn,
        CurrentVersion: active.ClusterInfo!.CurrentVersion,
        ClientAuthentication: { Sasl: { Scram: { Enabled: false } } },
      }),
    );
    const updating = await client.send(new DescribeClusterV2Command({ ClusterArn: arn }));
    assert.equal(updating.ClusterInfo?.State, 'UPDATING');
  });
});

describe('tags', () => {
  test('TagResource, ListTagsForResource and UntagResource', async () => {
    const { arn } = await createCluster(kafka, { tags: { env: 'test', owner: 'alice' } });
    const tagsOf = async (): Promise<Record<string, string> | undefined> =>
      (await kafka.send(new ListTagsForResourceCommand({ ResourceArn: arn }))).Tags;
    assert.deepEqual(await tagsOf(), { env: 'test', owner: 'alice' });

    await kafka.send(
      new TagResourceCommand({ ResourceArn: arn, Tags: { owner: 'bob', 'cost-center': '42' } }),
    );
    assert.deepEqual(await tagsOf(), { env: 'test', owner: 'bob', 'cost-center': '42' });

    await kafka.send(
      new UntagResourceCommand({ ResourceArn: arn, TagKeys: ['env', 'cost-center'] }),
    );
    assert.deepEqual(await tagsOf(), { owner: 'bob' });
    await kafka.send(new UntagResourceCommand({ ResourceArn: arn, TagKeys: ['owner'] }));
    assert.deepEqual(await tagsOf(), {});

    const described = await kafka.send(new DescribeClusterCommand({ ClusterArn: arn }));
    assert.deepEqual(described.ClusterInfo?.Tags ?? {}, {});
  });

  test('tag keys named like object properties are kept like any other', async () => {
    const { arn } = await createCluster(kafka);
    const path = `/v1/tags/${encodeURIComponent(arn)}`;
    const init = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"tags": {"__proto__": "p", "constructor": "c", "toString": "t"}}',
    };
    const tagged = await rawRequest(`${server.url}${path}`, {
      ...init,
      headers: await signedHeaders(`${server.url}${path}`, init),
    });
    assert.equal(tagged.status, 204, tagged.text);

    const listed = await rawRequest(`${server.url}${path}`, {
      headers: await signedHeaders(`${server.url}${path}`, {}),
    });
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(Object.entries(listed.json.tags as object).sort(), [
      ['__proto__', 'p'],
      ['constructor', 'c'],
      ['toString', 't'],
    ]);
  });

  test('a malformed resource ARN is 400 naming resourceArn', async () => {
    await assert.rejects(
      kafka.send(new ListTagsForResourceCommand({ ResourceArn: 'arn:aws:kafka:nope' })),
      (error: BadRequestException & { InvalidParameter?: string }) => {
        assert.equal(error.name, 'BadRequestException');
        assert.equal(error.InvalidParameter, 'resourceArn');
        return true;
      },
    );
  });
});

describe('clusters that are not the caller’s', () => {
  /** Every call that names one cluster, each of which must answer 404 for `arn`. */
  function callsOn(client: KafkaClient, arn: string): Array<[string, () => Promise<unknown>]> {
    return [
      ['DescribeCluster', () => client.send(new DescribeClusterCommand({ ClusterArn: arn }))],
      ['DescribeClusterV2', () => client.send(new DescribeClusterV2Command({ ClusterArn: arn }))],
      [
        'GetBootstrapBrokers',
        () => client.send(new GetBootstrapBrokersCommand({ ClusterArn: arn })),
      ],
      ['DeleteCluster', () => client.send(new DeleteClusterCommand({ ClusterArn: arn }))],
      [
        'UpdateSecurity',
        () =>
          client.send(
            new UpdateSecurityCommand({
              ClusterArn: arn,
              CurrentVersion: 'K3AEGXETSR30VB',
              ClientAuthentication: SCRAM,
            }),
          ),
      ],
      [
        'ListTagsForResource',
        () => client.send(new ListTagsForResourceCommand({ ResourceArn: arn })),
      ],
      [
        'TagResource',
        () => client.send(new TagResourceCommand({ ResourceArn: arn, Tags: { a: 'b' } })),
      ],
      [
        'UntagResource',
        () => client.send(new UntagResourceCommand({ ResourceArn: arn, TagKeys: ['a'] })),
      ],
    ];
  }

  async function allNotFound(client: KafkaClient, arn: string): Promise<void> {
    for (const [operation, call] of callsOn(client, arn)) {
      const error = await rejectsWith(call(), NotFoundException).catch((failure: Error) => {
        throw new Error(`${operation}: ${failure.message}`);
      });
      assert.equal(error.$metadata.httpStatusCode, 404, operation);
    }
  }

  test('an unknown cluster is NotFoundException', async () => {
    await allNotFound(kafka, unknownClusterArn());
  });

  test("another account's cluster is NotFoundException, and stays as it was", async () => {
    const { arn } = await createCluster(kafka, { tags: { keep: 'me' } });
    const other = server.kafka({
      accessKeyId: OTHER_ACCESS_KEY_ID,
      secretAccessKey: OTHER_SECRET_ACCESS_KEY,
    });
    await allNotFound(other, arn);
    const listed = await other.send(new ListClustersV2Command({}));
    assert.ok(!(listed.ClusterInfoList ?? []).some((info) => info.ClusterArn === arn));

    const described = await kafka.send(new DescribeClusterCommand({ ClusterArn: arn }));
    assert.equal(described.ClusterInfo?.State, 'ACTIVE');
    assert.deepEqual(described.ClusterInfo?.Tags, { keep: 'me' });
  });

  test("another region's cluster is NotFoundException", async () => {
    const { arn } = await createCluster(kafka);
    await allNotFound(server.kafka({ region: 'us-west-2' }), arn);
  });
});

describe('a malformed cluster ARN', () => {
  /** Sends a signed request without the SDK, so that the raw answer can be inspected. */
  async function signedGet(path: string): Promise<Response> {
    const url = new URL(path, server.url);
    const signer = new SignatureV4({
      credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
      region: REGION,
      service: 'kafka',
      sha256: Hash.bind(null, 'sha256'),
    });
    const signed = await signer.sign({
      method: 'GET',
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: { host: url.host },
    });
    return fetch(url, { method: 'GET', headers: signed.headers });
  }

  test('is 400 BadRequestException naming clusterArn, on the wire and in the SDK', async () => {
    for (const malformed of ['not-an-arn', 'arn:aws:kafka:us-east-1:111122223333:topic/x/y']) {
      const response = await signedGet(`/v1/clusters/${encodeURIComponent(malformed)}`);
      assert.equal(response.status, 400, malformed);
      assert.equal(response.headers.get('x-amzn-ErrorType'), 'BadRequestException');
      assert.ok(response.headers.get('x-amzn-RequestId'));
      const body = (await response.json()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['invalidParameter', 'message']);
      assert.equal(body.invalidParameter, 'clusterArn');
      assert.equal(typeof body.message, 'string');

      const error = await rejectsWith(
        kafka.send(new DescribeClusterCommand({ ClusterArn: malformed })),
        BadRequestException,
      );
      assert.equal(error.InvalidParameter, 'clusterArn');
      assert.equal(error.$metadata.httpStatusCode, 400);
    }

    const bootstrap = await signedGet(
      `/v1/clusters/${encodeURIComponent('not-an-arn')}/bootstrap-brokers`,
    );
    assert.equal(bootstrap.status, 400);
    assert.equal(
      ((await bootstrap.json()) as Record<string, unknown>).invalidParameter,
      'clusterArn',
    );
  });
});
