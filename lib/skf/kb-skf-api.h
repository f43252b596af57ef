/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The SKF interface (GM/T 0016-2012, GB/T 35291-2017) as vendor libraries
 * export it: the types, structures, algorithm identifiers and SAR_* codes
 * of the standard, and the functions keybridge uses.
 *
 * Widths: the standard's ULONG and BOOL are 32 bits in every Linux vendor
 * library we know of (and in the project's software token); structures are
 * byte-packed. A library built with a 64-bit ULONG needs its own profile.
 */
#pragma once

#include <stdint.h>

typedef uint8_t SKF_BYTE;
typedef char SKF_CHAR;
typedef uint32_t SKF_ULONG;
typedef int32_t SKF_BOOL;
typedef void *SKF_HANDLE;       /* DEVHANDLE, HAPPLICATION, HCONTAINER */

#define SKF_MAX_IV_LEN 32
#define SKF_ECC_BYTES 64        /* ECC_MAX_XCOORDINATE_BITS_LEN / 8 */
#define SKF_MAX_FILE_NAME 32

/* Algorithm identifiers (GM/T 0006). */
#define SGD_SM1_ECB 0x00000101u
#define SGD_SM4_ECB 0x00000401u
#define SGD_SM4_CBC 0x00000402u
#define SGD_SM2_1 0x00020100u   /* SM2 signature */
#define SGD_SM2_2 0x00020200u   /* SM2 key exchange */
#define SGD_SM2_3 0x00020400u   /* SM2 encryption */
#define SGD_SM3 0x00000001u

/* PIN types, container types, device states, device events. */
#define SKF_ADMIN_TYPE 0u
#define SKF_USER_TYPE 1u
#define SKF_CONTAINER_EMPTY 0u
#define SKF_CONTAINER_RSA 1u
#define SKF_CONTAINER_ECC 2u
#define SKF_DEV_ABSENT_STATE 0u
#define SKF_DEV_PRESENT_STATE 1u
#define SKF_EVENT_INSERTED 1u
#define SKF_EVENT_REMOVED 2u

/* File access rights. */
#define SKF_SECURE_NEVER_ACCOUNT 0x00u
#define SKF_SECURE_ADM_ACCOUNT 0x01u
#define SKF_SECURE_USER_ACCOUNT 0x10u
#define SKF_SECURE_ANYONE_ACCOUNT 0xFFu

#pragma pack(push, 1)
typedef struct {
        SKF_BYTE major, minor;
} SKF_VERSION;

typedef struct {
        SKF_VERSION Version;
        SKF_CHAR Manufacturer[64];
        SKF_CHAR Issuer[64];
        SKF_CHAR Label[32];
        SKF_CHAR SerialNumber[32];
        SKF_VERSION HWVersion;
        SKF_VERSION FirmwareVersion;
        SKF_ULONG AlgSymCap;
        SKF_ULONG AlgAsymCap;
        SKF_ULONG AlgHashCap;
        SKF_ULONG DevAuthAlgId;
        SKF_ULONG TotalSpace;
        SKF_ULONG FreeSpace;
        SKF_ULONG MaxECCBufferSize;
        SKF_ULONG MaxBufferSize;
        SKF_BYTE Reserved[64];
} SKF_DEVINFO;

/* Coordinates and scalars are big-endian, right-aligned in 64 bytes. */
typedef struct {
        SKF_ULONG BitLen;
        SKF_BYTE XCoordinate[SKF_ECC_BYTES];
        SKF_BYTE YCoordinate[SKF_ECC_BYTES];
} SKF_ECCPUBLICKEYBLOB;

typedef struct {
        SKF_ULONG BitLen;
        SKF_BYTE PrivateKey[SKF_ECC_BYTES];
} SKF_ECCPRIVATEKEYBLOB;

typedef struct {
        SKF_BYTE r[SKF_ECC_BYTES];
        SKF_BYTE s[SKF_ECC_BYTES];
} SKF_ECCSIGNATUREBLOB;

/* SM2 ciphertext C1 (X, Y), C3 (HASH), C2 (Cipher, CipherLen bytes). The
 * standard declares Cipher[1]; an ENVELOPEDKEYBLOB carries a 16-byte SM4
 * key in it, so the struct here has room for that. */
#define SKF_CIPHER_MAX 16
typedef struct {
        SKF_BYTE XCoordinate[SKF_ECC_BYTES];
        SKF_BYTE YCoordinate[SKF_ECC_BYTES];
        SKF_BYTE HASH[32];
        SKF_ULONG CipherLen;
        SKF_BYTE Cipher[SKF_CIPHER_MAX];
} SKF_ECCCIPHERBLOB;

/* An encryption key pair delivered to a container (double certificates):
 * the private key encrypted with ulSymmAlgID under a fresh symmetric key,
 * that key SM2-encrypted to the container's signature public key. */
typedef struct {
        SKF_ULONG Version;
        SKF_ULONG ulSymmAlgID;
        SKF_ULONG ulBits;
        SKF_BYTE cbEncryptedPriKey[SKF_ECC_BYTES];
        SKF_ECCPUBLICKEYBLOB PubKey;
        SKF_ECCCIPHERBLOB ECCCipherBlob;
} SKF_ENVELOPEDKEYBLOB;

/* Block cipher parameters (SKF_DecryptInit, passed by value). PaddingType
 * 0: none, 1: PKCS#5. */
#define SKF_MAX_IV_LEN 32
typedef struct {
        SKF_BYTE IV[SKF_MAX_IV_LEN];
        SKF_ULONG IVLen;
        SKF_ULONG PaddingType;
        SKF_ULONG FeedBitLen;
} SKF_BLOCKCIPHERPARAM;

typedef struct {
        SKF_CHAR FileName[SKF_MAX_FILE_NAME];
        SKF_ULONG FileSize;
        SKF_ULONG ReadRights;
        SKF_ULONG WriteRights;
} SKF_FILEATTRIBUTE;
#pragma pack(pop)

/* SAR_* results. */
#define SAR_OK 0x00000000u
#define SAR_FAIL 0x0A000001u
#define SAR_UNKNOWNERR 0x0A000002u
#define SAR_NOTSUPPORTYETERR 0x0A000003u
#define SAR_FILEERR 0x0A000004u
#define SAR_INVALIDHANDLEERR 0x0A000005u
#define SAR_INVALIDPARAMERR 0x0A000006u
#define SAR_READFILEERR 0x0A000007u
#define SAR_WRITEFILEERR 0x0A000008u
#define SAR_NAMELENERR 0x0A000009u
#define SAR_KEYUSAGEERR 0x0A00000Au
#define SAR_MODULUSLENERR 0x0A00000Bu
#define SAR_NOTINITIALIZEERR 0x0A00000Cu
#define SAR_OBJERR 0x0A00000Du
#define SAR_MEMORYERR 0x0A00000Eu
#define SAR_TIMEOUTERR 0x0A00000Fu
#define SAR_INDATALENERR 0x0A000010u
#define SAR_INDATAERR 0x0A000011u
#define SAR_GENRANDERR 0x0A000012u
#define SAR_HASHOBJERR 0x0A000013u
#define SAR_HASHERR 0x0A000014u
#define SAR_GENRSAKEYERR 0x0A000015u
#define SAR_RSAMODULUSLENERR 0x0A000016u
#define SAR_CSPIMPRTPUBKEYERR 0x0A000017u
#define SAR_RSAENCERR 0x0A000018u
#define SAR_RSADECERR 0x0A000019u
#define SAR_HASHNOTEQUALERR 0x0A00001Au
#define SAR_KEYNOTFOUNTERR 0x0A00001Bu
#define SAR_CERTNOTFOUNTERR 0x0A00001Cu
#define SAR_NOTEXPORTERR 0x0A00001Du
#define SAR_DECRYPTPADERR 0x0A00001Eu
#define SAR_MACLENERR 0x0A00001Fu
#define SAR_BUFFER_TOO_SMALL 0x0A000020u
#define SAR_KEYINFOTYPEERR 0x0A000021u
#define SAR_NOT_EVENTERR 0x0A000022u
#define SAR_DEVICE_REMOVED 0x0A000023u
#define SAR_PIN_INCORRECT 0x0A000024u
#define SAR_PIN_LOCKED 0x0A000025u
#define SAR_PIN_INVALID 0x0A000026u
#define SAR_PIN_LEN_RANGE 0x0A000027u
#define SAR_USER_ALREADY_LOGGED_IN 0x0A000028u
#define SAR_USER_PIN_NOT_INITIALIZED 0x0A000029u
#define SAR_USER_TYPE_INVALID 0x0A00002Au
#define SAR_APPLICATION_NAME_INVALID 0x0A00002Bu
#define SAR_APPLICATION_EXISTS 0x0A00002Cu
#define SAR_USER_NOT_LOGGED_IN 0x0A00002Du
#define SAR_APPLICATION_NOT_EXISTS 0x0A00002Eu
#define SAR_FILE_ALREADY_EXIST 0x0A00002Fu
#define SAR_NO_ROOM 0x0A000030u
#define SAR_FILE_NOT_EXIST 0x0A000031u
#define SAR_REACH_MAX_CONTAINER_COUNT 0x0A000032u

/* The functions, as X(name, parameters): one list for the software token's
 * definitions and the backend's dlsym table. */
#define SKF_FUNCTIONS(X)                                                                                      \
        X(SKF_WaitForDevEvent, (SKF_CHAR * szDevName, SKF_ULONG * pulDevNameLen, SKF_ULONG * pulEvent))       \
        X(SKF_CancelWaitForDevEvent, (void))                                                                  \
        X(SKF_EnumDev, (SKF_BOOL bPresent, SKF_CHAR * szNameList, SKF_ULONG * pulSize))                       \
        X(SKF_ConnectDev, (SKF_CHAR * szName, SKF_HANDLE * phDev))                                            \
        X(SKF_DisConnectDev, (SKF_HANDLE hDev))                                                               \
        X(SKF_GetDevState, (SKF_CHAR * szDevName, SKF_ULONG * pulDevState))                                   \
        X(SKF_GetDevInfo, (SKF_HANDLE hDev, SKF_DEVINFO * pDevInfo))                                          \
        X(SKF_DevAuth, (SKF_HANDLE hDev, SKF_BYTE * pbAuthData, SKF_ULONG ulLen))                             \
        X(SKF_ChangePIN, (SKF_HANDLE hApp, SKF_ULONG ulPINType, SKF_CHAR * szOldPin, SKF_CHAR * szNewPin,     \
                          SKF_ULONG * pulRetryCount))                                                         \
        X(SKF_GetPINInfo, (SKF_HANDLE hApp, SKF_ULONG ulPINType, SKF_ULONG * pulMaxRetryCount,                \
                           SKF_ULONG * pulRemainRetryCount, SKF_BOOL * pbDefaultPin))                         \
        X(SKF_VerifyPIN, (SKF_HANDLE hApp, SKF_ULONG ulPINType, SKF_CHAR * szPIN, SKF_ULONG * pulRetryCount)) \
        X(SKF_UnblockPIN, (SKF_HANDLE hApp, SKF_CHAR * szAdminPIN, SKF_CHAR * szNewUserPIN,                   \
                           SKF_ULONG * pulRetryCount))                                                        \
        X(SKF_ClearSecureState, (SKF_HANDLE hApp))                                                            \
        X(SKF_CreateApplication, (SKF_HANDLE hDev, SKF_CHAR * szAppName, SKF_CHAR * szAdminPin,               \
                                  SKF_ULONG dwAdminPinRetryCount, SKF_CHAR * szUserPin,                       \
                                  SKF_ULONG dwUserPinRetryCount, SKF_ULONG dwCreateFileRights,                \
                                  SKF_HANDLE * phApp))                                                        \
        X(SKF_EnumApplication, (SKF_HANDLE hDev, SKF_CHAR * szAppName, SKF_ULONG * pulSize))                  \
        X(SKF_DeleteApplication, (SKF_HANDLE hDev, SKF_CHAR * szAppName))                                     \
        X(SKF_OpenApplication, (SKF_HANDLE hDev, SKF_CHAR * szAppName, SKF_HANDLE * phApp))                   \
        X(SKF_CloseApplication, (SKF_HANDLE hApp))                                                            \
        X(SKF_CreateFile, (SKF_HANDLE hApp, SKF_CHAR * szFileName, SKF_ULONG ulFileSize,                      \
                           SKF_ULONG ulReadRights, SKF_ULONG ulWriteRights))                                  \
        X(SKF_DeleteFile, (SKF_HANDLE hApp, SKF_CHAR * szFileName))                                           \
        X(SKF_EnumFiles, (SKF_HANDLE hApp, SKF_CHAR * szFileList, SKF_ULONG * pulSize))                       \
        X(SKF_GetFileInfo, (SKF_HANDLE hApp, SKF_CHAR * szFileName, SKF_FILEATTRIBUTE * pFileInfo))           \
        X(SKF_ReadFile, (SKF_HANDLE hApp, SKF_CHAR * szFileName, SKF_ULONG ulOffset, SKF_ULONG ulSize,        \
                         SKF_BYTE * pbOutData, SKF_ULONG * pulOutLen))                                        \
        X(SKF_WriteFile, (SKF_HANDLE hApp, SKF_CHAR * szFileName, SKF_ULONG ulOffset, SKF_BYTE * pbData,      \
                          SKF_ULONG ulSize))                                                                  \
        X(SKF_CreateContainer, (SKF_HANDLE hApp, SKF_CHAR * szName, SKF_HANDLE * phContainer))                \
        X(SKF_DeleteContainer, (SKF_HANDLE hApp, SKF_CHAR * szName))                                          \
        X(SKF_OpenContainer, (SKF_HANDLE hApp, SKF_CHAR * szName, SKF_HANDLE * phContainer))                  \
        X(SKF_CloseContainer, (SKF_HANDLE hContainer))                                                        \
        X(SKF_EnumContainer, (SKF_HANDLE hApp, SKF_CHAR * szNameList, SKF_ULONG * pulSize))                   \
        X(SKF_GetContainerType, (SKF_HANDLE hContainer, SKF_ULONG * pulContainerType))                        \
        X(SKF_ImportCertificate, (SKF_HANDLE hContainer, SKF_BOOL bSignFlag, SKF_BYTE * pbCert,               \
                                  SKF_ULONG ulCertLen))                                                       \
        X(SKF_ExportCertificate, (SKF_HANDLE hContainer, SKF_BOOL bSignFlag, SKF_BYTE * pbCert,               \
                                  SKF_ULONG * pulCertLen))                                                    \
        X(SKF_GenRandom, (SKF_HANDLE hDev, SKF_BYTE * pbRandom, SKF_ULONG ulRandomLen))                       \
        X(SKF_GenECCKeyPair, (SKF_HANDLE hContainer, SKF_ULONG ulAlgId, SKF_ECCPUBLICKEYBLOB * pBlob))        \
        X(SKF_ImportECCKeyPair, (SKF_HANDLE hContainer, SKF_ENVELOPEDKEYBLOB * pEnvelopedKeyBlob))            \
        X(SKF_ECCSignData, (SKF_HANDLE hContainer, SKF_BYTE * pbDigest, SKF_ULONG ulDigestLen,                \
                            SKF_ECCSIGNATUREBLOB * pSignature))                                               \
        X(SKF_ECCVerify, (SKF_HANDLE hDev, SKF_ECCPUBLICKEYBLOB * pPubKey, SKF_BYTE * pbData,                 \
                          SKF_ULONG ulDataLen, SKF_ECCSIGNATUREBLOB * pSignature))                            \
        X(SKF_ExtECCEncrypt, (SKF_HANDLE hDev, SKF_ECCPUBLICKEYBLOB * pPubKey, SKF_BYTE * pbPlainText,        \
                              SKF_ULONG ulPlainTextLen, SKF_ECCCIPHERBLOB * pCipherText))                     \
        X(SKF_ExportPublicKey, (SKF_HANDLE hContainer, SKF_BOOL bSignFlag, SKF_BYTE * pbBlob,                 \
                                SKF_ULONG * pulBlobLen))                                                      \
        X(SKF_ImportSessionKey, (SKF_HANDLE hContainer, SKF_ULONG ulAlgId, SKF_BYTE * pbWrapedData,           \
                                 SKF_ULONG ulWrapedLen, SKF_HANDLE * phKey))                                  \
        X(SKF_DecryptInit, (SKF_HANDLE hKey, SKF_BLOCKCIPHERPARAM DecryptParam))                              \
        X(SKF_Decrypt, (SKF_HANDLE hKey, SKF_BYTE * pbEncryptedData, SKF_ULONG ulEncryptedLen,                \
                        SKF_BYTE * pbData, SKF_ULONG * pulDataLen))                                           \
        X(SKF_DecryptUpdate, (SKF_HANDLE hKey, SKF_BYTE * pbEncryptedData, SKF_ULONG ulEncryptedLen,          \
                              SKF_BYTE * pbData, SKF_ULONG * pulDataLen))                                     \
        X(SKF_DecryptFinal, (SKF_HANDLE hKey, SKF_BYTE * pbDecryptedData, SKF_ULONG * pulDecryptedDataLen))   \
        X(SKF_CloseHandle, (SKF_HANDLE hHandle))
