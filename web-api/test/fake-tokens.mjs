// Tokens for the fake daemon (fake-daemon.mjs): certificates from
// test/fixtures on them, and stand-ins for the calls keybridge-sof.js
// makes, served on both transports with FakeDaemon.method(). The stand-in
// signatures and envelopes are not cryptography: they say what was asked,
// so that tests can check it, and an envelope opens only with the
// certificate it was made for (NOT_RECIPIENT otherwise, DECRYPT_FAILED when
// it is not one), as the daemon's do.
import { readFileSync } from 'node:fs';
import { X509Certificate, createHash } from 'node:crypto';
import { apiError } from './fake-daemon.mjs';

export function fixture(name) {
  return readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');
}

export function pemToBase64(pem) {
  return pem.replace(/-----[^-]+-----|\s/g, '');
}

// A Certificate of the API (docs/api.md) for a fixture, with its pem.
export function certificate(file, props) {
  const pem = fixture(file);
  const x = new X509Certificate(pem);
  const fingerprint = createHash('sha256').update(x.raw).digest('hex');
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x.subject);
  return Object.assign({
    id: fingerprint.slice(0, 16), label: file, subject: x.subject.split('\n').reverse().join(','),
    subjectFields: { CN: cn ? cn[1] : undefined }, issuer: x.issuer, serialNumber: x.serialNumber,
    notBefore: new Date(x.validFrom).toISOString(), notAfter: new Date(x.validTo).toISOString(),
    keyType: 'RSA', keyBits: 2048, curve: null, usage: 'sign', fingerprintSha256: fingerprint, hasPrivateKey: true, pem,
  }, props);
}

export function token(id, certificates, props) {
  return Object.assign({ id, backend: 'pkcs11', module: 'fake.so', label: `token ${id}`, manufacturer: 'keybridge test',
    model: 'fake', serial: `SN-${id}`, hardwareId: null, pin: { status: 'ok', retriesLeft: null, minLength: 4, maxLength: 16 },
    authorized: false, initialized: true, certificates }, props);
}

// The usual tokens: 张三's double certificates (RSA) on one, 国密测试's SM2
// and 赵六's EC signing certificates on another.
export function standardTokens() {
  return [
    token('aaaa000000000001', [certificate('rsa-sign.pem'), certificate('rsa-enc.pem', { usage: 'encrypt', hasPrivateKey: false }),
      certificate('ca.pem', { usage: 'sign', hasPrivateKey: false })]),
    token('bbbb000000000002', [certificate('sm2-sign.pem', { keyType: 'SM2', curve: 'SM2', keyBits: 256 }),
      certificate('ec-sign.pem', { keyType: 'EC', curve: 'P-256', keyBits: 256 })], { backend: 'skf' }),
  ];
}

const b64 = (text) => Buffer.from(text, 'utf8').toString('base64');

function withoutPem(t) {
  return Object.assign({}, t, { certificates: t.certificates.map((c) => Object.assign({}, c, { pem: undefined })) });
}

// The token and certificate params name, or the daemon's NOT_FOUND.
function find(tokens, params) {
  const t = tokens.find((x) => x.id === params.token);
  if (!t) throw apiError('NOT_FOUND');
  const c = t.certificates.find((x) => x.id === params.certificate);
  if (params.certificate !== undefined && !c) throw apiError('NOT_FOUND', { field: 'certificate' });
  return { t, c };
}

function fingerprintOf(certificate) {
  const der = Buffer.from(pemToBase64(certificate), 'base64');
  return createHash('sha256').update(der).digest('hex');
}

function openEnvelope(cms, c, i) {
  let env;
  try {
    env = JSON.parse(Buffer.from(cms, 'base64').toString('utf8'));
  } catch (e) {
    throw apiError('DECRYPT_FAILED', { field: `items[${i}].cms` });
  }
  if (env.to !== c.fingerprintSha256) throw apiError('NOT_RECIPIENT', { field: `items[${i}].cms` });
  return env.data;
}

// Serves tokens (an array, changed in place by the tests as they like) and
// records each call in fake.calls as [method, params].
export function serveTokens(fake, tokens) {
  fake.calls = [];
  const on = (name, route, fn) => fake.method(name, route, (p) => { fake.calls.push([name, p]); return fn(p); });
  fake.rpc['tokens.list'] = () => ({ tokens: tokens.map(withoutPem) });
  fake.rest['GET /v1/tokens'] = () => [200, { tokens: tokens.map(withoutPem) }];
  on('token.get', 'GET /v1/tokens/{token}', (p) => withoutPem(find(tokens, p).t));
  on('certificate.get', 'GET /v1/tokens/{token}/certificates/{certificate}', (p) => find(tokens, p).c);
  on('sign', 'POST /v1/tokens/{token}/sign', (p) => {
    const { c } = find(tokens, p);
    return { signatures: p.items.map((it) => b64(`sig ${p.algorithm} ${p.format || 'raw'} ${it.data || it.digest}`)), algorithm: p.algorithm, certificate: c.id };
  });
  on('authenticate', 'POST /v1/tokens/{token}/authenticate', (p) => {
    const { t, c } = find(tokens, p);
    t.authorized = true;
    return { format: 'keybridge-auth-1', certificate: c.pem, algorithm: 'RSA-PKCS1-SHA256', signature: b64('auth') };
  });
  on('pin.change', 'POST /v1/tokens/{token}/pin/change', () => ({ changed: true }));
  on('encrypt', 'POST /v1/encrypt', (p) => {
    const to = fingerprintOf(p.certificate);
    const known = tokens.flatMap((t) => t.certificates).find((c) => c.fingerprintSha256 === to);
    if (known && known.usage === 'sign') throw apiError('BAD_REQUEST', { field: 'certificate', reason: 'usage' });
    return { envelopes: p.items.map((it) => b64(JSON.stringify({ to, data: it.data }))), format: 'cms' };
  });
  on('decrypt', 'POST /v1/tokens/{token}/decrypt', (p) => {
    const { c } = find(tokens, p);
    if (c.usage !== 'encrypt' && c.usage !== 'both') throw apiError('BAD_REQUEST', { field: 'certificate', reason: 'usage' });
    return { plaintexts: p.items.map((it, i) => openEnvelope(it.cms, c, i)), certificate: c.id };
  });
}
