// SPDX-License-Identifier: LGPL-2.1-or-later
// Type declarations of keybridge-sof.js: the GM/T 0020 (SOF_*) calls on
// keybridge, for legacy portal pages. The forms follow the old controls;
// docs/integration.md §5 lists every function and what keybridge does with it.

import type { KeybridgeClient, ClientOptions } from './keybridge.js';

/** The SGD_* (GM/T 0006) and SOR_* (GM/T 0020) numbers install() puts on its target. */
export interface SofConstants {
  readonly SGD_SM3_RSA: 0x00010001; readonly SGD_SHA1_RSA: 0x00010002; readonly SGD_SHA256_RSA: 0x00010004;
  readonly SGD_SM3_SM2: 0x00020201;
  readonly SGD_SM1_ECB: 0x00000101; readonly SGD_SM1_CBC: 0x00000102; readonly SGD_SSF33_ECB: 0x00000201;
  readonly SGD_SSF33_CBC: 0x00000202; readonly SGD_SM4_ECB: 0x00000401; readonly SGD_SM4_CBC: 0x00000402;
  readonly SGD_CERT_VERSION: 0x01; readonly SGD_CERT_SERIAL: 0x02; readonly SGD_CERT_SIGNATURE_ALGORITHM: 0x03;
  readonly SGD_CERT_ISSUER: 0x05; readonly SGD_CERT_VALID_TIME: 0x06; readonly SGD_CERT_SUBJECT: 0x07;
  readonly SGD_CERT_DER_PUBLIC_KEY: 0x08; readonly SGD_CERT_DER_EXTENSIONS: 0x09;
  readonly SGD_EXT_AUTHORITYKEYIDENTIFIER_INFO: 0x11; readonly SGD_EXT_SUBJECTKEYIDENTIFIER_INFO: 0x12;
  readonly SGD_EXT_KEYUSAGE_INFO: 0x13; readonly SGD_EXT_PRIVATEKEYUSAGEPERIOD_INFO: 0x14;
  readonly SGD_EXT_CERTIFICATEPOLICIES_INFO: 0x15; readonly SGD_EXT_POLICYMAPPINGS_INFO: 0x16;
  readonly SGD_EXT_BASICCONSTRAINTS_INFO: 0x17; readonly SGD_EXT_POLICYCONSTRAINTS_INFO: 0x18;
  readonly SGD_EXT_EXTKEYUSAGE_INFO: 0x19; readonly SGD_EXT_CRLDISTRIBUTIONPOINTS_INFO: 0x1A;
  readonly SGD_EXT_NETSCAPE_CERT_TYPE_INFO: 0x1B; readonly SGD_EXT_SELFDEFINED_EXTENSION_INFO: 0x1C;
  readonly SGD_CERT_ISSUER_CN: 0x21; readonly SGD_CERT_ISSUER_O: 0x22; readonly SGD_CERT_ISSUER_OU: 0x23;
  readonly SGD_CERT_SUBJECT_CN: 0x31; readonly SGD_CERT_SUBJECT_O: 0x32; readonly SGD_CERT_SUBJECT_OU: 0x33;
  readonly SGD_CERT_SUBJECT_EMAIL: 0x34; readonly SGD_CERT_NOTBEFORE_TIME: 0x35; readonly SGD_CERT_NOTAFTER_TIME: 0x36;
  readonly SGD_DEVICE_TYPE: 0x202; readonly SGD_DEVICE_NAME: 0x203; readonly SGD_DEVICE_MANUFACTURER: 0x204;
  readonly SGD_DEVICE_SERIAL_NUMBER: 0x208; readonly SGD_DEVICE_SUPPORT_FREE_SPACE: 0x20D;
  readonly SOR_OK: 0; readonly SOR_UnknownErr: 0x0B000001; readonly SOR_NotSupportYetErr: 0x0B000002;
  readonly SOR_FileErr: 0x0B000003; readonly SOR_ProviderTypeErr: 0x0B000004; readonly SOR_LoadProviderErr: 0x0B000005;
  readonly SOR_LoadDevMngApiErr: 0x0B000006; readonly SOR_AlgoTypeErr: 0x0B000007; readonly SOR_NameLenErr: 0x0B000008;
  readonly SOR_KeyUsageErr: 0x0B000009; readonly SOR_ModulusLenErr: 0x0B000010; readonly SOR_NotInitializeErr: 0x0B000011;
  readonly SOR_ObjErr: 0x0B000012; readonly SOR_MemoryErr: 0x0B000100; readonly SOR_TimeoutErr: 0x0B000101;
  readonly SOR_IndataLenErr: 0x0B000200; readonly SOR_IndataErr: 0x0B000201; readonly SOR_GenRandErr: 0x0B000300;
  readonly SOR_HashObjErr: 0x0B000301; readonly SOR_HashErr: 0x0B000302; readonly SOR_GenRsaKeyErr: 0x0B000303;
  readonly SOR_RsaModulusLenErr: 0x0B000304; readonly SOR_CspImprtPubKeyErr: 0x0B000305; readonly SOR_RsaEncErr: 0x0B000306;
  readonly SOR_RsaDecErr: 0x0B000307; readonly SOR_HashNotEqualErr: 0x0B000308; readonly SOR_KeyNotFountErr: 0x0B000309;
  readonly SOR_CertNotFountErr: 0x0B000310; readonly SOR_NotExportErr: 0x0B000311; readonly SOR_DecryptPadErr: 0x0B000400;
  readonly SOR_MacLenErr: 0x0B000401; readonly SOR_KeyInfoTypeErr: 0x0B000402; readonly SOR_NULLPointerErr: 0x0B000403;
  readonly SOR_APPNotFoundErr: 0x0B000404; readonly SOR_CERTENCODEErr: 0x0B000405; readonly SOR_CERTINVALIDErr: 0x0B000406;
  readonly SOR_CERTHASEXPIREDErr: 0x0B000407; readonly SOR_CERTREVOKEDErr: 0x0B000408; readonly SOR_SIGNDATAErr: 0x0B000409;
  readonly SOR_VERIFYSIGNDATAErr: 0x0B000410; readonly SOR_READFILEErr: 0x0B000411; readonly SOR_WRITEFILEErr: 0x0B000412;
  readonly SOR_SECRETSEGMENTErr: 0x0B000413; readonly SOR_SECERTRECOVERYErr: 0x0B000414;
  readonly SOR_ENCRYPTDATAErr: 0x0B000415; readonly SOR_DECRYPTDATAErr: 0x0B000416; readonly SOR_PKCS7ENCODEErr: 0x0B000417;
  readonly SOR_XMLENCODEErr: 0x0B000418; readonly SOR_PARAMETERNOTSUPPORTErr: 0x0B000419; readonly SOR_CTLNOTFOUND: 0x0B000420;
  readonly SOR_APPNOTFOUND: 0x0B000421; readonly SOR_CertNotYetValidErr: 0x0B000501;
}
export declare const CONSTANTS: SofConstants;

/** SOF_ValidateCert's answers besides 0 (valid). Only EXPIRED, NOT_YET_VALID and OTHER occur. */
export declare const CERT_STATUS: Readonly<{ NOT_TRUSTED: -1; EXPIRED: -2; REVOKED: -3; FROZEN: -4; NOT_YET_VALID: -5; OTHER: -6 }>;

/** "name||CertID&&&" entries; CertID is "<token id>:<certificate id>". */
export type CertID = string;

/**
 * The SOF_* functions. Every one answers a Promise (await it where the old
 * control answered at once). Failures answer the old failure value ("", false,
 * or the number given) and set the last error, unless throwErrors is set.
 * InData is text (UTF-8) or base64 by the dataFormat option; certificates,
 * signatures and envelopes are base64 DER.
 */
export interface SofFunctions {
  /** The daemon's version, e.g. "0.1.0". */
  SOF_GetVersion(): Promise<string>;
  /** 0 when keybridge answers, 1 otherwise (the reason in the last error). */
  SOF_CheckSupport(): Promise<0 | 1>;
  /** 0, or SOR_AlgoTypeErr: SGD_SHA1_RSA and SGD_SM3_RSA are kept but RSA signing then fails. */
  SOF_SetSignMethod(signMethod: number): Promise<number>;
  SOF_GetSignMethod(): Promise<number>;
  /** 0 for SGD_SM4_CBC, else SOR_AlgoTypeErr: the envelope's cipher follows the certificate. */
  SOF_SetEncryptMethod(encryptMethod: number): Promise<number>;
  SOF_GetEncryptMethod(): Promise<number>;
  /** "name||CertID&&&name2||CertID2&&&", one entry per signing certificate with its key; "" without any. */
  SOF_GetUserList(): Promise<string>;
  /** base64 DER of the signing certificate. */
  SOF_ExportUserCert(certId: CertID): Promise<string>;
  /** base64 DER of the user's encryption certificate (same subject, same token). */
  SOF_ExportExChangeUserCert(certId: CertID): Promise<string>;
  /** Runs keybridge's PIN flow (its own dialog; passWd only with pagePin); true when the site is authorized. */
  SOF_Login(certId: CertID, passWd?: string): Promise<boolean>;
  /** Tries left: 0 locked, 1 final try, the token's number where it tells, else unknownRetryCount; -1 on failure. */
  SOF_GetPinRetryCount(certId: CertID): Promise<number>;
  /** keybridge's dialogs, or the given PINs with pagePin. */
  SOF_ChangePassWd(certId: CertID, oldPassWd?: string, newPassWd?: string): Promise<boolean>;
  /** An item of a certificate (base64 DER or PEM) by its SGD_CERT_* / SGD_EXT_* type. */
  SOF_GetCertInfo(base64EncodeCert: string, type: number): Promise<string>;
  /** A private extension's value (text where it is text, else base64), else a subject attribute of that OID. */
  SOF_GetCertInfoByOid(base64EncodeCert: string, oid: string): Promise<string>;
  /** SOF_GetCertInfo of the user's signing certificate. */
  SOF_GetUserInfo(certId: CertID, type: number): Promise<string>;
  /** The token's model, label, manufacturer, serial (证书KEY号) or free space by SGD_DEVICE_* type. */
  SOF_GetDeviceInfo(certId: CertID, type: number): Promise<string>;
  /** The validity period only: 0, CERT_STATUS.EXPIRED, NOT_YET_VALID; OTHER for an unreadable certificate. */
  SOF_ValidateCert(base64EncodeCert: string): Promise<number>;
  /** The bare signature, base64 (RSA PKCS#1 v1.5, DER ECDSA or SM2 SEQUENCE{r, s}). */
  SOF_SignData(certId: CertID, inData: string | Uint8Array | ArrayBuffer): Promise<string>;
  /** A File or Blob (not a path); the bare signature, base64. */
  SOF_SignFile(certId: CertID, inFile: Blob): Promise<string>;
  /** PKCS#7 / CMS SignedData (GM/T 0010 for SM2), base64 DER: flag 0 with the data, 1 without. */
  SOF_SignMessage(flag: 0 | 1 | number, certId: CertID, inData: string | Uint8Array | ArrayBuffer): Promise<string>;
  /** Type 1: the signed data (by dataFormat), 2: the signer's certificate, 3: the signature value. */
  SOF_GetInfoFromSignedMessage(signedMessage: string, type: 1 | 2 | 3 | number): Promise<string>;
  /** A digital envelope (base64 DER) to any certificate; public key only, no PIN. */
  SOF_EncryptData(base64EncodeCert: string, inData: string | Uint8Array | ArrayBuffer): Promise<string>;
  /** Opens an envelope (base64) with the user's encryption key on the token; the plaintext by dataFormat. */
  SOF_DecryptData(certId: CertID, inData: string): Promise<string>;
  /** randomLen bytes (1–65536) of the browser's CSPRNG, base64. */
  SOF_GenRandom(randomLen: number): Promise<string>;
  /** The SOR_* number of the last call; 0 after a success. */
  SOF_GetLastError(): Promise<number>;
  /** The last error's message (keybridge's, or this module's in the page's language); "" after a success. */
  SOF_GetLastErrMsg(): Promise<string>;
  /** The older name of SOF_SignMessage(0, certId, inData). */
  SOF_SignDataByP7(certId: CertID, inData: string | Uint8Array | ArrayBuffer): Promise<string>;
  /** The older name of SOF_GetInfoFromSignedMessage. */
  SOF_GetP7SignDataInfo(signedMessage: string, type: number): Promise<string>;
  /** Not supported (verify on the server): false, SOR_NotSupportYetErr. */
  SOF_VerifySignedData(base64EncodeCert: string, inData: string, signValue: string): Promise<false>;
  /** Not supported: false, SOR_NotSupportYetErr. */
  SOF_VerifySignedFile(base64EncodeCert: string, inFile: string, signValue: string): Promise<false>;
  /** Not supported: false, SOR_NotSupportYetErr. */
  SOF_VerifySignedMessage(messageData: string, inData: string): Promise<false>;
  /** Not supported: false, SOR_NotSupportYetErr. */
  SOF_VerifySignedDataByP7(p7Data: string): Promise<false>;
  /** Not supported (no paths in a page): false, SOR_NotSupportYetErr. */
  SOF_EncryptFile(base64EncodeCert: string, inFile: string, outFile: string): Promise<false>;
  /** Not supported (no paths in a page): false, SOR_NotSupportYetErr. */
  SOF_DecryptFile(certId: CertID, inFile: string, outFile: string): Promise<false>;
  /** Not supported (no XML canonicalisation): "", SOR_NotSupportYetErr. */
  SOF_SignDataXML(certId: CertID, inData: string): Promise<''>;
  /** Not supported: false, SOR_NotSupportYetErr. */
  SOF_VerifySignedDataXML(inData: string): Promise<false>;
  /** Not supported: "", SOR_NotSupportYetErr. */
  SOF_GetXMLSignatureInfo(xmlSignedData: string, type: number): Promise<''>;
  /** Not supported (envelopes only): "", SOR_NotSupportYetErr. */
  SOF_PubKeyEncrypt(base64EncodeCert: string, inData: string): Promise<''>;
  /** Not supported (envelopes only): "", SOR_NotSupportYetErr. */
  SOF_PriKeyDecrypt(certId: CertID, inData: string): Promise<''>;
}

export interface SofOptions {
  /** A KeybridgeClient to use; default: one made from clientOptions, connected at the first call. */
  client?: KeybridgeClient | null;
  /** Options of that client (url, port, transport, timeout, ...). */
  clientOptions?: ClientOptions;
  /** InData and returned plaintexts: 'text' (UTF-8, the default) or 'base64'. */
  dataFormat?: 'text' | 'base64';
  /** Send the PINs of SOF_Login and SOF_ChangePassWd (only a page-PIN origin may; docs/api.md "Page PIN"). */
  pagePin?: boolean;
  /** Let calls spend the PIN's last try (else PIN_FINAL_TRY, SOR_IndataErr). */
  confirmFinalTry?: boolean;
  /** SOF_EncryptData to RSA certificates: PKCS#1 v1.5 (default) or OAEP. */
  rsaPadding?: 'pkcs1' | 'oaep';
  /** SOF_GetPinRetryCount where the token does not tell (PKCS#11): default 2, "more than one". */
  unknownRetryCount?: number;
  /** Certificate times (yyyyMMddHHmmss) in UTC instead of the computer's time zone. */
  utcTimes?: boolean;
  /** Reject with the error (code, sor, details) instead of answering the failure value. */
  throwErrors?: boolean;
  /** Language of this module's own messages; default: the browser's. */
  lang?: 'zh' | 'en' | null;
}

export interface SofLastError {
  /** The SOR_* number; 0 after a success. */
  sor: number;
  /** keybridge's code (PIN_INCORRECT, TOKEN_NOT_PRESENT, ...) or this module's
   *  (CERT_ID_INVALID, NO_ENCRYPTION_CERTIFICATE, CERTIFICATE_INVALID, CERTIFICATE_EXPIRED,
   *  CERTIFICATE_NOT_YET_VALID, MESSAGE_INVALID, DATA_INVALID, DATA_LENGTH_INVALID, NOT_TEXT,
   *  INFO_TYPE_NOT_SUPPORTED, NO_SUCH_VALUE, ALGORITHM_NOT_SUPPORTED, NOT_SUPPORTED); null after a success. */
  code: string | null;
  message: string;
  /** keybridge's details: field, reason, pinStatus, retriesLeft, ... */
  details: { [key: string]: unknown };
}

/** One instance: the functions, the constants, and its management. */
export interface SofInstance extends SofFunctions, SofConstants {
  configure(options: SofOptions): void;
  lastError(): SofLastError;
  getClient(): Promise<KeybridgeClient>;
  close(): void;
}

/** A failure found by this module; code is one of SofLastError's own codes. */
export declare class SofError extends Error {
  constructor(code: string, why?: string, result?: unknown);
  readonly name: 'SofError';
  readonly code: string;
  readonly sor: number;
  readonly why: string;
  readonly result: unknown;
  localMessage(lang: 'zh' | 'en'): string;
}

/** The SOR_* number of a keybridge error code (with its details: reason "usage", field "method"). */
export declare function sorOf(code: string, details?: { [key: string]: unknown }): number;
export declare function formatCertId(token: string, certificate: string): CertID;
/** Throws a SofError (CERT_ID_INVALID) for anything but "<token id>:<certificate id>". */
export declare function parseCertId(certId: CertID): { token: string; certificate: string };
/** The names install() puts on its target, besides the constants. */
export declare const SOF_FUNCTIONS: ReadonlyArray<keyof SofFunctions>;
export declare function createSOF(options?: SofOptions): SofInstance;
/** The instance install() uses unless given another. */
export declare function getSOF(): SofInstance;
/** Puts the functions and constants on target (default globalThis); returns target. */
export declare function install<T extends object = typeof globalThis>(target?: T,
  options?: SofOptions & { instance?: SofInstance }): T & SofFunctions & SofConstants;
