// The WebSocket transport: chosen when the upgrade works, JSON-RPC calls with
// the API's method names, errors with data.code, notifications as events,
// operation.progress to the call that asked. REST when the upgrade fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect } from '../keybridge.js';
import { FakeDaemon, until } from './fake-daemon.mjs';

async function setup(t, opts = {}) {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  const kb = await connect(Object.assign({ url: fake.url, WebSocket, reconnect: false, probeTimeout: 1000 }, opts));
  t.after(() => kb.close());
  return { fake, kb };
}

test('the WebSocket is used when the upgrade succeeds, and subscribes to token events', async (t) => {
  const { fake, kb } = await setup(t);
  assert.equal(kb.transport, 'websocket');
  const tokens = await kb.listTokens();
  assert.deepEqual(tokens.map((x) => x.id), ['aaaa']);
  assert.deepEqual(fake.requests, ['GET /v1/info', 'ws events.subscribe', 'ws tokens.list']);
});

test('params go to the method of the same name, path parameters included', async (t) => {
  const { fake, kb } = await setup(t);
  let seen = null;
  fake.rpc.sign = (p) => { seen = p; return { signatures: ['c2ln'], algorithm: p.algorithm, certificate: p.certificate }; };
  const r = await kb.sign('aaaa', { certificate: 'c1', algorithm: 'ECDSA-SHA256', items: [{ data: 'YQ==' }] });
  assert.deepEqual(seen, { token: 'aaaa', certificate: 'c1', algorithm: 'ECDSA-SHA256', items: [{ data: 'YQ==' }] });
  assert.deepEqual(r.signatures, ['c2ln']);
});

test('a JSON-RPC error rejects with data.code and the details', async (t) => {
  const { fake, kb } = await setup(t);
  fake.rpc['pin.change'] = () => { throw { error: { code: -32000, message: 'PIN policy', data: { code: 'PIN_POLICY', message: 'The new PIN does not meet the token\'s rules.', minLength: 4, maxLength: 255 } } }; };
  await assert.rejects(kb.changePin('aaaa'), (e) => e.code === 'PIN_POLICY' && e.details.minLength === 4 && e.status === 0);
});

test('token notifications reach on() listeners, and off() stops them', async (t) => {
  const { fake, kb } = await setup(t);
  const got = [];
  const listener = (p, type) => got.push([type, p]);
  kb.on('token.removed', listener);
  const stopInserted = kb.on('token.inserted', listener);
  fake.notify('token.removed', { id: 'aaaa' });
  fake.notify('token.inserted', { token: { id: 'bbbb' } });
  await until(() => got.length === 2, 2000, 'two events');
  assert.deepEqual(got, [['token.removed', { id: 'aaaa' }], ['token.inserted', { token: { id: 'bbbb' } }]]);
  kb.off('token.removed', listener);
  stopInserted();
  fake.notify('token.removed', { id: 'bbbb' });
  await kb.listTokens(); // a round trip after the notification
  assert.equal(got.length, 2);
});

test('operation.progress goes to the call that asked, and to the event', async (t) => {
  const { fake, kb } = await setup(t);
  fake.rpc['renewal.request'] = (p, ws, id) => {
    for (const [stage, percent] of [['generate-key', 10], ['sign-request', 75]]) {
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'operation.progress', params: { requestId: id, stage, percent } }));
    }
    setTimeout(() => ws.send(JSON.stringify({ jsonrpc: '2.0', id, result: { requestId: 'r1', csr: 'CSR' } })), 20);
  };
  const steps = [];
  const events = [];
  kb.on('operation.progress', (p) => events.push(p));
  const r = await kb.requestRenewal('aaaa', { certificate: 'c1' }, { onProgress: (p) => steps.push(`${p.stage} ${p.percent}`) });
  assert.equal(r.requestId, 'r1');
  assert.deepEqual(steps, ['generate-key 10', 'sign-request 75']);
  assert.equal(events.length, 2);
  assert.equal(events[0].method, 'renewal.request');
});

test('REST is used when the upgrade is refused (the daemon without /v1/ws)', async (t) => {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  fake.websocket = false;
  const kb = await connect({ url: fake.url, WebSocket, reconnect: false });
  t.after(() => kb.close());
  assert.equal(kb.transport, 'rest');
  assert.equal(fake.upgradesRefused, 1);
  await kb.listTokens();
  assert.deepEqual(fake.requests, ['GET /v1/info', 'GET /v1/tokens']);
});

test("transport 'websocket' insists: a refused upgrade fails connect()", async (t) => {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  fake.websocket = false;
  await assert.rejects(connect({ url: fake.url, WebSocket, transport: 'websocket', reconnect: false }),
    (e) => e.code === 'CONNECTION_LOST');
});

test('a call without an answer times out with TIMEOUT', async (t) => {
  const { fake, kb } = await setup(t, { timeout: 200 });
  fake.rpc['token.get'] = () => undefined;
  await assert.rejects(kb.getToken('aaaa'), (e) => e.code === 'TIMEOUT' && e.retryable);
});

test('a change both pushed and found in the list is reported once; one not pushed is found', async (t) => {
  const { fake, kb } = await setup(t, { pollInterval: 40 });
  const got = [];
  kb.on('token.removed', (p) => got.push(`removed ${p.id}`));
  kb.on('token.inserted', (p) => got.push(`inserted ${p.token.id}`));
  await until(() => fake.requests.filter((r) => r === 'ws tokens.list').length >= 2, 2000, 'two list reads');
  fake.tokens = [];
  fake.notify('token.removed', { id: 'aaaa' });
  await until(() => got.length === 1, 2000, 'the removal');
  fake.tokens = [{ id: 'cccc', label: 'y', pin: { status: 'ok' }, certificates: [] }]; // not pushed
  await until(() => got.length === 2, 2000, 'the insertion found by reading');
  const reads = fake.requests.length;
  await until(() => fake.requests.length >= reads + 3, 2000, 'more reads');
  assert.deepEqual(got, ['removed aaaa', 'inserted cccc']);
});
