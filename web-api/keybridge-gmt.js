// SPDX-License-Identifier: LGPL-2.1-or-later
// keybridge-gmt.js — what GM/T 0006 and GM/T 0020 define, for
// keybridge-sof.js: the SGD_* and SOR_* numbers, keybridge's error codes as
// SOR_* numbers, and the certificate and signed-message items legacy pages
// read (SOF_GetCertInfo, SOF_GetCertInfoByOid, SOF_ValidateCert,
// SOF_GetInfoFromSignedMessage), computed here from the DER. Pure functions,
// no connection. An ES module; imports keybridge.js and keybridge-der.js.

import { bytesToBase64, base64ToBytes } from './keybridge.js';
import { parseCertificate, parseSignedData, parseDer, textOf, toHex, oidOf, children, DerError } from './keybridge-der.js';

// ---- constants (GM/T 0006, GM/T 0020) ---------------------------------------

export const CONSTANTS = Object.freeze({
  // signature methods (SOF_SetSignMethod)
  SGD_SM3_RSA: 0x00010001, SGD_SHA1_RSA: 0x00010002, SGD_SHA256_RSA: 0x00010004, SGD_SM3_SM2: 0x00020201,
  // symmetric methods (SOF_SetEncryptMethod)
  SGD_SM1_ECB: 0x00000101, SGD_SM1_CBC: 0x00000102, SGD_SSF33_ECB: 0x00000201, SGD_SSF33_CBC: 0x00000202,
  SGD_SM4_ECB: 0x00000401, SGD_SM4_CBC: 0x00000402,
  // certificate items (SOF_GetCertInfo)
  SGD_CERT_VERSION: 0x01, SGD_CERT_SERIAL: 0x02, SGD_CERT_SIGNATURE_ALGORITHM: 0x03, SGD_CERT_ISSUER: 0x05,
  SGD_CERT_VALID_TIME: 0x06, SGD_CERT_SUBJECT: 0x07, SGD_CERT_DER_PUBLIC_KEY: 0x08, SGD_CERT_DER_EXTENSIONS: 0x09,
  SGD_EXT_AUTHORITYKEYIDENTIFIER_INFO: 0x11, SGD_EXT_SUBJECTKEYIDENTIFIER_INFO: 0x12, SGD_EXT_KEYUSAGE_INFO: 0x13,
  SGD_EXT_PRIVATEKEYUSAGEPERIOD_INFO: 0x14, SGD_EXT_CERTIFICATEPOLICIES_INFO: 0x15, SGD_EXT_POLICYMAPPINGS_INFO: 0x16,
  SGD_EXT_BASICCONSTRAINTS_INFO: 0x17, SGD_EXT_POLICYCONSTRAINTS_INFO: 0x18, SGD_EXT_EXTKEYUSAGE_INFO: 0x19,
  SGD_EXT_CRLDISTRIBUTIONPOINTS_INFO: 0x1A, SGD_EXT_NETSCAPE_CERT_TYPE_INFO: 0x1B, SGD_EXT_SELFDEFINED_EXTENSION_INFO: 0x1C,
  SGD_CERT_ISSUER_CN: 0x21, SGD_CERT_ISSUER_O: 0x22, SGD_CERT_ISSUER_OU: 0x23,
  SGD_CERT_SUBJECT_CN: 0x31, SGD_CERT_SUBJECT_O: 0x32, SGD_CERT_SUBJECT_OU: 0x33, SGD_CERT_SUBJECT_EMAIL: 0x34,
  SGD_CERT_NOTBEFORE_TIME: 0x35, SGD_CERT_NOTAFTER_TIME: 0x36,
  // device items (SOF_GetDeviceInfo)
  SGD_DEVICE_TYPE: 0x202, SGD_DEVICE_NAME: 0x203, SGD_DEVICE_MANUFACTURER: 0x204, SGD_DEVICE_SERIAL_NUMBER: 0x208,
  SGD_DEVICE_SUPPORT_FREE_SPACE: 0x20D,
  // error numbers (SOF_GetLastError)
  SOR_OK: 0, SOR_UnknownErr: 0x0B000001, SOR_NotSupportYetErr: 0x0B000002, SOR_FileErr: 0x0B000003,
  SOR_ProviderTypeErr: 0x0B000004, SOR_LoadProviderErr: 0x0B000005, SOR_LoadDevMngApiErr: 0x0B000006,
  SOR_AlgoTypeErr: 0x0B000007, SOR_NameLenErr: 0x0B000008, SOR_KeyUsageErr: 0x0B000009, SOR_ModulusLenErr: 0x0B000010,
  SOR_NotInitializeErr: 0x0B000011, SOR_ObjErr: 0x0B000012, SOR_MemoryErr: 0x0B000100, SOR_TimeoutErr: 0x0B000101,
  SOR_IndataLenErr: 0x0B000200, SOR_IndataErr: 0x0B000201, SOR_GenRandErr: 0x0B000300, SOR_HashObjErr: 0x0B000301,
  SOR_HashErr: 0x0B000302, SOR_GenRsaKeyErr: 0x0B000303, SOR_RsaModulusLenErr: 0x0B000304,
  SOR_CspImprtPubKeyErr: 0x0B000305, SOR_RsaEncErr: 0x0B000306, SOR_RsaDecErr: 0x0B000307,
  SOR_HashNotEqualErr: 0x0B000308, SOR_KeyNotFountErr: 0x0B000309, SOR_CertNotFountErr: 0x0B000310,
  SOR_NotExportErr: 0x0B000311, SOR_DecryptPadErr: 0x0B000400, SOR_MacLenErr: 0x0B000401,
  SOR_KeyInfoTypeErr: 0x0B000402, SOR_NULLPointerErr: 0x0B000403, SOR_APPNotFoundErr: 0x0B000404,
  SOR_CERTENCODEErr: 0x0B000405, SOR_CERTINVALIDErr: 0x0B000406, SOR_CERTHASEXPIREDErr: 0x0B000407,
  SOR_CERTREVOKEDErr: 0x0B000408, SOR_SIGNDATAErr: 0x0B000409, SOR_VERIFYSIGNDATAErr: 0x0B000410,
  SOR_READFILEErr: 0x0B000411, SOR_WRITEFILEErr: 0x0B000412, SOR_SECRETSEGMENTErr: 0x0B000413,
  SOR_SECERTRECOVERYErr: 0x0B000414, SOR_ENCRYPTDATAErr: 0x0B000415, SOR_DECRYPTDATAErr: 0x0B000416,
  SOR_PKCS7ENCODEErr: 0x0B000417, SOR_XMLENCODEErr: 0x0B000418, SOR_PARAMETERNOTSUPPORTErr: 0x0B000419,
  SOR_CTLNOTFOUND: 0x0B000420, SOR_APPNOTFOUND: 0x0B000421, SOR_CertNotYetValidErr: 0x0B000501,
});
const C = CONSTANTS;

// SOF_ValidateCert's answers besides 0 (valid).
export const CERT_STATUS = Object.freeze({ NOT_TRUSTED: -1, EXPIRED: -2, REVOKED: -3, FROZEN: -4, NOT_YET_VALID: -5, OTHER: -6 });

// ---- errors -------------------------------------------------------------------

// keybridge's codes (docs/api.md "Errors", the client's own) → SOR_* numbers.
// GM/T 0020 has no number for a PIN or for a cancelled dialog: a wrong,
// locked or must-change PIN is SOR_IndataErr as vendors report a wrong PIN;
// a cancel is SOR_UnknownErr. lastError().code tells them apart.
const SOR_OF_CODE = {
  NOT_RUNNING: C.SOR_LoadProviderErr, PERMISSION_DENIED: C.SOR_LoadProviderErr,
  ORIGIN_NOT_ALLOWED: C.SOR_LoadProviderErr, HOST_REJECTED: C.SOR_LoadProviderErr,
  UNAUTHORIZED: C.SOR_LoadProviderErr, NOT_CONNECTED: C.SOR_LoadProviderErr,
  CONNECTION_LOST: C.SOR_LoadProviderErr, BAD_RESPONSE: C.SOR_LoadProviderErr,
  TIMEOUT: C.SOR_TimeoutErr, TOKEN_BUSY: C.SOR_TimeoutErr, RATE_LIMITED: C.SOR_TimeoutErr,
  BAD_REQUEST: C.SOR_IndataErr, PAYLOAD_TOO_LARGE: C.SOR_IndataLenErr,
  NOT_FOUND: C.SOR_CertNotFountErr, TOKEN_NOT_PRESENT: C.SOR_CertNotFountErr,
  TOKEN_NOT_INITIALIZED: C.SOR_NotInitializeErr, CERTIFICATE_MISMATCH: C.SOR_KeyNotFountErr,
  PIN_INCORRECT: C.SOR_IndataErr, PIN_LOCKED: C.SOR_IndataErr, PIN_FINAL_TRY: C.SOR_IndataErr,
  PIN_POLICY: C.SOR_IndataErr, PIN_CANCELLED: C.SOR_UnknownErr,
  UNSUPPORTED_ALGORITHM: C.SOR_AlgoTypeErr, NOT_RECIPIENT: C.SOR_KeyNotFountErr,
  DECRYPT_FAILED: C.SOR_DECRYPTDATAErr,
};

// The SOR_* number of a keybridge error code and its details.
export function sorOf(code, details) {
  const d = details || {};
  if (code === 'BAD_REQUEST' && d.reason === 'usage') return C.SOR_KeyUsageErr;
  if (code === 'NOT_FOUND' && d.field === 'method') return C.SOR_NotSupportYetErr;   // a daemon without the method
  return SOR_OF_CODE[code] || C.SOR_UnknownErr;
}

// Errors found here, before or without the daemon: [SOR, 中文, English].
const LOCAL = {
  CERT_ID_INVALID: [C.SOR_CertNotFountErr, '证书标识无效。', 'The CertID is not valid.'],
  NO_ENCRYPTION_CERTIFICATE: [C.SOR_CertNotFountErr, '未找到该用户的加密证书。', 'The user has no encryption certificate on the token.'],
  CERTIFICATE_INVALID: [C.SOR_CERTENCODEErr, '证书编码格式错误。', 'The certificate is not a base64 DER or PEM certificate.'],
  CERTIFICATE_EXPIRED: [C.SOR_CERTHASEXPIREDErr, '证书已过期。', 'The certificate has expired.'],
  CERTIFICATE_NOT_YET_VALID: [C.SOR_CertNotYetValidErr, '证书尚未生效。', 'The certificate is not valid yet.'],
  MESSAGE_INVALID: [C.SOR_PKCS7ENCODEErr, 'PKCS#7 签名数据格式错误。', 'The signed message is not a DER SignedData.'],
  DATA_INVALID: [C.SOR_IndataErr, '输入数据错误。', 'The input data is not valid.'],
  DATA_LENGTH_INVALID: [C.SOR_IndataLenErr, '输入数据长度错误。', 'The length is not valid.'],
  NOT_TEXT: [C.SOR_PARAMETERNOTSUPPORTErr, '数据不是 UTF-8 文本，请使用 base64 数据格式。', 'The data is not UTF-8 text; use dataFormat base64.'],
  INFO_TYPE_NOT_SUPPORTED: [C.SOR_PARAMETERNOTSUPPORTErr, '不支持的信息类型。', 'The information type is not supported.'],
  NO_SUCH_VALUE: [C.SOR_ObjErr, '没有该项。', 'There is no such item.'],
  ALGORITHM_NOT_SUPPORTED: [C.SOR_AlgoTypeErr, '不支持的算法。', 'The algorithm is not supported.'],
  NOT_SUPPORTED: [C.SOR_NotSupportYetErr, '不支持的服务。', 'Not supported.'],
};

// A failure found here: code is a key of LOCAL, why an optional detail (in
// English, for the developer). result: what the call answers instead of
// its failure value (SOF_ValidateCert's status numbers).
export class SofError extends Error {
  constructor(code, why, result) {
    const local = LOCAL[code] || [C.SOR_UnknownErr, code, code];
    super(why ? `${local[2]} ${why}` : local[2]);
    this.name = 'SofError';
    this.code = code;
    this.sor = local[0];
    this.why = why || '';
    this.result = result;
  }

  localMessage(lang) {
    const local = LOCAL[this.code] || [0, this.code, this.code];
    return lang === 'zh' ? (this.why ? `${local[1]} ${this.why}` : local[1]) : this.message;
  }
}

// ---- certificates and data -----------------------------------------------

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// Strict base64 of a base64 string given with line breaks or spaces.
export function cleanBase64(value, code) {
  const b64 = typeof value === 'string' ? value.replace(/\s+/g, '') : null;
  if (b64 === null || !BASE64.test(b64)) throw new SofError(code || 'DATA_INVALID');
  return b64;
}

export function pemBody(pem) {
  return pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
}

// A certificate given as base64 DER (with or without line breaks) or PEM.
export function certificateBytes(cert) {
  if (typeof cert !== 'string') throw new SofError('CERTIFICATE_INVALID');
  try {
    return base64ToBytes(cleanBase64(pemBody(cert), 'CERTIFICATE_INVALID'));
  } catch (e) {
    throw new SofError('CERTIFICATE_INVALID');
  }
}

export function readCertificate(cert) {
  const der = certificateBytes(cert);
  try {
    return parseCertificate(der);
  } catch (e) {
    if (e instanceof DerError) throw new SofError('CERTIFICATE_INVALID');
    throw e;
  }
}

// ---- certificate items (SOF_GetCertInfo) ------------------------------------

// Attribute names in the DN strings, as the Windows-era controls wrote them.
const ATTR_NAMES = {
  '2.5.4.6': 'C', '2.5.4.8': 'S', '2.5.4.7': 'L', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.3': 'CN',
  '2.5.4.5': 'SERIALNUMBER', '2.5.4.4': 'SN', '2.5.4.42': 'G', '2.5.4.12': 'T', '2.5.4.9': 'STREET',
  '1.2.840.113549.1.9.1': 'E', '0.9.2342.19200300.100.1.25': 'DC',
};

const SIGNATURE_ALGORITHMS = {
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption', '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption', '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS', '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384', '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.156.10197.1.501': 'SM3WithSM2', '1.2.156.10197.1.504': 'SM3WithRSA',
};

const KEY_USAGES = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement',
  'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];

// "C=CN, S=北京市, O=…, CN=张三": certificate order, ", " between.
function dnString(name) {
  return name.map((a) => `${ATTR_NAMES[a.oid] || `OID.${a.oid}`}=${a.value}`).join(', ');
}

function attribute(name, oid) {
  const values = name.filter((a) => a.oid === oid).map((a) => a.value);
  if (!values.length) throw new SofError('NO_SUCH_VALUE');
  return values.join(',');
}

function pad2(n) {
  return (n < 10 ? '0' : '') + n;
}

// yyyyMMddHHmmss, in the computer's time zone (as the controls showed it) or UTC.
function timeString(date, utc) {
  const p = utc ? [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    : [date.getFullYear(), date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds()];
  return String(p[0]) + p.slice(1).map(pad2).join('');
}

function extensionValue(cert, oid) {
  const ext = cert.extensions.find((e) => e.oid === oid);
  if (!ext) throw new SofError('NO_SUCH_VALUE');
  return ext.value;
}

// Every element inside el, depth first (for values nested in extensions).
function walk(el, visit) {
  visit(el);
  if (el.constructed) children(el).forEach((c) => walk(c, visit));
}

function collect(bytes, tag, map) {
  const out = [];
  walk(parseDer(bytes), (el) => { if (el.tag === tag) out.push(map(el)); });
  return out;
}

function keyUsageNames(bytes) {
  const bits = parseDer(bytes).content;
  return KEY_USAGES.filter((name, i) => bits.length > 1 + (i >> 3) && (bits[1 + (i >> 3)] & (0x80 >> (i & 7)))).join(', ');
}

function basicConstraints(bytes) {
  const parts = children(parseDer(bytes));
  const ca = parts.length > 0 && parts[0].tag === 0x01 && parts[0].content[0] !== 0;
  const len = parts.find((p) => p.tag === 0x02);
  return `CA=${ca ? 'TRUE' : 'FALSE'}${len ? `, PathLen=${parseInt(toHex(len.content), 16)}` : ''}`;
}

// The value of a private extension or attribute as legacy pages read it:
// the text of a string (also inside an OCTET STRING), text that is not DER
// at all (some CAs store the bare ASCII), else base64 of the bytes.
export function readableValue(bytes) {
  try {
    const el = parseDer(bytes);
    const text = textOf(el);
    if (text !== null) return text;
    if (el.tag === 0x04) return readableValue(el.content);
  } catch (e) {
    if (!(e instanceof DerError)) throw e;
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (text && !/[\u0000-\u001f\u007f]/.test(text)) return text;
  } catch (e) {
    // not UTF-8: base64 below
  }
  return bytesToBase64(bytes);
}

// Extensions RFC 5280 and PKIX define; the rest count as self-defined (0x1C).
function isStandardExtension(oid) {
  return /^2\.5\.29\./.test(oid) || /^1\.3\.6\.1\.5\.5\.7\.1\./.test(oid) || oid === '2.16.840.1.113730.1.1';
}

const EXT = (oid, format) => (c) => (format || bytesToBase64)(extensionValue(c, oid));

const CERT_INFO = {
  0x01: (c) => `V${c.version}`,
  0x02: (c) => c.serial,
  0x03: (c) => SIGNATURE_ALGORITHMS[c.signatureAlgorithm] || c.signatureAlgorithm,
  0x05: (c) => dnString(c.issuer),
  0x06: (c, utc) => `${timeString(c.notBefore, utc)} - ${timeString(c.notAfter, utc)}`,
  0x07: (c) => dnString(c.subject),
  0x08: (c) => bytesToBase64(c.publicKeyInfo),
  0x09: (c) => { if (!c.extensionsDer) throw new SofError('NO_SUCH_VALUE'); return bytesToBase64(c.extensionsDer); },
  0x11: EXT('2.5.29.35', (b) => collect(b, 0x80, (el) => toHex(el.content)).join('')),
  0x12: EXT('2.5.29.14', (b) => toHex(parseDer(b).content)),
  0x13: EXT('2.5.29.15', keyUsageNames),
  0x14: EXT('2.5.29.16'),
  0x15: EXT('2.5.29.32', (b) => children(parseDer(b)).map((p) => oidOf(children(p)[0])).join(', ')),
  0x16: EXT('2.5.29.33'),
  0x17: EXT('2.5.29.19', basicConstraints),
  0x18: EXT('2.5.29.36'),
  0x19: EXT('2.5.29.37', (b) => children(parseDer(b)).map(oidOf).join(', ')),
  // the URIs of the distribution points: GeneralName [6], an implicit IA5String
  0x1A: EXT('2.5.29.31', (b) => collect(b, 0x86, (el) => textOf(Object.assign({}, el, { tag: 0x16 }))).join(', ')),
  0x1B: EXT('2.16.840.1.113730.1.1'),
  0x1C: (c) => {
    const own = c.extensions.filter((e) => !isStandardExtension(e.oid));
    if (!own.length) throw new SofError('NO_SUCH_VALUE');
    return own.map((e) => `${e.oid}=${readableValue(e.value)}`).join('; ');
  },
  0x21: (c) => attribute(c.issuer, '2.5.4.3'),
  0x22: (c) => attribute(c.issuer, '2.5.4.10'),
  0x23: (c) => attribute(c.issuer, '2.5.4.11'),
  0x31: (c) => attribute(c.subject, '2.5.4.3'),
  0x32: (c) => attribute(c.subject, '2.5.4.10'),
  0x33: (c) => attribute(c.subject, '2.5.4.11'),
  0x34: (c) => attribute(c.subject, '1.2.840.113549.1.9.1'),
  0x35: (c, utc) => timeString(c.notBefore, utc),
  0x36: (c, utc) => timeString(c.notAfter, utc),
};

export function certInfo(cert, type, utc) {
  const item = CERT_INFO[Number(type)];
  if (!item) throw new SofError('INFO_TYPE_NOT_SUPPORTED');
  try {
    return item(readCertificate(cert), utc);
  } catch (e) {
    if (e instanceof DerError) throw new SofError('CERTIFICATE_INVALID', `(${e.message})`);
    throw e;
  }
}

export function certInfoByOid(cert, oid) {
  const c = readCertificate(cert);
  const ext = c.extensions.find((e) => e.oid === String(oid));
  if (ext) return readableValue(ext.value);
  return attribute(c.subject, String(oid));
}

// The validity period only: trust and revocation are the server's to check.
export function validity(cert) {
  const now = Date.now();
  if (now < cert.notBefore.getTime()) throw new SofError('CERTIFICATE_NOT_YET_VALID', '', CERT_STATUS.NOT_YET_VALID);
  if (now > cert.notAfter.getTime()) throw new SofError('CERTIFICATE_EXPIRED', '', CERT_STATUS.EXPIRED);
  return 0;
}

// Type 1: the signed data, 2: the signer's certificate, 3: the signature
// value; each base64.
export function signedMessageInfo(message, type) {
  let m;
  try {
    m = parseSignedData(base64ToBytes(cleanBase64(message, 'MESSAGE_INVALID')));
  } catch (e) {
    throw e instanceof SofError ? e : new SofError('MESSAGE_INVALID');
  }
  const t = Number(type);
  if (t === 1) {
    if (!m.content) throw new SofError('NO_SUCH_VALUE', '(a detached signature carries no data)');
    return bytesToBase64(m.content);
  }
  if (t === 2 && m.signerCertificate) return bytesToBase64(m.signerCertificate);
  if (t === 3) return bytesToBase64(m.signature);
  throw new SofError(t === 2 ? 'NO_SUCH_VALUE' : 'INFO_TYPE_NOT_SUPPORTED');
}

