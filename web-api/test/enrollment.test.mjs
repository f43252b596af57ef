// Enrollment (the first certificate onto a blank token): the three methods'
// REST routes and JSON-RPC names, the params they carry, progress to the
// call that asked, TOKEN_NOT_INITIALIZED, and a token that gets formatted
// reported as changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect, restRequest } from '../keybridge.js';
import { FakeDaemon, until } from './fake-daemon.mjs';

const SUBJECT = { C: 'CN', ST: '山东省', O: '阳光采购测试有限公司', OU: ['投标部', '采购部'], CN: '孙七' };

async function setup(t, opts = {}) {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  if (opts.rest) fake.websocket = false;
  const kb = await connect(Object.assign({ url: fake.url, WebSocket, reconnect: false, probeTimeout: 1000 }, opts.client));
  t.after(() => kb.close());
  return { fake, kb };
}

test('REST routes: request and install in the body, the requestId of cancel in the path', () => {
  const r = restRequest('enrollment.request', { token: 'ab', subject: SUBJECT, keyType: 'SM2' });
  assert.equal(r.method, 'POST');
  assert.equal(r.path, '/v1/tokens/ab/enrollment/request');
  assert.deepEqual(JSON.parse(r.body), { subject: SUBJECT, keyType: 'SM2' });
  assert.equal(restRequest('enrollment.install', { token: 'ab', requestId: 'r1', certificate: 'PEM' }).path,
    '/v1/tokens/ab/enrollment/install');
  const c = restRequest('enrollment.cancel', { token: 'ab', requestId: '0f1e' });
  assert.deepEqual(c, { method: 'POST', path: '/v1/tokens/ab/enrollment/0f1e/cancel', body: '{}' });
  assert.throws(() => restRequest('enrollment.cancel', { token: 'ab' }), (e) => e.code === 'BAD_REQUEST' && e.details.field === 'requestId');
});

test('over REST the three calls reach their routes with their bodies', async (t) => {
  const { fake, kb } = await setup(t, { rest: true });
  assert.equal(kb.transport, 'rest');
  const bodies = {};
  fake.rest['POST /v1/tokens/aaaa/enrollment/request'] = (b) => {
    bodies.request = b;
    return [200, { requestId: 'r1', csr: 'CSR', keyId: '01', keyType: b.keyType, subject: 'CN=孙七' }];
  };
  fake.rest['POST /v1/tokens/aaaa/enrollment/install'] = (b) => {
    bodies.install = b;
    return [200, { certificate: { id: 'c1' }, replaced: null, finished: true, alreadyInstalled: false, chainStored: 1 }];
  };
  fake.rest['POST /v1/tokens/aaaa/enrollment/r1/cancel'] = (b) => {
    bodies.cancel = b;
    return [200, { requestId: 'r1', cancelled: true }];
  };
  const req = await kb.requestEnrollment('aaaa', { subject: SUBJECT, keyType: 'RSA-2048', pin: '123456' });
  assert.deepEqual(req, { requestId: 'r1', csr: 'CSR', keyId: '01', keyType: 'RSA-2048', subject: 'CN=孙七' });
  assert.deepEqual(bodies.request, { subject: SUBJECT, keyType: 'RSA-2048', pin: '123456' });
  const inst = await kb.installEnrollment('aaaa', { requestId: 'r1', certificate: 'PEM', chain: ['CA'],
    encryption: { certificate: 'ENC', envelopedKey: 'BLOB' } });
  assert.equal(inst.replaced, null);
  assert.deepEqual(bodies.install, { requestId: 'r1', certificate: 'PEM', chain: ['CA'],
    encryption: { certificate: 'ENC', envelopedKey: 'BLOB' } });
  assert.deepEqual(await kb.cancelEnrollment('aaaa', 'r1'), { requestId: 'r1', cancelled: true });
  assert.deepEqual(bodies.cancel, {});
});

test('over the WebSocket the calls carry their JSON-RPC names, and progress goes to the call that asked', async (t) => {
  const { fake, kb } = await setup(t);
  assert.equal(kb.transport, 'websocket');
  const seen = [];
  fake.rpc['enrollment.request'] = (p, ws, id) => {
    seen.push(['enrollment.request', p]);
    for (const [stage, percent] of [['generate-key', 0], ['generate-key', 63], ['sign-request', 75], ['done', 100]]) {
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'operation.progress', params: { requestId: id, stage, percent } }));
    }
    setTimeout(() => ws.send(JSON.stringify({ jsonrpc: '2.0', id,
      result: { requestId: 'r2', csr: 'CSR', keyId: '6b65', keyType: 'SM2', subject: 'CN=孙七' } })), 20);
  };
  fake.rpc['enrollment.install'] = (p) => { seen.push(['enrollment.install', p]); return { certificate: { id: 'c2' }, replaced: null, finished: true }; };
  fake.rpc['enrollment.cancel'] = (p) => { seen.push(['enrollment.cancel', p]); return { requestId: p.requestId, cancelled: true }; };
  const steps = [];
  const events = [];
  kb.on('operation.progress', (p) => events.push(p.method));
  const req = await kb.requestEnrollment('aaaa', { subject: SUBJECT, keyType: 'SM2' },
    { onProgress: (p) => steps.push(`${p.stage} ${p.percent}`) });
  assert.equal(req.requestId, 'r2');
  assert.deepEqual(steps, ['generate-key 0', 'generate-key 63', 'sign-request 75', 'done 100']);
  assert.deepEqual(events, Array(4).fill('enrollment.request'));
  await kb.installEnrollment('aaaa', { requestId: 'r2', certificate: 'PEM' });
  await kb.cancelEnrollment('aaaa', 'r2');
  assert.deepEqual(seen, [
    ['enrollment.request', { token: 'aaaa', subject: SUBJECT, keyType: 'SM2' }],
    ['enrollment.install', { token: 'aaaa', requestId: 'r2', certificate: 'PEM' }],
    ['enrollment.cancel', { token: 'aaaa', requestId: 'r2' }],
  ]);
});

test('TOKEN_NOT_INITIALIZED comes through with its status (REST) and from data.code (WebSocket)', async (t) => {
  const body = { error: { code: 'TOKEN_NOT_INITIALIZED', message: 'The token is not initialized (formatted).' } };
  const rest = await setup(t, { rest: true });
  rest.fake.rest['POST /v1/tokens/aaaa/enrollment/request'] = () => [409, body];
  await assert.rejects(rest.kb.requestEnrollment('aaaa', { subject: SUBJECT, keyType: 'EC-P256' }),
    (e) => e.code === 'TOKEN_NOT_INITIALIZED' && e.status === 409 && !e.retryable);
  const ws = await setup(t);
  ws.fake.rpc['enrollment.request'] = () => { throw { error: { code: -32000, message: 'Refused', data: body.error } }; };
  await assert.rejects(ws.kb.requestEnrollment('aaaa', { subject: SUBJECT, keyType: 'SM2' }),
    (e) => e.code === 'TOKEN_NOT_INITIALIZED' && e.status === 0);
  ws.fake.rpc['enrollment.request'] = () => {
    throw { error: { code: -32602, message: 'Invalid params', data: { code: 'BAD_REQUEST', message: 'bad', field: 'subject.CN' } } };
  };
  await assert.rejects(ws.kb.requestEnrollment('aaaa', { subject: {}, keyType: 'SM2' }),
    (e) => e.code === 'BAD_REQUEST' && e.details.field === 'subject.CN');
});

test('a token that gets formatted, then enrolled, is reported as changed each time (read from the list)', async (t) => {
  const { fake, kb } = await setup(t, { rest: true, client: { pollInterval: 30 } });
  fake.tokens = [{ id: 'aaaa', label: 'blank', pin: { status: 'ok' }, initialized: false, certificates: [] }];
  const changes = [];
  kb.on('token.changed', (p) => changes.push([p.token.initialized, p.token.certificates.length]));
  await until(() => fake.requests.filter((r) => r === 'GET /v1/tokens').length >= 2, 2000, 'two list reads');
  fake.tokens = [Object.assign({}, fake.tokens[0], { initialized: true })];
  await until(() => changes.length === 1, 2000, 'the change to initialized');
  fake.tokens = [Object.assign({}, fake.tokens[0], { certificates: [{ id: 'c1' }] })];
  await until(() => changes.length === 2, 2000, 'the first certificate');
  assert.deepEqual(changes, [[true, 0], [true, 1]]);
});
