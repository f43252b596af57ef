// keybridge-sof.js without a daemon: SOF_GetCertInfo with every SGD_CERT_*
// and SGD_EXT_* type, SOF_GetCertInfoByOid, SOF_ValidateCert,
// SOF_GetInfoFromSignedMessage, on the certificates and CMS messages of
// test/fixtures (made by fixtures/make-fixtures.sh), checked against
// node's own X.509 parser where it gives the same item.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createSOF, CONSTANTS as C, CERT_STATUS } from '../keybridge-sof.js';
import { parseCertificate, parseDer, DerError } from '../keybridge-der.js';
import { fixture, pemToBase64 } from './fake-tokens.mjs';

const RSA = pemToBase64(fixture('rsa-sign.pem'));
const ENC = pemToBase64(fixture('rsa-enc.pem'));
const CA = pemToBase64(fixture('ca.pem'));
const EC = pemToBase64(fixture('ec-sign.pem'));
const SM2 = pemToBase64(fixture('sm2-sign.pem'));
const ATTACHED = fixture('signed-attached.b64').trim();
const DETACHED = fixture('signed-detached.b64').trim();

// An instance that talks to nobody: these calls must not need the daemon.
function offline(options) {
  return createSOF(Object.assign({ clientOptions: { url: 'http://127.0.0.1:9', probeTimeout: 100 }, utcTimes: true }, options));
}

function utc(date) {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

async function fails(sof, promise, failure, sor, code) {
  assert.deepEqual(await promise, failure);
  assert.equal(await sof.SOF_GetLastError(), sor);
  if (code) assert.equal(sof.lastError().code, code);
}

test('the basic items of the certificate, as node reads them', async () => {
  const sof = offline();
  const x = new X509Certificate(fixture('rsa-sign.pem'));
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_CERT_VERSION), 'V3');
  assert.equal(await sof.SOF_GetLastError(), 0);
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_CERT_SERIAL), x.serialNumber.replace(/^0+/, ''));
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_CERT_SIGNATURE_ALGORITHM), 'sha256WithRSAEncryption');
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_CERT_SUBJECT),
    'C=CN, S=北京市, L=海淀区, O=阳光采购测试有限公司, OU=投标部, CN=张三, SERIALNUMBER=91110108MA01TEST1X, E=zhangsan@example.cn');
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_CERT_ISSUER), 'O=keybridge test, CN=keybridge 测试 CA');
  const from = utc(new Date(x.validFrom));
  const to = utc(new Date(x.validTo));
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_CERT_VALID_TIME), `${from} - ${to}`);
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_CERT_NOTBEFORE_TIME), from);
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_CERT_NOTAFTER_TIME), to);
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_CERT_DER_PUBLIC_KEY),
    x.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'));
  const exts = Buffer.from(await sof.SOF_GetCertInfo(RSA, C.SGD_CERT_DER_EXTENSIONS), 'base64');
  assert.equal(exts[0], 0x30);
  assert.ok(x.raw.includes(exts), 'the Extensions DER is the certificate\'s');
});

test('names: each part, BMPString, several values; the other key types', async () => {
  const sof = offline();
  const expect = [[C.SGD_CERT_SUBJECT_CN, '张三'], [C.SGD_CERT_SUBJECT_O, '阳光采购测试有限公司'], [C.SGD_CERT_SUBJECT_OU, '投标部'],
    [C.SGD_CERT_SUBJECT_EMAIL, 'zhangsan@example.cn'], [C.SGD_CERT_ISSUER_CN, 'keybridge 测试 CA'], [C.SGD_CERT_ISSUER_O, 'keybridge test']];
  for (const [type, value] of expect) assert.equal(await sof.SOF_GetCertInfo(RSA, type), value, `type ${type}`);
  await fails(sof, sof.SOF_GetCertInfo(RSA, C.SGD_CERT_ISSUER_OU), '', C.SOR_ObjErr, 'NO_SUCH_VALUE');
  assert.equal(await sof.SOF_GetCertInfo(EC, C.SGD_CERT_SUBJECT_CN), '赵六');   // a BMPString
  assert.equal(await sof.SOF_GetCertInfo(EC, C.SGD_CERT_SIGNATURE_ALGORITHM), 'ecdsa-with-SHA256');
  assert.equal(await sof.SOF_GetCertInfo(SM2, C.SGD_CERT_SUBJECT), 'C=CN, O=keybridge test, CN=国密测试');
  assert.equal(await sof.SOF_GetCertInfo(SM2, C.SGD_CERT_SIGNATURE_ALGORITHM), 'SM3WithSM2');
});

test('the extension items', async () => {
  const sof = offline();
  const ski = await sof.SOF_GetCertInfo(CA, C.SGD_EXT_SUBJECTKEYIDENTIFIER_INFO);
  assert.match(ski, /^[0-9A-F]{40}$/);
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_EXT_AUTHORITYKEYIDENTIFIER_INFO), ski, 'AKI is the issuer\'s SKI');
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_EXT_KEYUSAGE_INFO), 'digitalSignature, nonRepudiation');
  assert.equal(await sof.SOF_GetCertInfo(ENC, C.SGD_EXT_KEYUSAGE_INFO), 'keyEncipherment, dataEncipherment');
  assert.equal(await sof.SOF_GetCertInfo(CA, C.SGD_EXT_KEYUSAGE_INFO), 'keyCertSign, cRLSign');
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_EXT_CERTIFICATEPOLICIES_INFO), '1.2.156.112562.1.1, 2.23.140.1.2.3');
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_EXT_BASICCONSTRAINTS_INFO), 'CA=FALSE');
  assert.equal(await sof.SOF_GetCertInfo(CA, C.SGD_EXT_BASICCONSTRAINTS_INFO), 'CA=TRUE');
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_EXT_EXTKEYUSAGE_INFO), '1.3.6.1.5.5.7.3.2, 1.3.6.1.5.5.7.3.4');
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_EXT_CRLDISTRIBUTIONPOINTS_INFO), 'http://crl.example.cn/test.crl');
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_EXT_SELFDEFINED_EXTENSION_INFO),
    '1.2.156.112562.2.1.1.1=110101199003071234; 1.2.156.10260.4.1.1=110101199003071234X; 1.2.86.11.7.1.8=JJ110101199003071234');
  for (const type of [C.SGD_EXT_PRIVATEKEYUSAGEPERIOD_INFO, C.SGD_EXT_POLICYMAPPINGS_INFO, C.SGD_EXT_POLICYCONSTRAINTS_INFO,
    C.SGD_EXT_NETSCAPE_CERT_TYPE_INFO]) {
    await fails(sof, sof.SOF_GetCertInfo(RSA, type), '', C.SOR_ObjErr, 'NO_SUCH_VALUE');
  }
  await fails(sof, sof.SOF_GetCertInfo(EC, C.SGD_EXT_SELFDEFINED_EXTENSION_INFO), '', C.SOR_ObjErr);
});

test('times in the computer\'s time zone unless utcTimes', async () => {
  const sof = offline({ utcTimes: false });
  const d = new Date(new X509Certificate(fixture('rsa-sign.pem')).validTo);
  const p = (n) => String(n).padStart(2, '0');
  const local = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
  assert.equal(await sof.SOF_GetCertInfo(RSA, C.SGD_CERT_NOTAFTER_TIME), local);
});

test('SOF_GetCertInfoByOid: private extensions in their three encodings, then subject attributes', async () => {
  const sof = offline();
  assert.equal(await sof.SOF_GetCertInfoByOid(RSA, '1.2.156.112562.2.1.1.1'), '110101199003071234');   // UTF8String
  assert.equal(await sof.SOF_GetCertInfoByOid(RSA, '1.2.156.10260.4.1.1'), '110101199003071234X');     // in an OCTET STRING
  assert.equal(await sof.SOF_GetCertInfoByOid(RSA, '1.2.86.11.7.1.8'), 'JJ110101199003071234');        // bare ASCII, not DER
  assert.equal(await sof.SOF_GetCertInfoByOid(RSA, '2.5.4.5'), '91110108MA01TEST1X');                  // the subject's serialNumber
  await fails(sof, sof.SOF_GetCertInfoByOid(RSA, '1.2.3.4'), '', C.SOR_ObjErr, 'NO_SUCH_VALUE');
  await fails(sof, sof.SOF_GetCertInfoByOid('not a certificate', '2.5.4.3'), '', C.SOR_CERTENCODEErr, 'CERTIFICATE_INVALID');
});

test('certificates as PEM, as base64 with line breaks; garbage and unknown types', async () => {
  const sof = offline();
  assert.equal(await sof.SOF_GetCertInfo(fixture('rsa-sign.pem'), C.SGD_CERT_SUBJECT_CN), '张三');
  assert.equal(await sof.SOF_GetCertInfo(RSA.replace(/(.{64})/g, '$1\r\n'), C.SGD_CERT_SUBJECT_CN), '张三');
  await fails(sof, sof.SOF_GetCertInfo('MIIB', C.SGD_CERT_VERSION), '', C.SOR_CERTENCODEErr, 'CERTIFICATE_INVALID');
  await fails(sof, sof.SOF_GetCertInfo(RSA.slice(0, 400), C.SGD_CERT_VERSION), '', C.SOR_CERTENCODEErr);
  await fails(sof, sof.SOF_GetCertInfo(undefined, C.SGD_CERT_VERSION), '', C.SOR_CERTENCODEErr);
  await fails(sof, sof.SOF_GetCertInfo(RSA, 0x99), '', C.SOR_PARAMETERNOTSUPPORTErr, 'INFO_TYPE_NOT_SUPPORTED');
});

test('SOF_ValidateCert: the validity period only', async (t) => {
  const sof = offline();
  assert.equal(await sof.SOF_ValidateCert(RSA), 0);
  const realNow = Date.now;
  t.after(() => { Date.now = realNow; });
  Date.now = () => Date.UTC(2100, 0, 1);
  assert.equal(await sof.SOF_ValidateCert(RSA), CERT_STATUS.EXPIRED);
  assert.equal(await sof.SOF_GetLastError(), C.SOR_CERTHASEXPIREDErr);
  Date.now = () => Date.UTC(2000, 0, 1);
  assert.equal(await sof.SOF_ValidateCert(RSA), CERT_STATUS.NOT_YET_VALID);
  assert.equal(await sof.SOF_GetLastError(), C.SOR_CertNotYetValidErr);
  Date.now = realNow;
  await fails(sof, sof.SOF_ValidateCert('garbage'), CERT_STATUS.OTHER, C.SOR_CERTENCODEErr);
});

test('SOF_GetInfoFromSignedMessage: data, signer certificate, signature; detached and broken messages', async () => {
  const sof = offline();
  assert.equal(await sof.SOF_GetInfoFromSignedMessage(ATTACHED, 1), '投标文件 bid #1');
  assert.equal(await sof.SOF_GetInfoFromSignedMessage(ATTACHED, 2), RSA);
  const sig = Buffer.from(await sof.SOF_GetInfoFromSignedMessage(ATTACHED, 3), 'base64');
  assert.equal(sig.length, 256);
  assert.ok(Buffer.from(ATTACHED, 'base64').includes(sig));
  assert.equal(await sof.SOF_GetP7SignDataInfo(ATTACHED, 2), RSA, 'the older name');
  await fails(sof, sof.SOF_GetInfoFromSignedMessage(DETACHED, 1), '', C.SOR_ObjErr, 'NO_SUCH_VALUE');
  assert.equal(await sof.SOF_GetInfoFromSignedMessage(DETACHED, 2), RSA);
  await fails(sof, sof.SOF_GetInfoFromSignedMessage(RSA, 1), '', C.SOR_PKCS7ENCODEErr, 'MESSAGE_INVALID');
  await fails(sof, sof.SOF_GetInfoFromSignedMessage('%%%', 1), '', C.SOR_PKCS7ENCODEErr);
  await fails(sof, sof.SOF_GetInfoFromSignedMessage(ATTACHED, 7), '', C.SOR_PARAMETERNOTSUPPORTErr);
  sof.configure({ dataFormat: 'base64' });
  assert.equal(await sof.SOF_GetInfoFromSignedMessage(ATTACHED, 1), Buffer.from('投标文件 bid #1').toString('base64'));
});

test('the DER reader refuses what is not DER', () => {
  assert.throws(() => parseDer(Uint8Array.of(0x30, 0x80, 0, 0)), DerError);          // indefinite length
  assert.throws(() => parseDer(Uint8Array.of(0x30, 0x03, 0x02, 0x01)), DerError);    // truncated
  assert.throws(() => parseDer(Uint8Array.of(0x05, 0x00, 0x00)), DerError);          // trailing bytes
  assert.throws(() => parseDer(Uint8Array.of(0x1f, 0x01, 0x00)), DerError);          // a high tag number
  assert.throws(() => parseCertificate(Uint8Array.of(0x30, 0x00)), DerError);
  const c = parseCertificate(Buffer.from(SM2, 'base64'));
  assert.equal(c.publicKeyAlgorithm, '1.2.840.10045.2.1');
  assert.equal(c.version, 3);
});
