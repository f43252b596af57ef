// Reconnection: a lost WebSocket fails the calls in flight with
// CONNECTION_LOST, the client carries on over REST and gets the WebSocket
// back with growing delays; a daemon that went away entirely is found again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect } from '../keybridge.js';
import { FakeDaemon, until } from './fake-daemon.mjs';

const FAST = { WebSocket, probeTimeout: 1000, reconnectDelay: 40, reconnectMaxDelay: 400 };

test('a dropped WebSocket fails the pending call, falls back to REST and comes back', async (t) => {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  const kb = await connect(Object.assign({ url: fake.url }, FAST));
  t.after(() => kb.close());
  const log = [];
  for (const ev of ['connected', 'disconnected', 'transport']) kb.on(ev, (p) => log.push(`${ev} ${p.transport || ''}`.trim()));

  fake.rpc['sign'] = () => undefined; // never answered
  const pending = kb.sign('aaaa', { certificate: 'c', algorithm: 'RSA-PKCS1-SHA256', items: [{ data: '' }] });
  await until(() => fake.requests.includes('ws sign'), 2000, 'the sign request');
  fake.websocket = false; // the next upgrades are refused
  const refusedBefore = fake.upgradesRefused;
  fake.dropWebSockets();
  await assert.rejects(pending, (e) => e.code === 'CONNECTION_LOST' && e.retryable);
  assert.equal(kb.transport, 'rest');
  assert.deepEqual((await kb.listTokens()).map((x) => x.id), ['aaaa'], 'calls go on over REST');
  assert.ok(fake.requests.includes('GET /v1/tokens'));

  await until(() => fake.upgradesRefused >= refusedBefore + 3, 5000, 'three refused upgrades');
  const times = fake.upgradeTimes.slice(-3);
  // Timers never fire early, so lower bounds hold however loaded the machine
  // is: without back-off the later gap would be one base delay, not two.
  const slack = 2; // ms of timer rounding
  assert.ok(times[1] - times[0] >= FAST.reconnectDelay - slack &&
            times[2] - times[1] >= 2 * FAST.reconnectDelay - slack, `back-off grows: ${times.map((x) => x - times[0])}`);

  fake.websocket = true;
  await until(() => kb.transport === 'websocket', 5000, 'the WebSocket again');
  await kb.listTokens();
  assert.equal(fake.requests[fake.requests.length - 1], 'ws tokens.list');
  assert.deepEqual(log.slice(0, 3), ['transport rest', 'disconnected', 'connected rest']);
  assert.equal(log[log.length - 1], 'transport websocket');
});

test('a daemon that went away and came back on the same port is found again', async (t) => {
  const fake = await new FakeDaemon().listen();
  const port = fake.port;
  const kb = await connect(Object.assign({ url: fake.url }, FAST));
  t.after(() => kb.close());
  let disconnected = 0;
  let connected = 0;
  kb.on('disconnected', () => disconnected++);
  kb.on('connected', () => connected++);
  await fake.close();
  await until(() => disconnected === 1, 3000, 'disconnected');
  assert.equal(kb.state, 'disconnected');
  await assert.rejects(kb.listTokens(), (e) => e.code === 'CONNECTION_LOST');

  const again = await new FakeDaemon().listen(port);
  t.after(() => again.close());
  await until(() => connected === 1 && kb.transport === 'websocket', 5000, 'reconnected');
  assert.equal(kb.state, 'connected');
  assert.equal((await kb.listTokens())[0].id, 'aaaa');
  assert.ok(again.requests.includes('ws tokens.list'));
});

test('close() stops reconnecting', async (t) => {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  const kb = await connect(Object.assign({ url: fake.url }, FAST));
  kb.close();
  const before = fake.upgradeTimes.length;
  fake.dropWebSockets();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(fake.upgradeTimes.length, before);
  assert.equal(kb.state, 'closed');
  await assert.rejects(kb.listTokens(), (e) => e.code === 'NOT_CONNECTED');
});

test('over REST, token events come from reading the list', async (t) => {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  fake.websocket = false;
  const kb = await connect(Object.assign({ url: fake.url, pollInterval: 50 }, FAST));
  t.after(() => kb.close());
  const got = [];
  kb.on('token.removed', (p) => got.push(['removed', p.id]));
  kb.on('token.inserted', (p) => got.push(['inserted', p.token.id]));
  kb.on('token.changed', (p) => got.push(['changed', p.token.pin.status]));
  await until(() => fake.requests.filter((r) => r === 'GET /v1/tokens').length >= 2, 2000, 'polling');
  fake.tokens = [{ id: 'bbbb', label: 'x', pin: { status: 'ok' }, certificates: [] }];
  await until(() => got.length === 2, 2000, 'removed and inserted');
  fake.tokens = [{ id: 'bbbb', label: 'x', pin: { status: 'locked' }, certificates: [] }];
  await until(() => got.length === 3, 2000, 'changed');
  assert.deepEqual(got, [['inserted', 'bbbb'], ['removed', 'aaaa'], ['changed', 'locked']]);
});

test('without token listeners nothing is polled', async (t) => {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  fake.websocket = false;
  const kb = await connect(Object.assign({ url: fake.url, pollInterval: 20 }, FAST));
  t.after(() => kb.close());
  const stop = kb.on('token.removed', () => {});
  await until(() => fake.requests.includes('GET /v1/tokens'), 2000, 'a poll');
  stop();
  const n = fake.requests.length;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(fake.requests.length, n);
});
