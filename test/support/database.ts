import { randomUUID } from 'node:crypto';

import pg from 'pg';

export interface TestDatabaseHandle {
  url: string;
  drop(): Promise<void>;
}

/** A new database, named from the prefix and a random part, on a PostgreSQL server. */
export async function createDatabase(
  serverUrl: string,
  prefix: string,
): Promise<TestDatabaseHandle> {
  const name = `${prefix}_${randomUUID().replaceAll('-', '')}`;
  const query = async (text: string): Promise<void> => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  await query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/**
 * With SCRAM_SECRETS_TEST_DATABASE_URL set (a PostgreSQL server's URL), a database of its own
 * there, so that the whole suite runs against PostgreSQL too; without it, none (SQLite).
 */
export async function testDatabase(prefix: string): Promise<TestDatabaseHandle | undefined> {
  const serverUrl = process.env.SCRAM_SECRETS_TEST_DATABASE_URL;
  return serverUrl ? createDatabase(serverUrl, prefix) : undefined;
}
