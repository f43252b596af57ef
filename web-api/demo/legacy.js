// A portal's page as it was written for the old ActiveX control (an
// XTXAppCOM-like object, GM/T 0020's SOF_* calls): global functions, the
// control object XTXAPP, "name||id&&&" user lists, the error number from
// SOF_GetLastError. Moved to keybridge with one change only: each call
//     x = XTXAPP.SOF_...(...)   became   x = await XTXAPP.SOF_...(...)
// (so its function became async). XTXAPP is the stand-in legacy.html makes
// with install() of keybridge-sof.js. T() and LastErrorText() are the demo's
// bilingual texts, which the old page had as Chinese strings.

var strSignCert = "";       // the exported signing certificate (base64)
var strEncCert = "";        // the exported encryption certificate (base64)
var strPlainText = "";      // what was sealed, to compare with what is opened

function GetObj(id) {
    return document.getElementById(id);
}

function SetResult(id, text, ok) {
    var obj = GetObj(id);
    obj.innerText = text;
    obj.className = "result " + (ok === false ? "error" : "ok");
    obj.removeAttribute("data-code");
}

// The old page's error line: what failed and SOF_GetLastError()'s number.
async function ShowError(id, strFunc) {
    var nError = await XTXAPP.SOF_GetLastError();
    var strError = "0x" + ("00000000" + nError.toString(16).toUpperCase()).slice(-8);
    SetResult(id, T().lgFailed(strFunc, strError) + LastErrorText(), false);
    GetObj(id).setAttribute("data-code", LastErrorCode());
}

function SelectedCertID() {
    var obj = GetObj("UserList");
    if (obj.selectedIndex < 0) {
        return "";
    }
    return obj.options[obj.selectedIndex].value;
}

function Base64Length(strBase64) {
    return Math.floor(strBase64.length * 3 / 4) - (strBase64.match(/=*$/)[0].length);
}

// ---- the user list and login ----

async function GetUserList() {
    var strUserList = await XTXAPP.SOF_GetUserList();
    var objList = GetObj("UserList");
    objList.options.length = 0;
    if (strUserList == "" && await XTXAPP.SOF_GetLastError() != 0) {
        await ShowError("UsersResult", "SOF_GetUserList");
        return;
    }
    var arrUsers = strUserList.split("&&&");
    for (var i = 0; i < arrUsers.length; i++) {
        if (arrUsers[i] == "") {
            continue;
        }
        var arrUser = arrUsers[i].split("||");
        objList.options.add(new Option(arrUser[0], arrUser[1]));
    }
    if (objList.options.length == 0) {
        SetResult("UsersResult", T().lgNoUser, false);
        return;
    }
    SetResult("UsersResult", T().lgUsersFound(objList.options.length));
    UserChanged();
}

function UserChanged() {
    strSignCert = strEncCert = "";
    GetObj("SignCert").value = GetObj("EncCert").value = GetObj("Envelope").value = GetObj("Decrypted").value = "";
    GetObj("CertInfo").innerHTML = "";
}

async function Login() {
    var strCertID = SelectedCertID();
    if (strCertID == "") {
        SetResult("UsersResult", T().lgPickUser, false);
        return;
    }
    // the PIN is typed into keybridge's own dialog: the page passes none
    var bRet = await XTXAPP.SOF_Login(strCertID, "");
    if (!bRet) {
        await ShowError("UsersResult", "SOF_Login");
        return;
    }
    var nRetry = await XTXAPP.SOF_GetPinRetryCount(strCertID);
    SetResult("UsersResult", T().lgLoginOk(nRetry));
}

// ---- certificates ----

async function ExportCert() {
    var strCertID = SelectedCertID();
    strSignCert = await XTXAPP.SOF_ExportUserCert(strCertID);
    GetObj("SignCert").value = strSignCert;
    if (strSignCert == "") {
        await ShowError("CertResult", "SOF_ExportUserCert");
        return;
    }
    await ShowCertInfo(strSignCert);
    SetResult("CertResult", T().lgExported(Base64Length(strSignCert)));
}

async function ShowCertInfo(strCert) {
    var arrItems = [["version", XTXAPP.SGD_CERT_VERSION], ["serial", XTXAPP.SGD_CERT_SERIAL],
        ["issuer", XTXAPP.SGD_CERT_ISSUER], ["subject", XTXAPP.SGD_CERT_SUBJECT],
        ["cn", XTXAPP.SGD_CERT_SUBJECT_CN], ["o", XTXAPP.SGD_CERT_SUBJECT_O],
        ["notBefore", XTXAPP.SGD_CERT_NOTBEFORE_TIME], ["notAfter", XTXAPP.SGD_CERT_NOTAFTER_TIME]];
    var objTable = GetObj("CertInfo");
    objTable.innerHTML = "";
    for (var i = 0; i < arrItems.length; i++) {
        var strValue = await XTXAPP.SOF_GetCertInfo(strCert, arrItems[i][1]);
        var objRow = objTable.insertRow(-1);
        objRow.setAttribute("data-item", arrItems[i][0]);
        objRow.appendChild(document.createElement("th")).innerText = T().lgInfo[arrItems[i][0]];
        objRow.insertCell(-1).innerText = strValue;
    }
}

async function ExportEncCert() {
    strEncCert = await XTXAPP.SOF_ExportExChangeUserCert(SelectedCertID());
    GetObj("EncCert").value = strEncCert;
    if (strEncCert == "") {
        await ShowError("CertResult", "SOF_ExportExChangeUserCert");
        return;
    }
    SetResult("CertResult", T().lgExported(Base64Length(strEncCert)));
}

// ---- signatures ----

async function SignData() {
    var strSignValue = await XTXAPP.SOF_SignData(SelectedCertID(), GetObj("SignText").value);
    ShowSignValue(strSignValue, "SOF_SignData");
}

async function SignMessage() {
    var strSignValue = await XTXAPP.SOF_SignMessage(0, SelectedCertID(), GetObj("SignText").value);
    ShowSignValue(strSignValue, "SOF_SignMessage");
}

async function ShowSignValue(strSignValue, strFunc) {
    GetObj("SignValue").value = strSignValue;
    if (strSignValue == "") {
        await ShowError("SignResult", strFunc);
        return;
    }
    SetResult("SignResult", T().lgSigned(Base64Length(strSignValue)));
}

// ---- the digital envelope ----

async function EncryptData() {
    if (strEncCert == "") {
        SetResult("EnvResult", T().lgNoEncCert, false);
        return;
    }
    strPlainText = GetObj("PlainText").value;
    var strEnvelope = await XTXAPP.SOF_EncryptData(strEncCert, strPlainText);
    GetObj("Envelope").value = strEnvelope;
    GetObj("Decrypted").value = "";
    if (strEnvelope == "") {
        await ShowError("EnvResult", "SOF_EncryptData");
        return;
    }
    SetResult("EnvResult", T().lgEncrypted(Base64Length(strEnvelope)));
}

async function DecryptData() {
    var strEnvelope = GetObj("Envelope").value;
    if (strEnvelope == "") {
        SetResult("EnvResult", T().lgNoEnvelope, false);
        return;
    }
    var strPlain = await XTXAPP.SOF_DecryptData(SelectedCertID(), strEnvelope);
    GetObj("Decrypted").value = strPlain;
    if (strPlain == "" && await XTXAPP.SOF_GetLastError() != 0) {
        await ShowError("EnvResult", "SOF_DecryptData");
        return;
    }
    SetResult("EnvResult", strPlain == strPlainText ? T().lgDecrypted : T().lgDecryptedDiff, strPlain == strPlainText);
}

// ---- random ----

async function GenRandom() {
    GetObj("RandomValue").innerText = await XTXAPP.SOF_GenRandom(16);
}

window.onload = async function () {
    GetObj("SignText").value = GetObj("PlainText").value = T().signData;
    GetObj("Version").innerText = await XTXAPP.SOF_GetVersion();
    await GetUserList();
};
