// Where the ClickHouse tests find a server: FLOWVIS_TEST_CLICKHOUSE (default
// http://127.0.0.1:8123, the server .ci/run starts). Unreachable: skip with the reason, except
// under CI=true, where a missing prerequisite is a failure.
import { ClickHouseRepository } from '../../../src/store/clickhouse.js';

export const CLICKHOUSE_URL = process.env.FLOWVIS_TEST_CLICKHOUSE ?? 'http://127.0.0.1:8123';

export async function clickhouseSkipReason(): Promise<string | false> {
  try {
    const repo = await ClickHouseRepository.open(CLICKHOUSE_URL, { migrate: false, requestTimeoutMs: 5000 });
    await repo.close();
    return false;
  } catch (err) {
    const reason = `no ClickHouse server at ${CLICKHOUSE_URL} (${(err as Error).message}); start one: apt-get install -y clickhouse-server && runuser -u clickhouse -- clickhouse-server --config-file=/etc/clickhouse-server/config.xml`;
    if (process.env.CI === 'true') throw new Error(`CI=true: ${reason}`);
    return reason;
  }
}

/** A fresh database name per test file, so runs never see each other's rows. */
export function testDatabaseUrl(tag: string): string {
  return `${CLICKHOUSE_URL.replace(/\/+$/, '')}/flowvis_test_${tag}_${process.pid}_${Date.now() % 1_000_000}`;
}
