/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one table of the API's error codes: enum name, stable code, HTTP status,
 * English and Chinese message. Everything else (enum, HTTP mapping, JSON-RPC
 * errors, docs) is derived from it. Append only: codes are a public contract.
 */
KB_ERROR(OK,                     "OK",                     200, "OK", "成功")
KB_ERROR(BAD_REQUEST,            "BAD_REQUEST",            400, "The request is malformed.", "请求格式错误。")
KB_ERROR(HOST_REJECTED,          "HOST_REJECTED",          403, "The Host header is not accepted.", "不接受该 Host 请求头。")
KB_ERROR(ORIGIN_NOT_ALLOWED,     "ORIGIN_NOT_ALLOWED",     403, "This origin is not allowed.", "不允许该来源访问。")
KB_ERROR(UNAUTHORIZED,           "UNAUTHORIZED",           401, "A valid bearer token is required.", "需要有效的访问令牌。")
KB_ERROR(NOT_FOUND,              "NOT_FOUND",              404, "Not found.", "未找到。")
KB_ERROR(METHOD_NOT_ALLOWED,     "METHOD_NOT_ALLOWED",     405, "This HTTP method is not allowed here.", "此处不允许该 HTTP 方法。")
KB_ERROR(TOKEN_NOT_PRESENT,      "TOKEN_NOT_PRESENT",      409, "The token is not present.", "未检测到该证书介质（UKey）。")
KB_ERROR(TOKEN_BUSY,             "TOKEN_BUSY",             409, "The token is busy; retry later.", "证书介质正忙，请稍后重试。")
KB_ERROR(PIN_CANCELLED,          "PIN_CANCELLED",          409, "The user cancelled the dialog.", "用户取消了操作。")
KB_ERROR(PIN_INCORRECT,          "PIN_INCORRECT",          401, "The PIN is incorrect.", "口令（PIN 码）错误。")
KB_ERROR(PIN_FINAL_TRY,          "PIN_FINAL_TRY",          409, "Only one PIN try is left; confirm to use it.", "口令仅剩最后一次重试机会，请确认后再试。")
KB_ERROR(PIN_LOCKED,             "PIN_LOCKED",             423, "The PIN is locked; it must be unblocked.", "口令已锁定，需要解锁。")
KB_ERROR(PIN_POLICY,             "PIN_POLICY",             400, "The new PIN does not meet the token's rules.", "新口令不符合证书介质的要求。")
KB_ERROR(CERTIFICATE_MISMATCH,   "CERTIFICATE_MISMATCH",   409, "The certificate does not match a key on the token.", "证书与介质中的密钥不匹配。")
KB_ERROR(UNSUPPORTED_ALGORITHM,  "UNSUPPORTED_ALGORITHM",  400, "The algorithm is not supported.", "不支持该算法。")
KB_ERROR(TOKEN_FULL,             "TOKEN_FULL",             507, "The token has no room left.", "证书介质存储空间不足。")
KB_ERROR(TOKEN_READ_ONLY,        "TOKEN_READ_ONLY",        409, "The token is read-only.", "证书介质为只读。")
KB_ERROR(UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", 415, "Content-Type must be application/json.", "Content-Type 必须为 application/json。")
KB_ERROR(PAYLOAD_TOO_LARGE,      "PAYLOAD_TOO_LARGE",      413, "The request body is too large.", "请求内容过大。")
KB_ERROR(RATE_LIMITED,           "RATE_LIMITED",           429, "Too many requests; slow down.", "请求过于频繁，请稍后再试。")
KB_ERROR(INTERNAL,               "INTERNAL",               500, "Internal error.", "内部错误。")
KB_ERROR(TOKEN_NOT_INITIALIZED,  "TOKEN_NOT_INITIALIZED",  409, "The token is not initialized (formatted); have your certificate authority (CA) format it first.", "证书介质（UKey）尚未初始化，请先由证书颁发机构（CA）格式化。")
KB_ERROR(NOT_RECIPIENT,          "NOT_RECIPIENT",          409, "The envelope is not addressed to this certificate.", "该数字信封不是发给此证书的。")
KB_ERROR(DECRYPT_FAILED,         "DECRYPT_FAILED",         400, "The envelope cannot be opened: it is damaged or was altered.", "数字信封无法解开：已损坏或被篡改。")
