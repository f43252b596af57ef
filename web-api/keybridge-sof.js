// SPDX-License-Identifier: LGPL-2.1-or-later
// keybridge-sof.js — the GM/T 0020 calls (SOF_*) of the old certificate
// ActiveX controls, on top of keybridge.js, so that legacy portal pages move
// to keybridge without a rewrite. An ES module; serve it with keybridge.js,
// keybridge-gmt.js and keybridge-der.js from the same directory. Guide, with
// every function and what it does here: docs/integration.md §5.
//
// Put the functions where the old page looked for them:
//
//   <script type="module">
//     import { install, createSOF } from './keybridge-sof.js';
//     install(window);                      // SOF_SignData(...) etc. as globals
//     window.XTXAPP = install({});          // or on a stand-in for the old control object
//     window.SOFAPI = install({}, { instance: createSOF({ dataFormat: 'base64' }) });
//   </script>
//
// install(target, options) copies every SOF_* function (SOF_FUNCTIONS) and
// the SGD_* / SOR_* constants (CONSTANTS) onto target (default: globalThis)
// and returns target. All targets share one instance, getSOF(): one
// connection, one sign method, one last error. options.instance installs
// another, made by createSOF(options); other options configure the
// instance installed. An instance also has configure(options), lastError(),
// getClient() and close() (see createSOF below). The options (DEFAULTS
// below): clientOptions for the KeybridgeClient (url, port, transport, ...)
// or client, an existing one; dataFormat; pagePin; confirmFinalTry;
// rsaPadding; unknownRetryCount; utcTimes; throwErrors; lang. The first call
// connects. Module scripts run before DOMContentLoaded: legacy code that
// ran at load moves into a DOMContentLoaded listener.
//
// The one change to legacy code: every SOF_* function returns a Promise (a
// call into another process cannot stay synchronous), so
//     x = XTXAPP.SOF_SignData(id, text);   becomes   x = await XTXAPP.SOF_SignData(id, text);
// inside an async function. The answers keep the old forms: "" / false /
// the documented number on failure, with the reason in SOF_GetLastError()
// (a GM/T 0020 SOR_* number) and SOF_GetLastErrMsg(); lastError() also
// gives keybridge's own code (PIN_INCORRECT, ...) and details.
//
// CertID (证书实体唯一标识) is "<token id>:<certificate id>", the two stable ids
// of keybridge (docs/api.md "Token", "Certificate"), e.g.
// "8b3f0c2a9d1e4f67:667ce4426fa42e38": the same across re-insertion and
// restarts; formatCertId() and parseCertId() join and split it.
// SOF_GetUserList ("name||CertID&&&...") names one user per signing
// certificate with its key on a token; the user's encryption certificate
// (double certificates) is the one of the same subject on the same token.
//
// InData is text by default: the string's UTF-8 bytes are signed or
// encrypted, as the widespread controls do with what the page passes. With
// {dataFormat: 'base64'} InData (and the plaintexts given back) are base64,
// for binary data; a Uint8Array is always bytes. Envelopes, signatures and
// certificates are always base64 (DER).
//
// The PIN is typed into keybridge's own dialog, never into the page: the
// PINs given to SOF_Login and SOF_ChangePassWd are sent only with
// {pagePin: true}, for an origin the administrator allows page PINs.

import { KeybridgeClient, bytesToBase64, base64ToBytes, textToBase64 } from './keybridge.js';
import { CONSTANTS, CERT_STATUS, SofError, sorOf, cleanBase64, pemBody, certificateBytes, readCertificate,
  certInfo, certInfoByOid, validity, signedMessageInfo } from './keybridge-gmt.js';

export { CONSTANTS, CERT_STATUS, SofError, sorOf };
const C = CONSTANTS;

function lastErrorOf(e, lang) {
  if (e instanceof SofError) return { sor: e.sor, code: e.code, message: e.localMessage(lang), details: {} };
  if (e && typeof e.code === 'string') return { sor: sorOf(e.code, e.details), code: e.code, message: e.message, details: e.details || {} };
  return { sor: C.SOR_UnknownErr, code: 'INTERNAL', message: String(e && e.message || e), details: {} };
}

const OK = Object.freeze({ sor: 0, code: null, message: '', details: Object.freeze({}) });

// ---- CertID -------------------------------------------------------------------

const ID_PART = /^[A-Za-z0-9._-]{1,128}$/;   // what the daemon takes as a path parameter

export function formatCertId(token, certificate) {
  return `${token}:${certificate}`;
}

export function parseCertId(certId) {
  const parts = typeof certId === 'string' ? certId.split(':') : [];
  if (parts.length !== 2 || !ID_PART.test(parts[0]) || !ID_PART.test(parts[1])) throw new SofError('CERT_ID_INVALID');
  return { token: parts[0], certificate: parts[1] };
}

// ---- data ---------------------------------------------------------------------

// InData as base64 for the API: bytes as they are, strings by dataFormat.
function inData(s, value) {
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return bytesToBase64(value);
  if (typeof value !== 'string') throw new SofError('DATA_INVALID');
  return s.opts.dataFormat === 'base64' ? cleanBase64(value) : textToBase64(value);
}

// Bytes from the API (base64) as the page gets them, by dataFormat.
function outData(s, b64) {
  if (s.opts.dataFormat === 'base64') return b64;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(base64ToBytes(b64));
  } catch (e) {
    throw new SofError('NOT_TEXT');
  }
}

function randomBase64(n) {
  const bytes = new Uint8Array(n);
  globalThis.crypto.getRandomValues(bytes);
  return bytesToBase64(bytes);
}

// ---- the instance ---------------------------------------------------------------

const DEFAULTS = {
  client: null,             // a KeybridgeClient to use (connected or not); default: one made from clientOptions
  clientOptions: {},        // options of that KeybridgeClient (url, port, transport, timeout, ...)
  dataFormat: 'text',       // InData and plaintexts: 'text' (UTF-8) or 'base64'
  pagePin: false,           // send SOF_Login's / SOF_ChangePassWd's PINs (only a page-PIN origin may)
  confirmFinalTry: false,   // let a call spend the PIN's last try (docs/api.md "The PIN guard")
  rsaPadding: 'pkcs1',      // SOF_EncryptData to RSA certificates: 'pkcs1' or 'oaep'
  unknownRetryCount: 2,     // SOF_GetPinRetryCount when the token does not tell (more than one try left)
  utcTimes: false,          // certificate times in UTC instead of the computer's time zone
  throwErrors: false,       // reject with the error instead of answering the failure value
  lang: null,               // 'zh' or 'en' for this module's own messages; default: the browser's language
};

function defaultLang() {
  const l = typeof navigator !== 'undefined' && navigator.language;
  return typeof l === 'string' && /^zh\b/i.test(l) ? 'zh' : 'en';
}

// Runs one SOF_* call: the answer, or the failure value with the last error
// set (or the error thrown, with throwErrors).
function call(s, failure, fn) {
  return async function () {
    try {
      const result = await fn.apply(null, arguments);
      s.last = OK;
      return result;
    } catch (e) {
      s.last = lastErrorOf(e, s.opts.lang || defaultLang());
      if (s.opts.throwErrors) throw Object.assign(e, { sor: s.last.sor });
      return e instanceof SofError && e.result !== undefined ? e.result : failure;
    }
  };
}

async function connectClient(s) {
  const client = s.opts.client || new KeybridgeClient(s.opts.clientOptions);
  if (client.state === 'idle' || client.state === 'closed') await client.connect();
  s.client = client;
  return client;
}

// The connected client; connecting once for concurrent first calls, again
// after a failed attempt.
function clientOf(s) {
  if (s.client) return Promise.resolve(s.client);
  if (!s.connecting) s.connecting = connectClient(s).finally(() => { s.connecting = null; });
  return s.connecting;
}

// The token and certificate a CertID names.
async function userOf(s, certId) {
  const id = parseCertId(certId);
  const kb = await clientOf(s);
  const token = await kb.getToken(id.token);
  const cert = token.certificates.find((c) => c.id === id.certificate);
  if (!cert) throw new SofError('CERT_ID_INVALID', '(no such certificate on the token)');
  return { kb, token, cert };
}

function isUser(cert) {
  return (cert.usage === 'sign' || cert.usage === 'both') && cert.hasPrivateKey;
}

function userName(cert) {
  const cn = cert.subjectFields && cert.subjectFields.CN;
  const name = (Array.isArray(cn) ? cn[0] : cn) || cert.label || cert.subject;
  return name.split('&&&').join('&').split('||').join('|');   // keep the list splittable
}

// The user's encryption certificate: itself when it may encrypt, else the
// encryption certificate of the same subject on the token (double
// certificates), the one valid longest; else the token's only one.
function encryptionCertificate(token, cert) {
  if (cert.usage === 'encrypt' || cert.usage === 'both') return cert;
  const all = token.certificates.filter((c) => c.usage === 'encrypt');
  const same = all.filter((c) => c.subject === cert.subject).sort((a, b) => (a.notAfter < b.notAfter ? 1 : -1));
  if (same.length) return same[0];
  if (all.length === 1) return all[0];
  throw new SofError('NO_ENCRYPTION_CERTIFICATE');
}

// The keybridge algorithm for a certificate: the key type decides, the sign
// method only picks the hash of RSA (keybridge does not sign SHA-1 or SM3 with RSA).
function signAlgorithm(s, cert) {
  if (cert.keyType === 'SM2') return 'SM2-SM3';
  if (cert.keyType === 'EC') return cert.curve === 'P-384' || cert.curve === 'P-521' ? 'ECDSA-SHA384' : 'ECDSA-SHA256';
  if (cert.keyType === 'RSA' && (s.signMethod === C.SGD_SHA256_RSA || s.signMethod === C.SGD_SM3_SM2)) return 'RSA-PKCS1-SHA256';
  throw new SofError('ALGORITHM_NOT_SUPPORTED', cert.keyType === 'RSA' ? '(SHA-1 and SM3 with RSA are not signed; set SGD_SHA256_RSA)' : '');
}

function withPinOptions(s, params) {
  return s.opts.confirmFinalTry ? Object.assign({ confirmFinalTry: true }, params) : params;
}

// One signature; item(algorithm) gives the item to sign.
async function signOne(s, certId, item, format) {
  const u = await userOf(s, certId);
  const algorithm = signAlgorithm(s, u.cert);
  const params = { certificate: u.cert.id, algorithm, items: [await item(algorithm)] };
  if (format) params.format = format;
  return (await u.kb.sign(u.token.id, withPinOptions(s, params))).signatures[0];
}

// The item of a File or Blob (from an <input type=file>): RSA and EC sign a
// SHA-2 digest made here, so the request stays small; SM2 signs the bytes
// (its digest includes Z, from the key), as do pages without WebCrypto
// (plain-http pages are not a secure context).
async function fileItem(file, algorithm) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (algorithm === 'SM2-SM3' || !subtle) return { data: bytesToBase64(bytes) };
  const digest = await subtle.digest(/384$/.test(algorithm) ? 'SHA-384' : 'SHA-256', bytes);
  return { digest: bytesToBase64(digest) };
}

function unsupported(why) {
  return () => { throw new SofError('NOT_SUPPORTED', why); };
}

const VERIFY_WHY = '(verify on the server: a check in the page proves nothing to the server)';
const FILE_WHY = '(a page cannot read or write files by path: use the data calls with the file\'s bytes)';
const XML_WHY = '(XML signatures need XML canonicalisation, which keybridge does not do)';

// Version, methods, random numbers, the last error.
function generalFunctions(s) {
  return {
    SOF_GetVersion: call(s, '', async () => (await clientOf(s)).info.version || ''),
    SOF_CheckSupport: call(s, 1, async () => { await clientOf(s); return 0; }),

    SOF_SetSignMethod: call(s, C.SOR_AlgoTypeErr, async (method) => {
      const m = Number(method);
      if ([C.SGD_SM3_SM2, C.SGD_SHA256_RSA, C.SGD_SHA1_RSA, C.SGD_SM3_RSA].indexOf(m) < 0) throw new SofError('ALGORITHM_NOT_SUPPORTED');
      s.signMethod = m;   // kept even when refused below: RSA signing then fails instead of signing another hash
      if (m === C.SGD_SHA1_RSA || m === C.SGD_SM3_RSA) throw new SofError('ALGORITHM_NOT_SUPPORTED', '(SHA-1 and SM3 with RSA are not signed)');
      return 0;
    }),
    SOF_GetSignMethod: call(s, 0, async () => s.signMethod),
    SOF_SetEncryptMethod: call(s, C.SOR_AlgoTypeErr, async (method) => {
      if (Number(method) !== C.SGD_SM4_CBC) throw new SofError('ALGORITHM_NOT_SUPPORTED', '(the envelope\'s cipher follows the certificate: SM4-CBC for SM2, AES-256-CBC otherwise)');
      s.encryptMethod = C.SGD_SM4_CBC;
      return 0;
    }),
    SOF_GetEncryptMethod: call(s, 0, async () => s.encryptMethod),

    SOF_GenRandom: call(s, '', async (len) => {
      const n = Number(len);
      if (!(n >= 1 && n <= 65536 && Math.floor(n) === n)) throw new SofError('DATA_LENGTH_INVALID', '(1 to 65536 bytes)');
      return randomBase64(n);
    }),
    SOF_GetLastError: async () => s.last.sor,
    SOF_GetLastErrMsg: async () => s.last.message,
  };
}

// Users (signing certificates on tokens), their certificates and PINs.
function userFunctions(s) {
  return {
    SOF_GetUserList: call(s, '', async () => {
      const tokens = await (await clientOf(s)).listTokens();
      return tokens.map((t) => t.certificates.filter(isUser)
        .map((c) => `${userName(c)}||${formatCertId(t.id, c.id)}&&&`).join('')).join('');
    }),
    SOF_ExportUserCert: call(s, '', async (certId) => {
      const u = await userOf(s, certId);
      return pemBody((await u.kb.getCertificate(u.token.id, u.cert.id)).pem);
    }),
    SOF_ExportExChangeUserCert: call(s, '', async (certId) => {
      const u = await userOf(s, certId);
      return pemBody((await u.kb.getCertificate(u.token.id, encryptionCertificate(u.token, u.cert).id)).pem);
    }),

    SOF_Login: call(s, false, async (certId, passWd) => {
      const u = await userOf(s, certId);
      if (u.token.authorized) return true;
      // keybridge has no bare login: an authenticate over a throw-away
      // challenge runs the PIN flow and leaves this site authorized.
      const params = withPinOptions(s, { certificate: u.cert.id, challenge: randomBase64(32) });
      if (s.opts.pagePin && passWd) params.pin = String(passWd);
      await u.kb.authenticate(u.token.id, params);
      return true;
    }),
    SOF_GetPinRetryCount: call(s, -1, async (certId) => {
      const pin = (await userOf(s, certId)).token.pin;
      if (typeof pin.retriesLeft === 'number') return pin.retriesLeft;
      if (pin.status === 'locked') return 0;
      return pin.status === 'finalTry' ? 1 : s.opts.unknownRetryCount;
    }),
    SOF_ChangePassWd: call(s, false, async (certId, oldPassWd, newPassWd) => {
      const u = await userOf(s, certId);
      const params = s.opts.pagePin ? { oldPin: String(oldPassWd), newPin: String(newPassWd) } : {};
      await u.kb.changePin(u.token.id, withPinOptions(s, params));
      return true;
    }),
  };
}

// Reading certificates.
function certificateFunctions(s) {
  return {
    SOF_GetCertInfo: call(s, '', async (cert, type) => certInfo(cert, type, s.opts.utcTimes)),
    SOF_GetCertInfoByOid: call(s, '', async (cert, oid) => certInfoByOid(cert, oid)),
    SOF_GetUserInfo: call(s, '', async (certId, type) => {
      const u = await userOf(s, certId);
      return certInfo((await u.kb.getCertificate(u.token.id, u.cert.id)).pem, type, s.opts.utcTimes);
    }),
    SOF_GetDeviceInfo: call(s, '', async (certId, type) => deviceInfo((await userOf(s, certId)).token, type)),
    SOF_ValidateCert: call(s, CERT_STATUS.OTHER, async (cert) => validity(readCertificate(cert))),
  };
}

// Signatures and signed messages.
function signFunctions(s) {
  return {
    SOF_SignData: call(s, '', async (certId, data) => {
      const item = { data: inData(s, data) };
      return signOne(s, certId, () => item);
    }),
    SOF_SignMessage: call(s, '', async (flag, certId, data) => {
      const f = Number(flag);
      if (f !== 0 && f !== 1) throw new SofError('DATA_INVALID', '(dwFlag: 0 with the data, 1 without)');
      const item = { data: inData(s, data) };
      return signOne(s, certId, () => item, f === 1 ? 'cms-detached' : 'cms');
    }),
    SOF_SignFile: call(s, '', async (certId, file) => {
      if (!file || typeof file.arrayBuffer !== 'function') throw new SofError('NOT_SUPPORTED', FILE_WHY);
      return signOne(s, certId, (algorithm) => fileItem(file, algorithm));
    }),
    SOF_GetInfoFromSignedMessage: call(s, '', async (message, type) => {
      const value = signedMessageInfo(message, type);
      return Number(type) === 1 ? outData(s, value) : value;
    }),
  };
}

// Digital envelopes (数字信封): sealing to a certificate, opening with the token.
function envelopeFunctions(s) {
  return {
    SOF_EncryptData: call(s, '', async (cert, data) => {
      readCertificate(cert);   // an unreadable one is refused here, as CERTIFICATE_INVALID
      const params = { certificate: bytesToBase64(certificateBytes(cert)), items: [{ data: inData(s, data) }] };
      if (s.opts.rsaPadding === 'oaep') params.rsaPadding = 'oaep';
      return (await (await clientOf(s)).encrypt(params)).envelopes[0];
    }),
    SOF_DecryptData: call(s, '', async (certId, envelope) => {
      const cms = cleanBase64(envelope);
      if (!cms) throw new SofError('DATA_INVALID');
      const u = await userOf(s, certId);
      const params = { certificate: encryptionCertificate(u.token, u.cert).id, items: [{ cms }] };
      return outData(s, (await u.kb.decrypt(u.token.id, withPinOptions(s, params))).plaintexts[0]);
    }),
  };
}

// Calls a page cannot make through keybridge, with the reason in the last error.
function unsupportedFunctions(s) {
  return {
    SOF_VerifySignedData: call(s, false, unsupported(VERIFY_WHY)),
    SOF_VerifySignedFile: call(s, false, unsupported(VERIFY_WHY)),
    SOF_VerifySignedMessage: call(s, false, unsupported(VERIFY_WHY)),
    SOF_EncryptFile: call(s, false, unsupported(FILE_WHY)),
    SOF_DecryptFile: call(s, false, unsupported(FILE_WHY)),
    SOF_SignDataXML: call(s, '', unsupported(XML_WHY)),
    SOF_VerifySignedDataXML: call(s, false, unsupported(XML_WHY)),
    SOF_GetXMLSignatureInfo: call(s, '', unsupported(XML_WHY)),
    SOF_PubKeyEncrypt: call(s, '', unsupported('(keybridge encrypts to CMS envelopes only: SOF_EncryptData)')),
    SOF_PriKeyDecrypt: call(s, '', unsupported('(a raw private-key decryption would open anything for any page: SOF_DecryptData opens envelopes)')),
  };
}

// The SOF_* functions of one instance, over its state s.
function functions(s) {
  return Object.assign({}, generalFunctions(s), userFunctions(s), certificateFunctions(s), signFunctions(s),
    envelopeFunctions(s), unsupportedFunctions(s));
}

const DEVICE_INFO = {
  0x202: (t) => t.model, 0x203: (t) => t.label, 0x204: (t) => t.manufacturer, 0x208: (t) => t.serial,
  0x20D: (t) => (typeof t.freeSpace === 'number' ? String(t.freeSpace) : null),
};

function deviceInfo(token, type) {
  const item = DEVICE_INFO[Number(type)];
  if (!item) throw new SofError('INFO_TYPE_NOT_SUPPORTED');
  const value = item(token);
  if (value === null || value === undefined) throw new SofError('NO_SUCH_VALUE');
  return value;
}

// Older names some controls kept beside the GM/T 0020 ones.
function aliases(f) {
  return {
    SOF_SignDataByP7: (certId, data) => f.SOF_SignMessage(0, certId, data),
    SOF_GetP7SignDataInfo: (message, type) => f.SOF_GetInfoFromSignedMessage(message, type),
    SOF_VerifySignedDataByP7: (message) => f.SOF_VerifySignedMessage(message, ''),
  };
}

// Every function name install() puts on its target.
export const SOF_FUNCTIONS = Object.freeze(Object.keys(Object.assign(functions({}), aliases({}))).sort());

// A new instance with its own connection, sign method and last error.
// Its members: the SOF_* functions and the constants, plus
//   configure(options)  merges options (DEFAULTS above); a new client or
//                       clientOptions drop the current connection
//   lastError()         {sor, code, message, details} of the last call:
//                       code is keybridge's (PIN_INCORRECT, ...) or this
//                       module's (CERT_ID_INVALID, ...), null after success
//   getClient()         Promise of the connected KeybridgeClient
//   close()             closes a connection this instance opened
export function createSOF(options) {
  const s = { opts: Object.assign({}, DEFAULTS), client: null, connecting: null,
    signMethod: C.SGD_SM3_SM2, encryptMethod: C.SGD_SM4_CBC, last: OK };
  const f = functions(s);
  const sof = Object.assign({}, CONSTANTS, f, aliases(f));
  sof.configure = (o) => configure(s, o || {});
  sof.lastError = () => Object.assign({}, s.last, { details: Object.assign({}, s.last.details) });
  sof.getClient = () => clientOf(s);
  sof.close = () => dropClient(s);
  sof.configure(options);
  return sof;
}

function dropClient(s) {
  if (s.client && !s.opts.client) s.client.close();
  s.client = null;
}

function configure(s, o) {
  if ('client' in o || 'clientOptions' in o) dropClient(s);
  Object.keys(o).forEach((k) => {
    if (!(k in DEFAULTS)) throw new TypeError(`keybridge-sof: unknown option ${k}`);
    s.opts[k] = o[k];
  });
  if (['text', 'base64'].indexOf(s.opts.dataFormat) < 0) throw new TypeError('keybridge-sof: dataFormat is text or base64');
}

let shared = null;

// The instance install() uses unless told otherwise.
export function getSOF() {
  if (!shared) shared = createSOF();
  return shared;
}

// Puts the SOF_* functions and the constants on target (default
// globalThis) and returns target. options: {instance} to install another
// instance than getSOF()'s, and the options of configure().
export function install(target, options) {
  const t = target || globalThis;
  const o = Object.assign({}, options);
  const sof = o.instance || getSOF();
  delete o.instance;
  if (Object.keys(o).length) sof.configure(o);
  SOF_FUNCTIONS.forEach((name) => { t[name] = sof[name]; });
  Object.keys(CONSTANTS).forEach((name) => { t[name] = CONSTANTS[name]; });
  return t;
}
