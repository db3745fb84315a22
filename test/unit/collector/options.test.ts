import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_KEEP, parseCollectorOptions, parseListenAddress } from '../../../src/collector/options.js';
import { CollectorError } from '../../../src/collector/errors.js';

function rejects(raw: Parameters<typeof parseCollectorOptions>[0], pattern: RegExp): void {
  assert.throws(
    () => parseCollectorOptions(raw),
    (err: unknown) => err instanceof CollectorError && err.code === 'COLLECTOR_ERR_INVALID_OPTION' && pattern.test(err.message),
  );
}

describe('collector options', () => {
  it('defaults to tcp, JSON, dual-stack port 4739, the last 1000 records and no HTTP endpoint', () => {
    const o = parseCollectorOptions({});
    assert.equal(o.transport, 'tcp');
    assert.equal(o.format, 'json');
    assert.equal(o.address, null);
    assert.equal(o.keep, DEFAULT_KEEP);
    assert.equal(o.http, null);
    assert.equal(o.tls, null);
    assert.ok(Object.isFrozen(o));
  });

  it('parses IPv4 and bracketed IPv6 addresses, and port 0', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:0', '--address'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListenAddress('[::1]:4739', '--address'), { host: '::1', port: 4739 });
    assert.deepEqual(parseListenAddress('0.0.0.0:65535', '--http'), { host: '0.0.0.0', port: 65535 });
  });

  it('says how to write an address it cannot use', () => {
    rejects({ address: '::1:4739' }, /IPv6 address must be written in brackets/);
    rejects({ address: '127.0.0.1' }, /port is missing.*HOST:PORT/);
    rejects({ address: '127.0.0.1:70000' }, /not 0-65535/);
    rejects({ address: 'collector.local:4739' }, /not an IP address/);
    rejects({ address: '[::1:4739' }, /without "\]"/);
    rejects({ http: ':8080' }, /host is empty/);
  });

  it('accepts tcp, udp and tls only', () => {
    assert.equal(parseCollectorOptions({ transport: 'UDP' }).transport, 'udp');
    rejects({ transport: 'sctp' }, /not one of tcp, udp, tls/);
  });

  it('needs --cert and --key with tls, and refuses them without it', () => {
    rejects({ transport: 'tls' }, /needs --cert .* and --key/);
    rejects({ transport: 'tls', cert: 'c.pem' }, /needs --cert/);
    rejects({ transport: 'tcp', ca: 'ca.pem' }, /--ca only apply to --transport tls/);
    const o = parseCollectorOptions({ transport: 'tls', cert: 'c.pem', key: 'k.pem', ca: 'ca.pem' });
    assert.deepEqual(o.tls, { certPath: 'c.pem', keyPath: 'k.pem', caPath: 'ca.pem' });
  });

  it('checks --format, --keep and --output-buffer', () => {
    assert.equal(parseCollectorOptions({ format: 'text' }).format, 'text');
    assert.equal(parseCollectorOptions({ format: 'none' }).format, 'none');
    rejects({ format: 'yaml' }, /not one of json, text, none/);
    assert.equal(parseCollectorOptions({ keep: '0' }).keep, 0);
    rejects({ keep: '-1' }, /--keep "-1" is not a whole number from 0 to 1000000/);
    rejects({ keep: '1e3' }, /--keep/);
    rejects({ keep: '1000001' }, /--keep/);
    rejects({ outputBuffer: '10' }, /--output-buffer/);
  });
});
