// keybridge-sof.js against the fake daemon's tokens (fake-tokens.mjs): the
// SOF_* functions' argument orders, what they ask the daemon, their answers
// in the legacy forms, the SOR_* numbers of failures, the options, and
// install() onto an object and onto globalThis. The calls that need no
// daemon are in sof-cert.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import * as sofModule from '../keybridge-sof.js';
import { createSOF, install, getSOF, sorOf, formatCertId, parseCertId, CONSTANTS as C, SOF_FUNCTIONS } from '../keybridge-sof.js';
import { FakeDaemon, apiError } from './fake-daemon.mjs';
import { serveTokens, standardTokens, fixture, pemToBase64 } from './fake-tokens.mjs';

const b64 = (text) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (value) => Buffer.from(value, 'base64').toString('utf8');

async function setup(t, options = {}) {
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  fake.rest['GET /v1/info'] = () => [200, { product: 'keybridge', version: '0.9.1', api: 1, features: ['tokens'] }];
  const tokens = standardTokens();
  serveTokens(fake, tokens);
  const transport = options.transport || 'websocket';
  const sof = createSOF(Object.assign({ clientOptions: { url: fake.url, WebSocket, transport, reconnect: false, probeTimeout: 1000 } },
    options.sof));
  t.after(() => sof.close());
  const [rsa, enc] = tokens[0].certificates;
  const [sm2, ec] = tokens[1].certificates;
  const ids = { rsa: formatCertId(tokens[0].id, rsa.id), enc: formatCertId(tokens[0].id, enc.id),
    sm2: formatCertId(tokens[1].id, sm2.id), ec: formatCertId(tokens[1].id, ec.id) };
  return { fake, tokens, sof, ids };
}

// The params of the calls the daemon saw for method.
function asked(fake, method) {
  return fake.calls.filter(([m]) => m === method).map(([, p]) => p);
}

async function fails(sof, promise, failure, sor, code) {
  assert.deepEqual(await promise, failure);
  assert.equal(await sof.SOF_GetLastError(), sor, `SOR of ${sof.lastError().code}`);
  if (code) assert.equal(sof.lastError().code, code);
}

test('install() puts every function and constant on an object, one shared instance behind them', async () => {
  const a = install({});
  const b = install({});
  for (const name of SOF_FUNCTIONS) assert.equal(typeof a[name], 'function', name);
  for (const [name, value] of Object.entries(C)) assert.equal(a[name], value, name);
  assert.equal(a.SGD_SM3_SM2, 0x00020201);
  assert.equal(a.SOR_IndataErr, 0x0B000201);
  assert.equal(await a.SOF_SetSignMethod(a.SGD_SHA256_RSA), 0);
  assert.equal(await b.SOF_GetSignMethod(), C.SGD_SHA256_RSA, 'both objects share getSOF()');
  assert.equal(await getSOF().SOF_GetSignMethod(), C.SGD_SHA256_RSA);
  await a.SOF_SetSignMethod(C.SGD_SM3_SM2);
  const own = createSOF();
  const c = install({}, { instance: own, dataFormat: 'base64' });
  await c.SOF_SetSignMethod(C.SGD_SHA256_RSA);
  assert.equal(await a.SOF_GetSignMethod(), C.SGD_SM3_SM2, 'another instance has its own state');
  assert.equal(await own.SOF_GetSignMethod(), C.SGD_SHA256_RSA);
});

test('install() onto globalThis: legacy code finds the globals', async (t) => {
  const names = SOF_FUNCTIONS.concat(Object.keys(C));
  t.after(() => names.forEach((n) => { delete globalThis[n]; }));
  assert.equal(install(), globalThis);
  assert.equal(typeof globalThis.SOF_GetUserList, 'function');
  assert.equal(globalThis.SGD_CERT_SUBJECT_CN, 0x31);
  // eslint-disable-next-line no-undef
  assert.equal(await SOF_GenRandom(8).then((r) => Buffer.from(r, 'base64').length), 8);
});

test('every SOF_* function answers a Promise', async () => {
  const sof = createSOF({ clientOptions: { url: 'http://127.0.0.1:9', probeTimeout: 100 } });
  for (const name of SOF_FUNCTIONS) {
    const r = sof[name]('x', 'y', 'z');
    assert.ok(r instanceof Promise, name);
    await r;
  }
});

test('SOF_GetVersion and SOF_CheckSupport; no daemon: SOR_LoadProviderErr, code NOT_RUNNING', async (t) => {
  const { sof } = await setup(t);
  assert.equal(await sof.SOF_CheckSupport(), 0);
  assert.equal(await sof.SOF_GetVersion(), '0.9.1');
  const none = createSOF({ clientOptions: { url: 'http://127.0.0.1:9', probeTimeout: 200 } });
  await fails(none, none.SOF_CheckSupport(), 1, C.SOR_LoadProviderErr, 'NOT_RUNNING');
  await fails(none, none.SOF_GetVersion(), '', C.SOR_LoadProviderErr);
  await fails(none, none.SOF_GetUserList(), '', C.SOR_LoadProviderErr);
});

for (const transport of ['websocket', 'rest']) {
  test(`${transport}: SOF_GetUserList is "name||CertID&&&…" of the signing certificates with keys`, async (t) => {
    const { sof, tokens, ids } = await setup(t, { transport });
    const list = await sof.SOF_GetUserList();
    assert.equal(list, `张三||${ids.rsa}&&&国密测试||${ids.sm2}&&&赵六||${ids.ec}&&&`);
    assert.equal(await sof.SOF_GetLastError(), 0);
    const users = list.split('&&&').filter(Boolean).map((u) => u.split('||'));
    assert.deepEqual(parseCertId(users[0][1]), { token: tokens[0].id, certificate: tokens[0].certificates[0].id });
    tokens.length = 0;
    assert.equal(await sof.SOF_GetUserList(), '');
  });

  test(`${transport}: signing: the algorithm by key type, the data by dataFormat, attached and detached messages`, async (t) => {
    const { fake, sof, ids } = await setup(t, { transport });
    assert.equal(unb64(await sof.SOF_SignData(ids.rsa, '投标 1')), `sig RSA-PKCS1-SHA256 raw ${b64('投标 1')}`);
    assert.equal(unb64(await sof.SOF_SignData(ids.sm2, 'x')), `sig SM2-SM3 raw ${b64('x')}`);
    assert.equal(unb64(await sof.SOF_SignData(ids.ec, 'x')), `sig ECDSA-SHA256 raw ${b64('x')}`);
    assert.equal(unb64(await sof.SOF_SignMessage(0, ids.rsa, 'm')), `sig RSA-PKCS1-SHA256 cms ${b64('m')}`);
    assert.equal(unb64(await sof.SOF_SignMessage(1, ids.sm2, 'm')), `sig SM2-SM3 cms-detached ${b64('m')}`);
    assert.equal(unb64(await sof.SOF_SignMessage('1', ids.rsa, 'm')), `sig RSA-PKCS1-SHA256 cms-detached ${b64('m')}`);
    assert.equal(unb64(await sof.SOF_SignDataByP7(ids.rsa, 'm')), `sig RSA-PKCS1-SHA256 cms ${b64('m')}`);
    const first = asked(fake, 'sign')[0];
    assert.deepEqual(first, { token: parseCertId(ids.rsa).token, certificate: parseCertId(ids.rsa).certificate,
      algorithm: 'RSA-PKCS1-SHA256', items: [{ data: b64('投标 1') }] });
    sof.configure({ dataFormat: 'base64' });
    assert.equal(unb64(await sof.SOF_SignData(ids.rsa, 'AAEC\r\nAw==')), 'sig RSA-PKCS1-SHA256 raw AAECAw==');
    assert.equal(unb64(await sof.SOF_SignData(ids.rsa, Uint8Array.of(1, 2))), 'sig RSA-PKCS1-SHA256 raw AQI=');
    const before = fake.calls.length;
    await fails(sof, sof.SOF_SignData(ids.rsa, '投标'), '', C.SOR_IndataErr, 'DATA_INVALID');
    await fails(sof, sof.SOF_SignMessage(2, ids.rsa, 'AA=='), '', C.SOR_IndataErr, 'DATA_INVALID');
    assert.equal(fake.calls.length, before, 'bad input never reaches the daemon');
  });

  test(`${transport}: envelopes: SOF_EncryptData to a certificate, SOF_DecryptData with the user's encryption certificate`, async (t) => {
    const { fake, sof, ids } = await setup(t, { transport });
    const encCert = pemToBase64(fixture('rsa-enc.pem'));
    const envelope = await sof.SOF_EncryptData(encCert, '开标密文');
    assert.deepEqual(asked(fake, 'encrypt')[0], { certificate: encCert, items: [{ data: b64('开标密文') }] });
    assert.equal(await sof.SOF_DecryptData(ids.rsa, envelope), '开标密文');
    assert.deepEqual(asked(fake, 'decrypt')[0], { token: parseCertId(ids.enc).token, certificate: parseCertId(ids.enc).certificate,
      items: [{ cms: envelope }] });
    assert.equal(await sof.SOF_DecryptData(ids.enc, envelope), '开标密文', 'the encryption certificate\'s own CertID');
  });
}

test('SOF_ExportUserCert and SOF_ExportExChangeUserCert: base64 DER of the signing and the encryption certificate', async (t) => {
  const { sof, ids } = await setup(t);
  assert.equal(await sof.SOF_ExportUserCert(ids.rsa), pemToBase64(fixture('rsa-sign.pem')));
  assert.equal(await sof.SOF_ExportExChangeUserCert(ids.rsa), pemToBase64(fixture('rsa-enc.pem')));
  await fails(sof, sof.SOF_ExportExChangeUserCert(ids.sm2), '', C.SOR_CertNotFountErr, 'NO_ENCRYPTION_CERTIFICATE');
});

test('CertIDs: malformed ones fail here, unknown ones at the daemon, both SOR_CertNotFountErr', async (t) => {
  const { fake, sof, ids } = await setup(t);
  for (const bad of ['', 'abc', 'a:b:c', 'a b:c', null, 42]) {
    await fails(sof, sof.SOF_ExportUserCert(bad), '', C.SOR_CertNotFountErr, 'CERT_ID_INVALID');
  }
  assert.equal(fake.calls.length, 0);
  await fails(sof, sof.SOF_ExportUserCert('ffff000000000000:0011223344556677'), '', C.SOR_CertNotFountErr, 'NOT_FOUND');
  await fails(sof, sof.SOF_SignData(`${parseCertId(ids.rsa).token}:0011223344556677`, 'x'), '', C.SOR_CertNotFountErr, 'CERT_ID_INVALID');
  assert.throws(() => parseCertId('x'), (e) => e.sor === C.SOR_CertNotFountErr);
});

test('SOF_GetUserInfo reads the user\'s certificate; SOF_GetDeviceInfo the token', async (t) => {
  const { sof, tokens, ids } = await setup(t);
  assert.equal(await sof.SOF_GetUserInfo(ids.rsa, C.SGD_CERT_SUBJECT_CN), '张三');
  assert.equal(await sof.SOF_GetUserInfo(ids.sm2, C.SGD_CERT_SIGNATURE_ALGORITHM), 'SM3WithSM2');
  assert.equal(await sof.SOF_GetDeviceInfo(ids.rsa, C.SGD_DEVICE_SERIAL_NUMBER), tokens[0].serial);
  assert.equal(await sof.SOF_GetDeviceInfo(ids.rsa, C.SGD_DEVICE_NAME), tokens[0].label);
  assert.equal(await sof.SOF_GetDeviceInfo(ids.rsa, C.SGD_DEVICE_MANUFACTURER), 'keybridge test');
  assert.equal(await sof.SOF_GetDeviceInfo(ids.rsa, C.SGD_DEVICE_TYPE), 'fake');
  await fails(sof, sof.SOF_GetDeviceInfo(ids.rsa, C.SGD_DEVICE_SUPPORT_FREE_SPACE), '', C.SOR_ObjErr, 'NO_SUCH_VALUE');
  tokens[0].freeSpace = 4096;
  assert.equal(await sof.SOF_GetDeviceInfo(ids.rsa, C.SGD_DEVICE_SUPPORT_FREE_SPACE), '4096');
  await fails(sof, sof.SOF_GetDeviceInfo(ids.rsa, 0x201), '', C.SOR_PARAMETERNOTSUPPORTErr);
});

test('SOF_Login: the PIN flow of an authenticate, skipped when authorized; the page PIN only with pagePin', async (t) => {
  const { fake, sof, tokens, ids } = await setup(t);
  assert.equal(await sof.SOF_Login(ids.rsa, '123456'), true);
  const [first] = asked(fake, 'authenticate');
  assert.equal(first.certificate, parseCertId(ids.rsa).certificate);
  assert.equal(Buffer.from(first.challenge, 'base64').length, 32);
  assert.equal(first.pin, undefined, 'the page\'s PIN is not sent without pagePin');
  assert.equal(await sof.SOF_Login(ids.rsa, '123456'), true);
  assert.equal(asked(fake, 'authenticate').length, 1, 'authorized: no second dialog');
  tokens[1].authorized = false;
  sof.configure({ pagePin: true, confirmFinalTry: true });
  assert.equal(await sof.SOF_Login(ids.sm2, '654321'), true);
  assert.equal(asked(fake, 'authenticate')[1].pin, '654321');
  assert.equal(asked(fake, 'authenticate')[1].confirmFinalTry, true);
  tokens[1].authorized = false;
  fake.method('authenticate', 'POST /v1/tokens/{token}/authenticate', () => {
    throw apiError('PIN_INCORRECT', { pinStatus: 'countLow', retriesLeft: null });
  });
  await fails(sof, sof.SOF_Login(ids.sm2, 'wrong'), false, C.SOR_IndataErr, 'PIN_INCORRECT');
  assert.equal(sof.lastError().details.pinStatus, 'countLow');
});

test('SOF_GetPinRetryCount from the token\'s PIN state', async (t) => {
  const { sof, tokens, ids } = await setup(t);
  const cases = [[{ status: 'ok', retriesLeft: null }, 2], [{ status: 'countLow', retriesLeft: null }, 2],
    [{ status: 'finalTry', retriesLeft: 1 }, 1], [{ status: 'locked', retriesLeft: 0 }, 0], [{ status: 'locked', retriesLeft: null }, 0],
    [{ status: 'countLow', retriesLeft: 5 }, 5]];
  for (const [pin, count] of cases) {
    tokens[0].pin = pin;
    assert.equal(await sof.SOF_GetPinRetryCount(ids.rsa), count, JSON.stringify(pin));
  }
  tokens[0].pin = { status: 'ok', retriesLeft: null };
  sof.configure({ unknownRetryCount: 10 });
  assert.equal(await sof.SOF_GetPinRetryCount(ids.rsa), 10);
  await fails(sof, sof.SOF_GetPinRetryCount('nope'), -1, C.SOR_CertNotFountErr);
});

test('SOF_ChangePassWd: keybridge\'s dialogs, or the page\'s PINs with pagePin', async (t) => {
  const { fake, sof, ids } = await setup(t);
  assert.equal(await sof.SOF_ChangePassWd(ids.rsa, '111111', '222222'), true);
  assert.deepEqual(asked(fake, 'pin.change')[0], { token: parseCertId(ids.rsa).token });
  sof.configure({ pagePin: true });
  assert.equal(await sof.SOF_ChangePassWd(ids.rsa, '111111', '222222'), true);
  assert.deepEqual(asked(fake, 'pin.change')[1], { token: parseCertId(ids.rsa).token, oldPin: '111111', newPin: '222222' });
  fake.method('pin.change', 'POST /v1/tokens/{token}/pin/change', () => { throw apiError('PIN_CANCELLED'); });
  await fails(sof, sof.SOF_ChangePassWd(ids.rsa, 'a', 'b'), false, C.SOR_UnknownErr, 'PIN_CANCELLED');
});

test('sign methods: SHA-256 and SM3-SM2 sign; SHA-1 and SM3 with RSA are kept but refused at signing', async (t) => {
  const { fake, sof, ids } = await setup(t);
  assert.equal(await sof.SOF_GetSignMethod(), C.SGD_SM3_SM2);
  assert.equal(await sof.SOF_SetSignMethod(C.SGD_SHA256_RSA), 0);
  assert.equal(unb64(await sof.SOF_SignData(ids.rsa, 'x')), `sig RSA-PKCS1-SHA256 raw ${b64('x')}`);
  assert.equal(await sof.SOF_SetSignMethod(C.SGD_SHA1_RSA), C.SOR_AlgoTypeErr);
  assert.equal(sof.lastError().code, 'ALGORITHM_NOT_SUPPORTED');
  assert.equal(await sof.SOF_GetSignMethod(), C.SGD_SHA1_RSA);
  const before = asked(fake, 'sign').length;
  await fails(sof, sof.SOF_SignData(ids.rsa, 'x'), '', C.SOR_AlgoTypeErr, 'ALGORITHM_NOT_SUPPORTED');
  assert.equal(asked(fake, 'sign').length, before, 'nothing signed with another hash');
  assert.equal(unb64(await sof.SOF_SignData(ids.sm2, 'x')), `sig SM2-SM3 raw ${b64('x')}`, 'SM2 keys sign SM2-SM3 whatever the method');
  assert.equal(await sof.SOF_SetSignMethod(C.SGD_SM3_RSA), C.SOR_AlgoTypeErr);
  assert.equal(await sof.SOF_SetSignMethod(12345), C.SOR_AlgoTypeErr);
  assert.equal(await sof.SOF_GetSignMethod(), C.SGD_SM3_RSA, 'an unknown method changes nothing');
});

test('encrypt methods: SM4-CBC only, the envelope\'s cipher follows the certificate', async (t) => {
  const { sof } = await setup(t);
  assert.equal(await sof.SOF_GetEncryptMethod(), C.SGD_SM4_CBC);
  assert.equal(await sof.SOF_SetEncryptMethod(C.SGD_SM4_CBC), 0);
  assert.equal(await sof.SOF_SetEncryptMethod(C.SGD_SM1_CBC), C.SOR_AlgoTypeErr);
  assert.equal(await sof.SOF_GetEncryptMethod(), C.SGD_SM4_CBC);
});

test('SOF_SignFile: a File\'s digest for RSA, its bytes for SM2; a path is refused', async (t) => {
  const { fake, sof, ids } = await setup(t);
  const bytes = Buffer.from('%PDF-1.4 投标文件');
  const file = new Blob([bytes]);
  await sof.SOF_SignFile(ids.rsa, file);
  assert.deepEqual(asked(fake, 'sign')[0].items, [{ digest: createHash('sha256').update(bytes).digest('base64') }]);
  await sof.SOF_SignFile(ids.sm2, file);
  assert.deepEqual(asked(fake, 'sign')[1].items, [{ data: bytes.toString('base64') }]);
  await fails(sof, sof.SOF_SignFile(ids.rsa, 'C:\\bid.pdf'), '', C.SOR_NotSupportYetErr, 'NOT_SUPPORTED');
});

test('envelope failures: not the recipient, damaged, not UTF-8, usage, options', async (t) => {
  const { fake, sof, ids } = await setup(t, { sof: { rsaPadding: 'oaep', confirmFinalTry: true } });
  const encCert = fixture('rsa-enc.pem');
  await sof.SOF_EncryptData(encCert, 'x');
  assert.equal(asked(fake, 'encrypt')[0].rsaPadding, 'oaep');
  const toEc = b64(JSON.stringify({ to: 'another recipient', data: b64('x') }));
  await fails(sof, sof.SOF_DecryptData(ids.rsa, toEc), '', C.SOR_KeyNotFountErr, 'NOT_RECIPIENT');
  assert.equal(sof.lastError().details.field, 'items[0].cms');
  assert.equal(asked(fake, 'decrypt')[0].confirmFinalTry, true);
  await fails(sof, sof.SOF_DecryptData(ids.rsa, 'AAAA'), '', C.SOR_DECRYPTDATAErr, 'DECRYPT_FAILED');
  await fails(sof, sof.SOF_DecryptData(ids.rsa, 'not base64!'), '', C.SOR_IndataErr, 'DATA_INVALID');
  await fails(sof, sof.SOF_DecryptData(ids.rsa, ''), '', C.SOR_IndataErr, 'DATA_INVALID');
  sof.configure({ dataFormat: 'base64' });
  const binary = await sof.SOF_EncryptData(encCert, '/w==');   // the byte 0xff, which is no UTF-8
  assert.equal(await sof.SOF_DecryptData(ids.rsa, binary), '/w==');
  sof.configure({ dataFormat: 'text' });
  await fails(sof, sof.SOF_DecryptData(ids.rsa, binary), '', C.SOR_PARAMETERNOTSUPPORTErr, 'NOT_TEXT');
  await fails(sof, sof.SOF_EncryptData(pemToBase64(fixture('rsa-sign.pem')), 'x'), '', C.SOR_KeyUsageErr, 'BAD_REQUEST');
  await fails(sof, sof.SOF_EncryptData('MIIB', 'x'), '', C.SOR_CERTENCODEErr, 'CERTIFICATE_INVALID');
  fake.method('decrypt', 'POST /v1/tokens/{token}/decrypt', () => { throw apiError('NOT_FOUND', { field: 'method' }); });
  await fails(sof, sof.SOF_DecryptData(ids.rsa, toEc), '', C.SOR_NotSupportYetErr, 'NOT_FOUND');
});

test('SOF_GenRandom: the browser\'s random bytes, base64', async () => {
  const sof = createSOF();
  const a = await sof.SOF_GenRandom(16);
  assert.equal(Buffer.from(a, 'base64').length, 16);
  assert.notEqual(await sof.SOF_GenRandom(16), a);
  for (const bad of [0, -1, 1.5, 'x', 65537]) await fails(sof, sof.SOF_GenRandom(bad), '', C.SOR_IndataLenErr, 'DATA_LENGTH_INVALID');
  assert.equal(Buffer.from(await sof.SOF_GenRandom('24'), 'base64').length, 24);
});

test('the last error: reset by a success, messages in the page\'s language, keybridge\'s own messages passed on', async (t) => {
  const { fake, sof, ids } = await setup(t, { sof: { lang: 'zh' } });
  await sof.SOF_GenRandom(0);
  assert.equal(await sof.SOF_GetLastErrMsg(), '输入数据长度错误。 (1 to 65536 bytes)');
  await sof.SOF_GenRandom(1);
  assert.equal(await sof.SOF_GetLastError(), 0);
  assert.equal(await sof.SOF_GetLastErrMsg(), '');
  assert.deepEqual(sof.lastError(), { sor: 0, code: null, message: '', details: {} });
  sof.configure({ lang: 'en' });
  await sof.SOF_GetCertInfo('x', 1);
  assert.equal(await sof.SOF_GetLastErrMsg(), 'The certificate is not a base64 DER or PEM certificate.');
  fake.method('sign', 'POST /v1/tokens/{token}/sign', () => { throw apiError('TOKEN_BUSY'); });
  await fails(sof, sof.SOF_SignData(ids.rsa, 'x'), '', C.SOR_TimeoutErr, 'TOKEN_BUSY');
  assert.equal(await sof.SOF_GetLastErrMsg(), 'fake TOKEN_BUSY');
});

test('throwErrors: failures reject with the keybridge code and the SOR number', async (t) => {
  const { fake, sof, ids } = await setup(t, { sof: { throwErrors: true } });
  await assert.rejects(sof.SOF_ExportUserCert('bad'), (e) => e.code === 'CERT_ID_INVALID' && e.sor === C.SOR_CertNotFountErr);
  fake.method('sign', 'POST /v1/tokens/{token}/sign', () => { throw apiError('PIN_LOCKED', { retriesLeft: 0 }); });
  await assert.rejects(sof.SOF_SignData(ids.rsa, 'x'), (e) => e.code === 'PIN_LOCKED' && e.sor === C.SOR_IndataErr && e.details.retriesLeft === 0);
});

test('unsupported calls fail with SOR_NotSupportYetErr and say why, without asking the daemon', async (t) => {
  const { fake, sof, ids } = await setup(t);
  const calls = [
    ['SOF_VerifySignedData', [pemToBase64(fixture('rsa-sign.pem')), 'x', 'AA=='], false, /server/],
    ['SOF_VerifySignedFile', ['c', 'C:\\a.pdf', 'AA=='], false, /server/],
    ['SOF_VerifySignedMessage', ['AA==', 'x'], false, /server/],
    ['SOF_VerifySignedDataByP7', ['AA=='], false, /server/],
    ['SOF_EncryptFile', ['c', 'C:\\in', 'C:\\out'], false, /path/],
    ['SOF_DecryptFile', [ids.rsa, 'C:\\in', 'C:\\out'], false, /path/],
    ['SOF_SignDataXML', [ids.rsa, '<a/>'], '', /canonicalisation/],
    ['SOF_VerifySignedDataXML', ['<a/>'], false, /canonicalisation/],
    ['SOF_GetXMLSignatureInfo', ['<a/>', 1], '', /canonicalisation/],
    ['SOF_PubKeyEncrypt', ['c', 'x'], '', /envelopes/],
    ['SOF_PriKeyDecrypt', [ids.rsa, 'AA=='], '', /envelopes/],
  ];
  sof.configure({ lang: 'en' });
  for (const [name, args, failure, why] of calls) {
    await fails(sof, sof[name](...args), failure, C.SOR_NotSupportYetErr, 'NOT_SUPPORTED');
    assert.match(await sof.SOF_GetLastErrMsg(), why, name);
  }
  assert.equal(fake.calls.length, 0);
});

test('keybridge codes as SOR numbers', () => {
  const cases = { NOT_RUNNING: C.SOR_LoadProviderErr, ORIGIN_NOT_ALLOWED: C.SOR_LoadProviderErr, TIMEOUT: C.SOR_TimeoutErr,
    TOKEN_BUSY: C.SOR_TimeoutErr, BAD_REQUEST: C.SOR_IndataErr, PAYLOAD_TOO_LARGE: C.SOR_IndataLenErr,
    NOT_FOUND: C.SOR_CertNotFountErr, TOKEN_NOT_PRESENT: C.SOR_CertNotFountErr, PIN_INCORRECT: C.SOR_IndataErr,
    PIN_CANCELLED: C.SOR_UnknownErr, UNSUPPORTED_ALGORITHM: C.SOR_AlgoTypeErr, NOT_RECIPIENT: C.SOR_KeyNotFountErr,
    DECRYPT_FAILED: C.SOR_DECRYPTDATAErr, TOKEN_NOT_INITIALIZED: C.SOR_NotInitializeErr, INTERNAL: C.SOR_UnknownErr,
    SOMETHING_NEW: C.SOR_UnknownErr };
  for (const [code, sor] of Object.entries(cases)) assert.equal(sorOf(code), sor, code);
  assert.equal(sorOf('BAD_REQUEST', { field: 'certificate', reason: 'usage' }), C.SOR_KeyUsageErr);
  assert.equal(sorOf('NOT_FOUND', { field: 'method' }), C.SOR_NotSupportYetErr);
});

test('the type declarations name every export, function and constant', () => {
  const dts = readFileSync(new URL('../keybridge-sof.d.ts', import.meta.url), 'utf8');
  for (const name of Object.keys(sofModule)) assert.match(dts, new RegExp(`export (declare )?(const|function|class|interface|type|\\{[^}]*) ?${name}\\b`), name);
  for (const name of SOF_FUNCTIONS.concat(Object.keys(C))) assert.match(dts, new RegExp(`\\b${name}\\b`), name);
});
