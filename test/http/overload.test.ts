import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { rawRequest, type RawResponse } from '../support/raw.js';
import { startServe } from '../support/serve.js';
import { ACCESS_KEY_ID, ACCOUNT_ID, SECRET_ACCESS_KEY } from '../support/server.js';
import { signedHeaders } from '../support/signing.js';

/**
 * Event-loop lag past the configured bound is answered 503 in the AWS shape. The lag is real:
 * many signed CreateSecret calls of nearly a megabyte each (40,000 tags), which the service must
 * hash, parse and validate before it can refuse them, keep its one thread busy.
 */

const dataDir = mkdtempSync(join(tmpdir(), 'scram-overload-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

test('an event loop lagging past its bound answers 503 with Retry-After', async () => {
  const service = await startServe({
    env: {
      SCRAM_SECRETS_DATA_DIR: dataDir,
      SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS: '1',
      SCRAM_SECRETS_CREDENTIALS: `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID}`,
    },
  });
  try {
    const json = (target: string, body: object) => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
      body: JSON.stringify(body),
    });
    // Invalid in the end (the value is one character too long), so nothing is stored, but
    // only after every one of the 40,000 tags has been checked.
    const tags = Array.from({ length: 40_000 }, () => ({ Key: 'k', Value: '' }));
    const heavy = json('secretsmanager.CreateSecret', {
      Name: 'heavy',
      SecretString: 'x'.repeat(65_537),
      Tags: tags,
    });
    const heavyHeaders = await signedHeaders(service.url, heavy, { service: 'secretsmanager' });
    const light = json('secretsmanager.ListSecrets', {});
    const lightHeaders = await signedHeaders(service.url, light, { service: 'secretsmanager' });

    const before = await rawRequest(service.url, { ...light, headers: lightHeaders });
    assert.equal(before.status, 200, 'an idle service serves');

    const refused = await rawRequest(service.url, { ...heavy, headers: heavyHeaders });
    assert.equal(refused.json.__type, 'InvalidParameterException', 'heavy, and stores nothing');
    let shed: RawResponse | undefined;
    const deadline = Date.now() + 20_000;
    const load = async () => {
      while (!shed && Date.now() < deadline) {
        await rawRequest(service.url, { ...heavy, headers: heavyHeaders });
      }
    };
    const probe = async () => {
      while (!shed && Date.now() < deadline) {
        const response = await rawRequest(service.url, { ...light, headers: lightHeaders });
        if (response.status === 503) shed = response;
        else await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await Promise.all([...Array.from({ length: 12 }, load), probe()]);

    assert.ok(shed, 'a call was shed while the event loop lagged');
    assert.equal(shed.headers.get('x-amzn-errortype'), 'ServiceUnavailableException');
    assert.equal(shed.json.__type, 'ServiceUnavailableException');
    assert.match(String(shed.json.message), /overloaded\. Retry shortly/);
    assert.ok(shed.headers.get('x-amzn-requestid'));
    assert.match(shed.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
  } finally {
    await service.stop();
  }
});
