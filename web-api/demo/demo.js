// The demo portal: lists the tokens and certificates the daemon sees, the way
// the legacy portals showed 证书KEY号, validity and the expiry warning.
const params = new URLSearchParams(location.search);
const daemon = params.get('daemon') || 'http://127.0.0.1:27182';
const statusText = {
  valid: '有效 valid', expiring: '即将过期 expiring', expired: '已过期 expired', notYetValid: '尚未生效 not yet valid',
};

document.getElementById('daemon-url').textContent = daemon;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, attrs);
  e.append(...children);
  return e;
}

function certRow(c) {
  return el('tr', {},
    el('td', {}, c.subjectFields.CN ?? c.subject),
    el('td', {}, c.subjectFields.O ?? ''),
    el('td', {}, `${c.keyType} ${c.keyBits ?? ''} ${c.curve ?? ''}`),
    el('td', {}, c.usage ?? ''),
    el('td', {}, c.notBefore.slice(0, 10)),
    el('td', {}, c.notAfter.slice(0, 10)),
    el('td', { className: `status-${c.status}` }, `${statusText[c.status]} (${c.daysLeft})`));
}

function tokenBox(t) {
  const head = el('tr', {}, ...['证书 CN', '单位 O', '密钥 key', '用途 usage', '生效 from', '到期 until', '状态 status']
    .map((h) => el('th', {}, h)));
  return el('div', { className: 'token' },
    el('h3', {}, `${t.label} `, el('small', {}, `${t.manufacturer} ${t.model}`)),
    el('p', {}, `证书KEY号 / serial: `, el('code', {}, t.serial), `  · id: `, el('code', {}, t.id),
      `  · PIN: ${t.pin.status}`),
    el('table', {}, head, ...t.certificates.map(certRow)));
}

async function refresh() {
  const state = document.getElementById('state');
  const box = document.getElementById('tokens');
  state.textContent = '…';
  try {
    const resp = await fetch(`${daemon}/v1/tokens`, { targetAddressSpace: 'loopback' });
    const body = await resp.json();
    if (!resp.ok) throw new Error(`${body.error.code}: ${body.error.message}`);
    state.textContent = '已连接 connected';
    box.replaceChildren(...(body.tokens.length ? body.tokens.map(tokenBox) : [el('p', {}, '未检测到证书介质 / no token')]));
  } catch (e) {
    state.textContent = '';
    box.replaceChildren(el('p', { className: 'error' }, `无法连接证书助手 / cannot reach keybridged: ${e.message}`));
  }
}

document.getElementById('refresh').addEventListener('click', refresh);
refresh();
