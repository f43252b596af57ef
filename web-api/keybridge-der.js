// SPDX-License-Identifier: LGPL-2.1-or-later
// keybridge-der.js — a small DER reader: the fields of an X.509 certificate
// and the parts of a CMS (PKCS#7, GM/T 0010) SignedData that
// keybridge-sof.js hands to legacy pages (SOF_GetCertInfo,
// SOF_GetInfoFromSignedMessage). An ES module without dependencies.
//
//   import { parseCertificate } from './keybridge-der.js';
//   const c = parseCertificate(derBytes);   // {version, serial, subject, ...}
//
// Reading only; nothing is verified. DER with definite lengths, as
// certificates and keybridge's own CMS are; BER's indefinite lengths and
// tag numbers above 30 are refused with a DerError.

export class DerError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DerError';
  }
}

const T = { BOOLEAN: 0x01, INTEGER: 0x02, OCTET_STRING: 0x04, OID: 0x06, SEQUENCE: 0x30, SET: 0x31 };

// ---- elements -----------------------------------------------------------------

// The element at pos: {tag, constructed, end, content, der}; content and der
// are views of bytes, end is relative to bytes.
export function readElement(bytes, pos) {
  if (pos + 2 > bytes.length) throw new DerError('truncated element');
  const tag = bytes[pos];
  if ((tag & 0x1f) === 0x1f) throw new DerError('tag numbers above 30 are not supported');
  let len = bytes[pos + 1];
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('indefinite or oversized length');
    if (pos + 2 + n > bytes.length) throw new DerError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[pos + 2 + i];
    header += n;
  }
  const end = pos + header + len;
  if (end > bytes.length) throw new DerError('truncated content');
  return { tag, constructed: (tag & 0x20) !== 0, end, content: bytes.subarray(pos + header, end), der: bytes.subarray(pos, end) };
}

// The one element that fills bytes.
export function parseDer(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const el = readElement(u8, 0);
  if (el.end !== u8.length) throw new DerError('trailing bytes after the element');
  return el;
}

// The elements inside a constructed element.
export function children(el) {
  if (!el.constructed) throw new DerError('not a constructed element');
  const out = [];
  for (let pos = 0; pos < el.content.length;) {
    const child = readElement(el.content, pos);
    out.push(child);
    pos = child.end;
  }
  return out;
}

function expect(el, tag, what) {
  if (!el || el.tag !== tag) throw new DerError(`${what} expected`);
  return el;
}

// ---- values -------------------------------------------------------------------

export function toHex(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
  return s.toUpperCase();
}

// Dotted form of an OBJECT IDENTIFIER element.
export function oidOf(el) {
  const c = expect(el, T.OID, 'OBJECT IDENTIFIER').content;
  const arcs = [];
  let v = 0;
  for (let i = 0; i < c.length; i++) {
    v = v * 128 + (c[i] & 0x7f);
    if (c[i] & 0x80) continue;
    if (!arcs.length) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
    else arcs.push(v);
    v = 0;
  }
  return arcs.join('.');
}

// An INTEGER as upper-case hex without leading zeros ("0" for zero), the
// form keybridge gives a certificate's serialNumber in.
export function integerHex(el) {
  const hex = toHex(expect(el, T.INTEGER, 'INTEGER').content).replace(/^0+/, '');
  return hex || '0';
}

function decodeUtf16be(c) {
  let s = '';
  for (let i = 0; i + 1 < c.length; i += 2) s += String.fromCharCode((c[i] << 8) | c[i + 1]);
  return s;
}

function decodeUtf32be(c) {
  let s = '';
  for (let i = 0; i + 3 < c.length; i += 4) s += String.fromCodePoint(((c[i] << 24) | (c[i + 1] << 16) | (c[i + 2] << 8) | c[i + 3]) >>> 0);
  return s;
}

function decodeLatin1(c) {
  let s = '';
  for (let i = 0; i < c.length; i++) s += String.fromCharCode(c[i]);
  return s;
}

const STRING_DECODERS = {
  0x0c: (c) => new TextDecoder('utf-8').decode(c),   // UTF8String
  0x12: decodeLatin1, 0x13: decodeLatin1, 0x14: decodeLatin1,   // Numeric, Printable, T61 (read as Latin-1)
  0x16: decodeLatin1, 0x1a: decodeLatin1,                        // IA5String, VisibleString
  0x1c: decodeUtf32be, 0x1e: decodeUtf16be,                      // UniversalString, BMPString
};

// The text of a string element, or null for another type.
export function textOf(el) {
  const decode = STRING_DECODERS[el.tag];
  return decode ? decode(el.content) : null;
}

// A UTCTime or GeneralizedTime (the forms RFC 5280 allows: seconds, Z) as a Date.
export function timeOf(el) {
  const s = decodeLatin1(el.content);
  const m = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m || (el.tag === 0x17) !== (m[1].length === 2)) throw new DerError('unsupported time');
  let year = Number(m[1]);
  if (m[1].length === 2) year += year < 50 ? 2000 : 1900;   // RFC 5280 4.1.2.5.1
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

// ---- X.509 --------------------------------------------------------------------

// A Name as [{oid, value}] in certificate order (multi-valued RDNs
// flattened). A value that is not a string is "#" and its DER in hex.
export function parseName(el) {
  const out = [];
  children(expect(el, T.SEQUENCE, 'Name')).forEach((rdn) => {
    children(expect(rdn, T.SET, 'RelativeDistinguishedName')).forEach((atv) => {
      const [type, value] = children(expect(atv, T.SEQUENCE, 'AttributeTypeAndValue'));
      const text = textOf(value);
      out.push({ oid: oidOf(type), value: text === null ? `#${toHex(value.der)}` : text });
    });
  });
  return out;
}

function parseExtension(el) {
  const parts = children(expect(el, T.SEQUENCE, 'Extension'));
  const critical = parts.length === 3 && expect(parts[1], T.BOOLEAN, 'BOOLEAN').content[0] !== 0;
  return { oid: oidOf(parts[0]), critical, value: expect(parts[parts.length - 1], T.OCTET_STRING, 'extnValue').content };
}

// The fields of a DER certificate:
//   {version, serial, signatureAlgorithm, issuer, subject, notBefore,
//    notAfter, publicKeyAlgorithm, publicKeyInfo, extensions, extensionsDer}
// issuer and subject as parseName gives them; publicKeyInfo the DER
// SubjectPublicKeyInfo; extensions [{oid, critical, value}] with value the
// extnValue's content; extensionsDer the DER Extensions, or null.
export function parseCertificate(bytes) {
  const [tbs] = children(expect(parseDer(bytes), T.SEQUENCE, 'Certificate'));
  const f = children(expect(tbs, T.SEQUENCE, 'TBSCertificate'));
  const explicitVersion = f[0] && f[0].tag === 0xa0;
  const at = explicitVersion ? 1 : 0;
  const validity = children(expect(f[at + 3], T.SEQUENCE, 'Validity'));
  const spki = expect(f[at + 5], T.SEQUENCE, 'SubjectPublicKeyInfo');
  const extWrapper = f.slice(at + 6).find((e) => e.tag === 0xa3);
  const extSeq = extWrapper ? expect(children(extWrapper)[0], T.SEQUENCE, 'Extensions') : null;
  return {
    version: explicitVersion ? Number(integerHex(children(f[0])[0])) + 1 : 1,
    serial: integerHex(f[at]),
    signatureAlgorithm: oidOf(children(expect(f[at + 1], T.SEQUENCE, 'AlgorithmIdentifier'))[0]),
    issuer: parseName(f[at + 2]),
    notBefore: timeOf(validity[0]),
    notAfter: timeOf(validity[1]),
    subject: parseName(f[at + 4]),
    publicKeyAlgorithm: oidOf(children(children(spki)[0])[0]),
    publicKeyInfo: spki.der,
    extensions: extSeq ? children(extSeq).map(parseExtension) : [],
    extensionsDer: extSeq ? extSeq.der : null,
  };
}

// ---- CMS SignedData -----------------------------------------------------------

// The bytes of an OCTET STRING, also in the constructed form.
function octets(el) {
  if (el.tag === T.OCTET_STRING) return el.content;
  if (el.tag !== 0x24) throw new DerError('OCTET STRING expected');
  const parts = children(el).map(octets);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((pos, p) => { out.set(p, pos); return pos + p.length; }, 0);
  return out;
}

function encapsulated(el) {
  const [type, wrapper] = children(expect(el, T.SEQUENCE, 'EncapsulatedContentInfo'));
  return { contentType: oidOf(type), content: wrapper ? octets(children(wrapper)[0]) : null };
}

// The certificate of the first signer: the one whose serial number the
// signer's issuerAndSerialNumber names, else the first certificate.
function signerCertificate(certificates, sid) {
  if (sid.tag === T.SEQUENCE) {
    const serial = integerHex(children(sid)[1]);
    const match = certificates.find((c) => parseCertificate(c).serial === serial);
    if (match) return match;
  }
  return certificates[0] || null;
}

// The parts of a DER ContentInfo with a SignedData (CMS, PKCS#7 or GM/T 0010):
//   {contentType, content, certificates, signerCertificate, signature}
// content: the signed bytes, or null when detached; certificates: DER each;
// signature: the first signer's signature value.
export function parseSignedData(bytes) {
  const [, wrapper] = children(expect(parseDer(bytes), T.SEQUENCE, 'ContentInfo'));
  if (!wrapper || wrapper.tag !== 0xa0) throw new DerError('no content');
  const parts = children(expect(children(wrapper)[0], T.SEQUENCE, 'SignedData'));
  const encap = encapsulated(parts[2]);
  const certSet = parts.find((e) => e.tag === 0xa0);
  const certificates = certSet ? children(certSet).filter((e) => e.tag === T.SEQUENCE).map((e) => e.der) : [];
  const signers = children(expect(parts[parts.length - 1], T.SET, 'SignerInfos'));
  if (!signers.length) throw new DerError('no signer');
  const signer = children(signers[0]);
  return {
    contentType: encap.contentType,
    content: encap.content,
    certificates,
    signerCertificate: signerCertificate(certificates, signer[1]),
    signature: expect(signer.find((e) => e.tag === T.OCTET_STRING), T.OCTET_STRING, 'signature').content,
  };
}
