// decrypt and encrypt: their REST routes and JSON-RPC names, the params they
// carry over both transports, their results, their errors with field and
// reason, and progress to the call that asked, as for sign.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect, restRequest } from '../keybridge.js';
import { FakeDaemon, apiError } from './fake-daemon.mjs';

async function setup(t, transport) {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  const kb = await connect({ url: fake.url, WebSocket, transport, reconnect: false, probeTimeout: 1000 });
  t.after(() => kb.close());
  assert.equal(kb.transport, transport);
  return { fake, kb };
}

test('REST routes: decrypt under the token, encrypt without one', () => {
  assert.deepEqual(restRequest('decrypt', { token: 'ab', certificate: 'cd', items: [{ cms: 'MA==' }], confirmFinalTry: true }),
    { method: 'POST', path: '/v1/tokens/ab/decrypt', body: '{"certificate":"cd","items":[{"cms":"MA=="}],"confirmFinalTry":true}' });
  assert.deepEqual(restRequest('encrypt', { certificate: 'PEM', items: [{ data: 'YQ==' }], rsaPadding: 'oaep' }),
    { method: 'POST', path: '/v1/encrypt', body: '{"certificate":"PEM","items":[{"data":"YQ=="}],"rsaPadding":"oaep"}' });
  assert.throws(() => restRequest('decrypt', { certificate: 'cd', items: [] }), (e) => e.code === 'BAD_REQUEST' && e.details.field === 'token');
});

for (const transport of ['rest', 'websocket']) {
  test(`${transport}: decrypt and encrypt carry their params and answer their results`, async (t) => {
    const { fake, kb } = await setup(t, transport);
    const seen = {};
    fake.method('decrypt', 'POST /v1/tokens/{token}/decrypt', (p) => {
      seen.decrypt = p;
      return { plaintexts: p.items.map(() => 'b3Blbg=='), certificate: p.certificate };
    });
    fake.method('encrypt', 'POST /v1/encrypt', (p) => {
      seen.encrypt = p;
      return { envelopes: p.items.map(() => 'MIIB'), format: 'gmt0010' };
    });
    const d = await kb.decrypt('aaaa', { certificate: 'enc1', items: [{ cms: 'MA==' }, { cms: 'MQ==' }], pin: '123456' });
    assert.deepEqual(d, { plaintexts: ['b3Blbg==', 'b3Blbg=='], certificate: 'enc1' });
    assert.deepEqual(seen.decrypt, { token: 'aaaa', certificate: 'enc1', items: [{ cms: 'MA==' }, { cms: 'MQ==' }], pin: '123456' });
    const e = await kb.encrypt({ certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', items: [{ data: 'YQ==' }] });
    assert.deepEqual(e, { envelopes: ['MIIB'], format: 'gmt0010' });
    assert.deepEqual(seen.encrypt, { certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', items: [{ data: 'YQ==' }] });
    assert.ok(fake.requests.some((r) => r === (transport === 'rest' ? 'POST /v1/encrypt' : 'ws encrypt')), fake.requests.join());
  });

  test(`${transport}: the new error codes reject with their status, field and reason`, async (t) => {
    const { fake, kb } = await setup(t, transport);
    const answers = [
      ['NOT_RECIPIENT', { field: 'items[1].cms' }, 409],
      ['DECRYPT_FAILED', { field: 'items[0].cms' }, 400],
      ['BAD_REQUEST', { field: 'certificate', reason: 'usage' }, 400],
      ['PAYLOAD_TOO_LARGE', { field: 'items[0].cms' }, 413],
      ['UNSUPPORTED_ALGORITHM', { field: 'items[0].cms' }, 400],
    ];
    for (const [code, details, status] of answers) {
      fake.method('decrypt', 'POST /v1/tokens/{token}/decrypt', () => { throw apiError(code, details); });
      await assert.rejects(kb.decrypt('aaaa', { certificate: 'c1', items: [{ cms: 'MA==' }, { cms: 'MQ==' }] }), (err) =>
        err.code === code && err.details.field === details.field && err.details.reason === details.reason &&
        err.status === (transport === 'rest' ? status : 0));
    }
    fake.method('encrypt', 'POST /v1/encrypt', () => { throw apiError('UNSUPPORTED_ALGORITHM', { field: 'certificate' }); });
    await assert.rejects(kb.encrypt({ certificate: 'x', items: [{ data: '' }] }),
      (err) => err.code === 'UNSUPPORTED_ALGORITHM' && err.details.field === 'certificate');
  });
}

test('decrypt progress goes to the call that asked, as sign\'s does', async (t) => {
  const { fake, kb } = await setup(t, 'websocket');
  fake.rpc.decrypt = (p, ws, id) => {
    p.items.forEach((item, i) => ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'operation.progress',
      params: { requestId: id, stage: 'decrypt', percent: Math.round(100 * (i + 1) / p.items.length) } })));
    setTimeout(() => ws.send(JSON.stringify({ jsonrpc: '2.0', id, result: { plaintexts: ['', ''], certificate: p.certificate } })), 20);
  };
  const steps = [];
  const r = await kb.decrypt('aaaa', { certificate: 'c1', items: [{ cms: 'MA==' }, { cms: 'MQ==' }] },
    { onProgress: (p) => steps.push(`${p.stage} ${p.percent}`) });
  assert.deepEqual(r.plaintexts, ['', '']);
  assert.deepEqual(steps, ['decrypt 50', 'decrypt 100']);
});
