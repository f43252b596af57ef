/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every PKCS#11 2.40 function, once, as an X-macro table:
 *
 *   X(impl, kind, ops, name, (parameters), (arguments))
 *
 * impl   GENERIC: module.c generates a forwarding wrapper;
 *        CUSTOM: a hand-written kb_pf_<name> elsewhere (p11fault.h).
 * kind   what the first argument is: NONE, SLOT (answered CKR_TOKEN_NOT_PRESENT
 *        while the token is pulled) or SESSION (dies with a removal; the
 *        parameter is always named s, the generated wrapper translates it).
 * ops    the cryptographic operations a call continues; an injected failure
 *        ends them in the real module too, as PKCS#11 says a failed call does.
 *
 * Some rows name a shared shape (KB_PF_IN_OUT …) that expands to both the
 * parameters and the arguments, so an X must take them as "..." and pass
 * __VA_ARGS__ on to a second macro. The order is free (the function list is
 * built with designated initializers); module.c checks at compile time that
 * none is missing. */
#pragma once

#define KB_PF_FUNCTIONS(X)                                                      \
        X(CUSTOM, NONE, 0, C_Initialize, (CK_VOID_PTR init_args), (init_args))  \
        X(CUSTOM, NONE, 0, C_Finalize, (CK_VOID_PTR reserved), (reserved))      \
        X(CUSTOM, NONE, 0, C_GetInfo, (CK_INFO_PTR info), (info))               \
        X(CUSTOM, NONE, 0, C_GetFunctionList, (CK_FUNCTION_LIST_PTR_PTR list),  \
          (list))                                                               \
        X(CUSTOM, NONE, 0, C_GetSlotList,                                       \
          (CK_BBOOL present, CK_SLOT_ID_PTR slots, CK_ULONG_PTR count),         \
          (present, slots, count))                                              \
        X(CUSTOM, NONE, 0, C_GetSlotInfo, (CK_SLOT_ID slot, CK_SLOT_INFO_PTR info), \
          (slot, info))                                                         \
        X(CUSTOM, SLOT, 0, C_GetTokenInfo,                                      \
          (CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info), (slot, info))              \
        X(GENERIC, SLOT, 0, C_GetMechanismList,                                 \
          (CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count),    \
          (slot, list, count))                                                  \
        X(GENERIC, SLOT, 0, C_GetMechanismInfo,                                 \
          (CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info), \
          (slot, type, info))                                                   \
        X(GENERIC, SLOT, 0, C_InitToken,                                        \
          (CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len,              \
           CK_UTF8CHAR_PTR label), (slot, pin, pin_len, label))                 \
        X(CUSTOM, SESSION, 0, C_InitPIN,                                        \
          (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len),         \
          (s, pin, pin_len))                                                    \
        X(CUSTOM, SESSION, 0, C_SetPIN,                                         \
          (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old_pin, CK_ULONG old_len,      \
           CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len),                          \
          (s, old_pin, old_len, new_pin, new_len))                              \
        X(CUSTOM, SLOT, 0, C_OpenSession,                                       \
          (CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,  \
           CK_SESSION_HANDLE_PTR s), (slot, flags, app, notify, s))             \
        X(CUSTOM, SESSION, 0, C_CloseSession, (CK_SESSION_HANDLE s), (s))       \
        X(CUSTOM, NONE, 0, C_CloseAllSessions, (CK_SLOT_ID slot), (slot))       \
        X(GENERIC, SESSION, 0, C_GetSessionInfo,                                \
          (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info), (s, info))           \
        X(GENERIC, SESSION, 0, C_GetOperationState,                             \
          (CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG_PTR len),           \
          (s, state, len))                                                      \
        X(GENERIC, SESSION, 0, C_SetOperationState,                             \
          (CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG len,                \
           CK_OBJECT_HANDLE enc_key, CK_OBJECT_HANDLE auth_key),                \
          (s, state, len, enc_key, auth_key))                                   \
        X(CUSTOM, SESSION, 0, C_Login,                                          \
          (CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,         \
           CK_ULONG pin_len), (s, user, pin, pin_len))                          \
        X(GENERIC, SESSION, 0, C_Logout, (CK_SESSION_HANDLE s), (s))            \
        X(GENERIC, SESSION, 0, C_CreateObject,                                  \
          (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,          \
           CK_OBJECT_HANDLE_PTR obj), (s, tmpl, count, obj))                    \
        X(GENERIC, SESSION, 0, C_CopyObject,                                    \
          (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl,    \
           CK_ULONG count, CK_OBJECT_HANDLE_PTR copy), (s, obj, tmpl, count, copy)) \
        X(GENERIC, SESSION, 0, C_DestroyObject,                                 \
          (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj), (s, obj))                \
        X(GENERIC, SESSION, 0, C_GetObjectSize,                                 \
          (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj, CK_ULONG_PTR size),       \
          (s, obj, size))                                                       \
        X(GENERIC, SESSION, 0, C_GetAttributeValue,                             \
          (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl,    \
           CK_ULONG count), (s, obj, tmpl, count))                              \
        X(GENERIC, SESSION, 0, C_SetAttributeValue,                             \
          (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl,    \
           CK_ULONG count), (s, obj, tmpl, count))                              \
        X(GENERIC, SESSION, 0, C_FindObjectsInit,                               \
          (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count),         \
          (s, tmpl, count))                                                     \
        X(GENERIC, SESSION, 0, C_FindObjects,                                   \
          (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR objs, CK_ULONG max,        \
           CK_ULONG_PTR count), (s, objs, max, count))                          \
        X(GENERIC, SESSION, 0, C_FindObjectsFinal, (CK_SESSION_HANDLE s), (s))  \
        X(GENERIC, SESSION, 0, C_EncryptInit,                                   \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),   \
          (s, mech, key))                                                       \
        X(GENERIC, SESSION, KB_PF_OP_ENCRYPT, C_Encrypt, KB_PF_IN_OUT)          \
        X(GENERIC, SESSION, KB_PF_OP_ENCRYPT, C_EncryptUpdate, KB_PF_IN_OUT)    \
        X(GENERIC, SESSION, KB_PF_OP_ENCRYPT, C_EncryptFinal, KB_PF_OUT)        \
        X(GENERIC, SESSION, 0, C_DecryptInit,                                   \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),   \
          (s, mech, key))                                                       \
        X(GENERIC, SESSION, KB_PF_OP_DECRYPT, C_Decrypt, KB_PF_IN_OUT)          \
        X(GENERIC, SESSION, KB_PF_OP_DECRYPT, C_DecryptUpdate, KB_PF_IN_OUT)    \
        X(GENERIC, SESSION, KB_PF_OP_DECRYPT, C_DecryptFinal, KB_PF_OUT)        \
        X(GENERIC, SESSION, 0, C_DigestInit,                                    \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech), (s, mech))              \
        X(GENERIC, SESSION, KB_PF_OP_DIGEST, C_Digest, KB_PF_IN_OUT)            \
        X(GENERIC, SESSION, KB_PF_OP_DIGEST, C_DigestUpdate, KB_PF_IN)          \
        X(GENERIC, SESSION, KB_PF_OP_DIGEST, C_DigestKey,                       \
          (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key), (s, key))                \
        X(GENERIC, SESSION, KB_PF_OP_DIGEST, C_DigestFinal, KB_PF_OUT)          \
        X(GENERIC, SESSION, 0, C_SignInit,                                      \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),   \
          (s, mech, key))                                                       \
        X(GENERIC, SESSION, KB_PF_OP_SIGN, C_Sign, KB_PF_IN_OUT)                \
        X(GENERIC, SESSION, KB_PF_OP_SIGN, C_SignUpdate, KB_PF_IN)              \
        X(GENERIC, SESSION, KB_PF_OP_SIGN, C_SignFinal, KB_PF_OUT)              \
        X(GENERIC, SESSION, 0, C_SignRecoverInit,                               \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),   \
          (s, mech, key))                                                       \
        X(GENERIC, SESSION, 0, C_SignRecover, KB_PF_IN_OUT)                     \
        X(GENERIC, SESSION, 0, C_VerifyInit,                                    \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),   \
          (s, mech, key))                                                       \
        X(GENERIC, SESSION, KB_PF_OP_VERIFY, C_Verify,                          \
          (CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG data_len,            \
           CK_BYTE_PTR sig, CK_ULONG sig_len), (s, data, data_len, sig, sig_len)) \
        X(GENERIC, SESSION, KB_PF_OP_VERIFY, C_VerifyUpdate, KB_PF_IN)          \
        X(GENERIC, SESSION, KB_PF_OP_VERIFY, C_VerifyFinal,                     \
          (CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG sig_len),             \
          (s, sig, sig_len))                                                    \
        X(GENERIC, SESSION, 0, C_VerifyRecoverInit,                             \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key),   \
          (s, mech, key))                                                       \
        X(GENERIC, SESSION, 0, C_VerifyRecover, KB_PF_IN_OUT)                   \
        X(GENERIC, SESSION, KB_PF_OP_DIGEST | KB_PF_OP_ENCRYPT,                 \
          C_DigestEncryptUpdate, KB_PF_IN_OUT)                                  \
        X(GENERIC, SESSION, KB_PF_OP_DECRYPT | KB_PF_OP_DIGEST,                 \
          C_DecryptDigestUpdate, KB_PF_IN_OUT)                                  \
        X(GENERIC, SESSION, KB_PF_OP_SIGN | KB_PF_OP_ENCRYPT,                   \
          C_SignEncryptUpdate, KB_PF_IN_OUT)                                    \
        X(GENERIC, SESSION, KB_PF_OP_DECRYPT | KB_PF_OP_VERIFY,                 \
          C_DecryptVerifyUpdate, KB_PF_IN_OUT)                                  \
        X(GENERIC, SESSION, 0, C_GenerateKey,                                   \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR tmpl,   \
           CK_ULONG count, CK_OBJECT_HANDLE_PTR key), (s, mech, tmpl, count, key)) \
        X(GENERIC, SESSION, 0, C_GenerateKeyPair,                               \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR pub_tmpl, \
           CK_ULONG pub_count, CK_ATTRIBUTE_PTR priv_tmpl, CK_ULONG priv_count, \
           CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv),                \
          (s, mech, pub_tmpl, pub_count, priv_tmpl, priv_count, pub, priv))     \
        X(GENERIC, SESSION, 0, C_WrapKey,                                       \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping, \
           CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR out_len),        \
          (s, mech, wrapping, key, out, out_len))                               \
        X(GENERIC, SESSION, 0, C_UnwrapKey,                                     \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE unwrapping, \
           CK_BYTE_PTR in, CK_ULONG in_len, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, \
           CK_OBJECT_HANDLE_PTR key),                                           \
          (s, mech, unwrapping, in, in_len, tmpl, count, key))                  \
        X(GENERIC, SESSION, 0, C_DeriveKey,                                     \
          (CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base,   \
           CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR key),    \
          (s, mech, base, tmpl, count, key))                                    \
        X(GENERIC, SESSION, 0, C_SeedRandom, KB_PF_IN)                          \
        X(GENERIC, SESSION, 0, C_GenerateRandom,                                \
          (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG out_len), (s, out, out_len)) \
        X(GENERIC, SESSION, 0, C_GetFunctionStatus, (CK_SESSION_HANDLE s), (s)) \
        X(GENERIC, SESSION, 0, C_CancelFunction, (CK_SESSION_HANDLE s), (s))    \
        X(CUSTOM, NONE, 0, C_WaitForSlotEvent,                                  \
          (CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved),          \
          (flags, slot, reserved))

/* The three shapes most data functions share (parameters, arguments). */
#define KB_PF_IN_OUT                                                            \
        (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out, \
         CK_ULONG_PTR out_len), (s, in, in_len, out, out_len)
#define KB_PF_IN (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len), (s, in, in_len)
#define KB_PF_OUT (CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len), (s, out, out_len)

/* Operations a call continues (the ops column). */
#define KB_PF_OP_ENCRYPT 0x01u
#define KB_PF_OP_DECRYPT 0x02u
#define KB_PF_OP_DIGEST  0x04u
#define KB_PF_OP_SIGN    0x08u
#define KB_PF_OP_VERIFY  0x10u
