// The client's error mapping: REST error bodies, JSON-RPC errors, network
// failures and the connect() diagnosis, each to a KeybridgeError code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { KeybridgeClient, KeybridgeError, connect, errorFromResponse, errorFromRpc, restRequest } from '../keybridge.js';
import { FakeDaemon } from './fake-daemon.mjs';

test('a REST error body becomes its code, status and details', () => {
  const e = errorFromResponse(401, { error: { code: 'PIN_INCORRECT', message: 'The PIN is incorrect.',
    pinStatus: 'countLow', retriesLeft: null } });
  assert.ok(e instanceof KeybridgeError);
  assert.equal(e.code, 'PIN_INCORRECT');
  assert.equal(e.status, 401);
  assert.equal(e.message, 'The PIN is incorrect.');
  assert.deepEqual(e.details, { pinStatus: 'countLow', retriesLeft: null });
  assert.equal(e.retryable, false);
});

test('an answer without the error object is BAD_RESPONSE with the status', () => {
  for (const body of [null, 'text', {}, { error: { message: 'no code' } }]) {
    const e = errorFromResponse(431, body);
    assert.equal(e.code, 'BAD_RESPONSE');
    assert.equal(e.status, 431);
  }
});

test('a JSON-RPC error takes data.code, else the JSON-RPC code mapped', () => {
  const e = errorFromRpc({ code: -32000, message: 'Busy', data: { code: 'TOKEN_BUSY', message: 'The token is busy; retry later.' } });
  assert.equal(e.code, 'TOKEN_BUSY');
  assert.equal(e.message, 'The token is busy; retry later.');
  assert.equal(e.retryable, true);
  const f = errorFromRpc({ code: -32602, message: 'Invalid params', data: { code: 'BAD_REQUEST', field: 'items' } });
  assert.deepEqual([f.code, f.details], ['BAD_REQUEST', { field: 'items' }]);
  assert.equal(errorFromRpc({ code: -32601, message: 'Method not found' }).code, 'NOT_FOUND');
  assert.equal(errorFromRpc({ code: -32603 }).code, 'INTERNAL');
  assert.equal(errorFromRpc(undefined).code, 'INTERNAL');
});

test('REST requests put path parameters in the path and the rest in the body or query', () => {
  assert.deepEqual(restRequest('sign', { token: 'ab', certificate: 'cd', items: [] }),
    { method: 'POST', path: '/v1/tokens/ab/sign', body: '{"certificate":"cd","items":[]}' });
  assert.deepEqual(restRequest('seal.get', { token: 'ab', certificate: 'c d' }),
    { method: 'GET', path: '/v1/tokens/ab/seal?certificate=c%20d', body: undefined });
  assert.equal(restRequest('renewal.cancel', { token: 't', requestId: 'r1' }).path, '/v1/tokens/t/renewal/r1/cancel');
  assert.throws(() => restRequest('sign', { certificate: 'cd' }), (e) => e.code === 'BAD_REQUEST' && e.details.field === 'token');
  assert.throws(() => restRequest('no.such', {}), (e) => e.code === 'BAD_REQUEST');
});

test('an API error over REST rejects with the daemon code and its details', async (t) => {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  fake.websocket = false;
  fake.rest['POST /v1/tokens/aaaa/sign'] = (body) => [423, { error: { code: 'PIN_LOCKED', message: 'locked', pinStatus: 'locked', retriesLeft: 0, echo: body.certificate } }];
  const kb = await connect({ url: fake.url, reconnect: false });
  t.after(() => kb.close());
  await assert.rejects(kb.sign('aaaa', { certificate: 'c1', algorithm: 'RSA-PKCS1-SHA256', items: [{ data: '' }] }),
    (e) => e.code === 'PIN_LOCKED' && e.status === 423 && e.details.retriesLeft === 0 && e.details.echo === 'c1');
});

test('a non-JSON answer rejects with BAD_RESPONSE', async (t) => {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  fake.websocket = false;
  fake.rest['GET /v1/tokens/aaaa'] = () => [200, 'not json'];
  const kb = await connect({ url: fake.url, reconnect: false });
  t.after(() => kb.close());
  await assert.rejects(kb.getToken('aaaa'), (e) => e.code === 'BAD_RESPONSE');
});

test('connect() with nothing listening rejects with NOT_RUNNING', async () => {
  const port = await freePort();
  await assert.rejects(connect({ port, probeTimeout: 500 }), (e) => e.code === 'NOT_RUNNING' && /not running/.test(e.message));
});

test('connect() tries HTTPS first, then plain HTTP, on the given port', async (t) => {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  let tlsHellos = 0;
  fake.server.on('clientError', (err, sock) => { tlsHellos++; sock.destroy(); });
  const kb = await connect({ port: fake.port, transport: 'rest', reconnect: false });
  t.after(() => kb.close());
  assert.equal(kb.baseUrl, fake.url);
  assert.ok(tlsHellos >= 1, 'an HTTPS attempt reached the port first');
  assert.equal(kb.info.product, 'keybridge');
});

test('an HTTP error during connect() is reported as such, not as NOT_RUNNING', async (t) => {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  fake.rest['GET /v1/info'] = () => [403, { error: { code: 'HOST_REJECTED', message: 'no' } }];
  await assert.rejects(connect({ url: fake.url }), (e) => e.code === 'HOST_REJECTED' && e.status === 403);
});

test('calls before connect() reject with NOT_CONNECTED', async () => {
  await assert.rejects(new KeybridgeClient({}).listTokens(), (e) => e.code === 'NOT_CONNECTED');
});

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
