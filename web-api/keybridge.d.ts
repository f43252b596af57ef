// SPDX-License-Identifier: LGPL-2.1-or-later
// Type declarations of keybridge.js (the keybridge web API client, API 1).
// The shapes follow docs/api.md.

export declare const VERSION: string;
export declare const DEFAULT_PORT: 27182;

/** Codes of the daemon (docs/api.md "Errors"). */
export type ApiErrorCode =
  | 'BAD_REQUEST' | 'HOST_REJECTED' | 'ORIGIN_NOT_ALLOWED' | 'UNAUTHORIZED' | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED' | 'UNSUPPORTED_MEDIA_TYPE' | 'PAYLOAD_TOO_LARGE' | 'TOKEN_NOT_PRESENT'
  | 'TOKEN_BUSY' | 'TOKEN_FULL' | 'TOKEN_READ_ONLY' | 'PIN_CANCELLED' | 'PIN_INCORRECT'
  | 'PIN_FINAL_TRY' | 'PIN_LOCKED' | 'PIN_POLICY' | 'CERTIFICATE_MISMATCH'
  | 'UNSUPPORTED_ALGORITHM' | 'RATE_LIMITED' | 'INTERNAL' | 'TOKEN_NOT_INITIALIZED'
  /** decrypt: the envelope has no recipient for this certificate (409, field items[i].cms) */
  | 'NOT_RECIPIENT'
  /** decrypt: a damaged or tampered envelope: authentication failure, bad padding (400, field items[i].cms) */
  | 'DECRYPT_FAILED';

/** Codes the client raises itself. */
export type ClientErrorCode =
  | 'NOT_RUNNING' | 'PERMISSION_DENIED' | 'CONNECTION_LOST' | 'TIMEOUT' | 'BAD_RESPONSE' | 'NOT_CONNECTED';

export type ErrorCode = ApiErrorCode | ClientErrorCode;

export declare const ClientErrorCodes: Readonly<{ [K in ClientErrorCode]: K }>;

export interface ErrorDetails {
  field?: string;
  pinStatus?: PinStatus;
  retriesLeft?: number | null;
  soPinStatus?: PinStatus;
  soRetriesLeft?: number | null;
  minLength?: number;
  maxLength?: number;
  /** 'usage': a certificate whose key usage does not allow the operation (BAD_REQUEST, field certificate) */
  reason?: 'mustChange' | 'usage';
  url?: string;
  [key: string]: unknown;
}

export declare class KeybridgeError extends Error {
  constructor(code: ErrorCode | string, message?: string,
              options?: { status?: number; details?: ErrorDetails; cause?: unknown });
  readonly name: 'KeybridgeError';
  /** A stable code: program against it. Unknown future codes are passed through. */
  readonly code: ErrorCode | string;
  /** The HTTP status, or 0 (WebSocket, network). */
  readonly status: number;
  readonly details: ErrorDetails;
  /** True for TOKEN_BUSY, RATE_LIMITED, CONNECTION_LOST and TIMEOUT. */
  readonly retryable: boolean;
}

export declare function errorFromResponse(status: number, body: unknown): KeybridgeError;
export declare function errorFromRpc(error: unknown): KeybridgeError;
export declare function restRequest(method: MethodName, params: object):
  { method: 'GET' | 'POST'; path: string; body: string | undefined };

export declare function bytesToBase64(bytes: Uint8Array | ArrayBuffer | number[]): string;
export declare function base64ToBytes(base64: string): Uint8Array;
export declare function textToBase64(text: string): string;

export type MethodName =
  | 'info' | 'tokens.list' | 'token.get' | 'certificate.get' | 'sign' | 'decrypt' | 'encrypt' | 'authenticate'
  | 'pin.change' | 'pin.unblock' | 'seal.get' | 'seal.put' | 'renewal.request'
  | 'renewal.install' | 'renewal.cancel' | 'enrollment.request' | 'enrollment.install'
  | 'enrollment.cancel' | 'origin.approve';

export type PinStatus = 'ok' | 'countLow' | 'finalTry' | 'locked' | 'mustChange';

export interface Info {
  product: 'keybridge';
  version: string;
  api: number;
  backends: object[];
  features: string[];
}

export interface Certificate {
  id: string;
  label: string;
  subject: string;
  subjectFields: { [name: string]: string | string[] };
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  status: 'valid' | 'expiring' | 'expired' | 'notYetValid';
  keyType: 'RSA' | 'EC' | 'SM2' | null;
  keyBits: number | null;
  curve: string | null;
  usage: 'sign' | 'encrypt' | 'both' | null;
  fingerprintSha256: string;
  hasPrivateKey: boolean;
  /** certificate.get only */
  pem?: string;
  chain?: string[];
}

export interface Token {
  id: string;
  backend: 'pkcs11' | 'skf';
  module: string;
  label: string;
  manufacturer: string;
  model: string;
  /** 证书KEY号 */
  serial: string;
  /** 介质硬件号 */
  hardwareId: string | null;
  pin: { status: PinStatus; retriesLeft: number | null; minLength: number | null; maxLength: number | null };
  authorized: boolean;
  /** False for a token that cannot take a key yet (PKCS#11: user PIN not
   *  initialized; SKF: no application): the CA must format it first. */
  initialized: boolean;
  /** Bytes free for objects, where the module tells. */
  freeSpace?: number;
  /** Empty on a blank (formatted, never enrolled) token. */
  certificates: Certificate[];
}

export type SignAlgorithm =
  | 'RSA-PKCS1-SHA256' | 'RSA-PKCS1-SHA384' | 'RSA-PKCS1-SHA512' | 'RSA-PSS-SHA256'
  | 'ECDSA-SHA256' | 'ECDSA-SHA384' | 'SM2-SM3';

export interface PinOptions {
  confirmFinalTry?: boolean;
  /** page-PIN origins only */
  pin?: string;
}

export interface SignParams extends PinOptions {
  certificate: string;
  algorithm: SignAlgorithm | string;
  items: Array<{ data: string; label?: string } | { digest: string; label?: string }>;
  format?: 'raw' | 'cms' | 'cms-detached';
  /** SM2-SM3 only: the signer's distinguishing ID (default 1234567812345678) */
  sm2Id?: string;
}
export interface SignResult { signatures: string[]; algorithm: string; certificate: string }

export interface DecryptParams extends PinOptions {
  /** the id of an encryption certificate on the token (usage "encrypt" or "both");
   *  another usage: BAD_REQUEST, field certificate, reason "usage" */
  certificate: string;
  /** 1–64 envelopes under one PIN dialog: base64 DER ContentInfo of a CMS
   *  EnvelopedData or AuthEnvelopedData, or a GM/T 0010 SM2 EnvelopedData;
   *  at most 1 MiB each (PAYLOAD_TOO_LARGE, field items[i].cms) */
  items: Array<{ cms: string }>;
}
export interface DecryptResult {
  /** base64, one per item, in item order */
  plaintexts: string[];
  /** the certificate's id */
  certificate: string;
}

export interface EncryptParams {
  /** any recipient's certificate, PEM or base64 DER (not necessarily on a token);
   *  unreadable or not for encryption: BAD_REQUEST, field certificate (reason "usage");
   *  a key the daemon cannot encrypt to: UNSUPPORTED_ALGORITHM, field certificate */
  certificate: string;
  /** 1–64 items of base64 data */
  items: Array<{ data: string }>;
  /** RSA recipients: PKCS#1 v1.5 key transport (default) or OAEP with SHA-256 */
  rsaPadding?: 'pkcs1' | 'oaep';
}
export interface EncryptResult {
  /** base64 DER ContentInfo, one per item, in item order */
  envelopes: string[];
  /** "cms": CMS EnvelopedData (RSA key transport or EC key agreement, AES-256-CBC);
   *  "gmt0010": GM/T 0010 EnvelopedData (SM2 key transport, SM4-CBC) */
  format: 'cms' | 'gmt0010';
}

export interface AuthenticateParams extends PinOptions { certificate: string; challenge: string }
export interface AuthenticateResult {
  format: 'keybridge-auth-1';
  certificate: string;
  algorithm: string;
  signature: string;
}

export interface ChangePinParams { oldPin?: string; newPin?: string; confirmFinalTry?: boolean }
export interface UnblockPinParams { unblockCode: string; newPin?: string; confirmFinalTry?: boolean }

export interface Seal { image: string; mediaType: string; certificate: string }
export interface PutSealParams extends PinOptions {
  certificate: string;
  image: string;
  mediaType: 'image/png' | 'image/gif' | 'image/jpeg' | 'application/octet-stream';
}

export interface RenewalRequestParams extends PinOptions { certificate: string; newKey?: boolean; keyType?: string }
export interface RenewalRequest { requestId: string; csr: string; keyId: string; proof: string }
export interface RenewalInstallParams {
  requestId?: string;
  replaces: string;
  certificate: string;
  chain?: string[];
  encryption?: { certificate: string; envelopedKey: string };
}

/** Subject of an enrollment: values are UTF-8 (Chinese allowed); OU may repeat. */
export interface EnrollmentSubject {
  C?: string;
  ST?: string;
  L?: string;
  O?: string;
  OU?: string | string[];
  CN?: string;
  serialNumber?: string;
  emailAddress?: string;
}
/** SM2 on SKF tokens only; the others on PKCS#11 tokens only. */
export type EnrollmentKeyType = 'RSA-2048' | 'RSA-3072' | 'EC-P256' | 'EC-P384' | 'SM2';
export interface EnrollmentRequestParams extends PinOptions {
  subject: EnrollmentSubject;
  keyType: EnrollmentKeyType;
  label?: string;
}
export interface EnrollmentRequest {
  requestId: string;
  /** PEM PKCS#10 signed by the new key (SM2: SM2-with-SM3, ID 1234567812345678) */
  csr: string;
  /** hex */
  keyId: string;
  keyType: EnrollmentKeyType;
  /** the subject as one line, RFC 4514 style */
  subject: string;
}
export interface EnrollmentInstallParams extends PinOptions {
  requestId: string;
  /** PEM or base64 DER */
  certificate: string;
  chain?: string[];
  /** SM2 double certificates: envelopedKey as for installRenewal */
  encryption?: { certificate: string; envelopedKey: string };
}
export interface EnrollmentInstallResult {
  certificate: Certificate;
  replaced: null;
  finished: boolean;
  alreadyInstalled: boolean;
  chainStored: number;
  encryption?: { certificate: Certificate };
}

export interface Progress { requestId: string | number; stage: string; percent: number; method?: string | null }
export interface CallOptions { onProgress?: (progress: Progress) => void }

export interface EventMap {
  'token.inserted': { token: Token };
  'token.removed': { id: string };
  'token.changed': { token: Token };
  'operation.progress': Progress;
  'connected': { url: string; transport: Transport };
  'disconnected': { url: string };
  'transport': { transport: Transport };
}

export type Transport = 'websocket' | 'rest';

export interface ClientOptions {
  /** The daemon's base URL(s); default https://127.0.0.1:port, then http://127.0.0.1:port. */
  url?: string | string[] | null;
  port?: number;
  transport?: 'auto' | Transport;
  /** ms for one call; default 180000 */
  timeout?: number;
  /** ms for each connection attempt; default 3000 */
  probeTimeout?: number;
  reconnect?: boolean;
  reconnectDelay?: number;
  reconnectMaxDelay?: number;
  /** REST only: ms between token list reads for token events; 0 turns it off */
  pollInterval?: number;
  fetch?: typeof fetch | null;
  WebSocket?: unknown;
}

export declare class KeybridgeClient {
  constructor(options?: ClientOptions);
  readonly options: Required<ClientOptions>;
  readonly baseUrl: string | null;
  readonly transport: Transport | null;
  readonly state: 'idle' | 'connecting' | 'connected' | 'disconnected' | 'closed';
  readonly info: Info | null;

  connect(): Promise<this>;
  close(): void;
  on<K extends keyof EventMap>(type: K, listener: (detail: EventMap[K], type: K) => void): () => void;
  off<K extends keyof EventMap>(type: K, listener: (detail: EventMap[K], type: K) => void): void;
  hasFeature(name: string): boolean;

  call(method: MethodName, params?: object, options?: CallOptions): Promise<any>;
  getInfo(): Promise<Info>;
  listTokens(): Promise<Token[]>;
  getToken(token: string): Promise<Token>;
  getCertificate(token: string, certificate: string): Promise<Certificate>;
  sign(token: string, params: SignParams): Promise<SignResult>;
  /** Opens envelopes with the token's encryption key (one PIN flow for all items). */
  decrypt(token: string, params: DecryptParams, options?: CallOptions): Promise<DecryptResult>;
  /** Seals data to a certificate; public key only, no token and no PIN. */
  encrypt(params: EncryptParams, options?: CallOptions): Promise<EncryptResult>;
  authenticate(token: string, params: AuthenticateParams): Promise<AuthenticateResult>;
  changePin(token: string, params?: ChangePinParams): Promise<{ changed: true }>;
  unblockPin(token: string, params: UnblockPinParams): Promise<{ unblocked: true; mustChange: boolean }>;
  getSeal(token: string, certificate: string): Promise<Seal>;
  putSeal(token: string, params: PutSealParams): Promise<{ certificate: string; mediaType: string; size: number }>;
  requestRenewal(token: string, params: RenewalRequestParams, options?: CallOptions): Promise<RenewalRequest>;
  installRenewal(token: string, params: RenewalInstallParams, options?: CallOptions): Promise<{
    certificate: Certificate; replaced: string; finished: boolean; alreadyInstalled: boolean; chainStored: number;
    /** With double certificates: the encryption certificate as the token holds it. */
    encryption?: { certificate: Certificate };
  }>;
  cancelRenewal(token: string, requestId: string): Promise<unknown>;
  /** Over the WebSocket, onProgress gets stages generate-key (0–63), sign-request (75), done (100). */
  requestEnrollment(token: string, params: EnrollmentRequestParams, options?: CallOptions): Promise<EnrollmentRequest>;
  installEnrollment(token: string, params: EnrollmentInstallParams, options?: CallOptions): Promise<EnrollmentInstallResult>;
  cancelEnrollment(token: string, requestId: string): Promise<{ requestId: string; cancelled: true }>;
  approveOrigin(): Promise<{ origin: string; approved: true }>;
}

export declare function connect(options?: ClientOptions): Promise<KeybridgeClient>;
