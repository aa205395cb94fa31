// The customer's chat page: greet, start a verification session when asked, show its wallet
// invitation, follow the session over Server-Sent Events, then chat with the agent.
//
// Tokens live in this module's memory only (never in storage or URLs of the page itself).
// Messages are put on the page as text, never as HTML.

const root = document.documentElement;
const chatMode = root.dataset.chatMode; // "emulator" or "twilio"
const emulatorPath = root.dataset.emulatorPath || '/_twilio';

const $ = (id) => document.getElementById(id);
const ui = {
  start: $('start'), verify: $('verify'), verifyHeading: $('verify-heading'), invitation: $('invitation'),
  qr: $('qr'), deepLink: $('deep-link'), link: $('invitation-link'), copy: $('copy'), expiry: $('expiry'),
  code: $('confirmation-code'), confirmation: $('confirmation'), otherDevice: $('other-device'), sameDevice: $('same-device'),
  status: $('status'), problem: $('problem'), problemText: $('problem-text'), restart: $('restart'),
  chat: $('chat'), log: $('log'), messages: $('messages'), compose: $('compose'), message: $('message'), send: $('send'),
};

const STATUS = {
  starting: 'Starting a verification…',
  invited: 'Waiting for your wallet…',
  connected: 'Wallet connected',
  requested: 'Checking your credential…',
  verified: 'Verified. Connecting you to an agent…',
  waiting: 'Verified. Our chat service is slow to answer; still trying to connect you…',
  bound: 'Verified. You are connected: an agent will answer here.',
  closed: 'The chat has ended. Thank you for contacting us.',
  expired: 'This invitation expired before your wallet answered. Start again to get a new one.',
};

// Why a credential was refused, by the session's reason code.
const REASONS = {
  malformed: 'your wallet sent an answer we could not read',
  unsupported_format: 'your credential is in a format we do not accept',
  format_not_allowed: 'your credential is in a format we do not accept',
  missing_proof: 'your credential or your wallet’s answer is not signed',
  bad_signature: 'the signature on your credential could not be verified',
  challenge_mismatch: 'your wallet’s answer was not for this request',
  domain_mismatch: 'your wallet’s answer was meant for another service',
  replayed: 'your wallet’s answer had already been used',
  holder_mismatch: 'the credential does not belong to the wallet that presented it',
  issuer_mismatch: 'the credential’s issuer did not sign it',
  untrusted_issuer: 'we do not accept credentials from the issuer of yours',
  expired_credential: 'your credential has expired',
  not_yet_valid: 'your credential is not valid yet',
  missing_credential: 'your wallet had no credential of the kind we need',
  missing_claim: 'your credential lacks details we need',
  claim_constraint: 'details in your credential do not match what we need',
  unknown_context: 'your credential uses a vocabulary we do not know',
  disclosure_not_allowed: 'your credential lets you hide its validity dates or status, so we cannot rely on it; ask its issuer for a new one',
  credential_too_old: 'your credential is too old; get a fresh one from its issuer',
  revoked: 'your credential has been revoked by its issuer',
  suspended: 'your credential is suspended by its issuer',
  status_unavailable: 'we could not check that your credential is still valid',
  unsupported_did_method: 'we cannot look up the keys of your wallet or of your credential’s issuer',
  unresolvable_did: 'we could not look up the keys of your wallet or of your credential’s issuer',
  declined: 'you declined to share your credential in your wallet',
  confirmation_mismatch: 'your wallet showed a different code from the one on this page, so it shared nothing (if you scanned a code you were sent or shown elsewhere, someone may be trying to pass as you)',
  wallet_unreachable: 'we could not reach your wallet',
  internal_error: 'something went wrong on our side',
  predicate_failed: 'your credential does not prove a condition we need, such as your age',
  self_attested: 'your wallet typed in details we need from a credential',
  revocation_unsupported: 'we cannot check that your credential is still valid, so we cannot accept it',
};

function rejectedText(reason) {
  const why = REASONS[reason] || 'your credential was not accepted';
  const code = reason ? ` (reason: ${reason})` : '';
  return `We could not verify you: ${why}${code}. Start again, or contact us another way.`;
}

// --- state, in memory only ---------------------------------------------------------------

let session = null; // {id, token, eventsURL}
let events = null; // EventSource
let lastVersion = -1;
let chat = null; // {token, expiresAt, identity, sid}
let chatClient = null; // {send(text), updateToken(token), stop()}
let chatOpening = false;
let refreshTimer = 0;
let currentStatus = '';
let flashTimer = 0;
let nudgeTimer = 0; // while verified without a chat: read the session, which retries the chat
const seen = new Set();

// --- helpers -----------------------------------------------------------------------------

class HTTPError extends Error {
  constructor(status, body, retryAfter) {
    super(`HTTP ${status}${body && body.code ? ` ${body.code}` : ''}`);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

async function api(path, { method = 'GET', token } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { method, headers, cache: 'no-store', credentials: 'omit' });
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) throw new HTTPError(res.status, body, res.headers.get('Retry-After'));
  return body;
}

// ownOrigin makes a URL the service returned relative to this page's origin. They are the
// same service; in development the page may be open as 127.0.0.1 while the service's public
// URL says localhost, and the page's Content-Security-Policy allows its own origin only.
function ownOrigin(url) {
  const u = new URL(url, location.href);
  return u.origin === location.origin ? u.href : u.pathname + u.search;
}

function say(text) {
  currentStatus = text;
  clearTimeout(flashTimer);
  ui.status.textContent = text;
}

function flash(text) {
  ui.status.textContent = text;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { ui.status.textContent = currentStatus; }, 3000);
}

function fail(text) {
  say('');
  ui.problemText.textContent = text;
  ui.problem.hidden = false;
}

// sameDeviceLikely: a touch-first device (a phone or tablet), where a wallet app lives.
function sameDeviceLikely() {
  if (navigator.userAgentData && typeof navigator.userAgentData.mobile === 'boolean') return navigator.userAgentData.mobile;
  return window.matchMedia('(pointer: coarse)').matches || /Android|iPhone|iPad|iPod|Mobile/i.test(navigator.userAgent);
}

function markSteps(...ids) {
  for (const id of ids) $(`step-${id}`).classList.add('done');
}

// --- the verification ----------------------------------------------------------------------

async function start() {
  ui.start.disabled = true;
  ui.problem.hidden = true;
  say(STATUS.starting);
  let created;
  try {
    created = await api('/v1/sessions', { method: 'POST' });
  } catch (err) {
    ui.start.disabled = false;
    if (err instanceof HTTPError && err.status === 429) {
      fail(`Too many attempts from here. Please wait ${err.retryAfter || 'a few'} seconds and try again.`);
    } else {
      fail('We could not start the verification. Please try again in a moment.');
    }
    return;
  }
  session = { id: created.id, token: created.session_token, eventsURL: ownOrigin(created.events_url) };
  if (created.confirmation_code) {
    ui.code.textContent = created.confirmation_code;
    ui.confirmation.hidden = false;
  } else {
    ui.confirmation.hidden = true;
  }
  // On a phone the wallet is most likely on the same device: offer the deep link first (a
  // same-device flow has no QR code for somebody else to show). On a desktop, the QR code.
  if (sameDeviceLikely()) ui.invitation.insertBefore(ui.sameDevice, ui.otherDevice);
  else ui.invitation.insertBefore(ui.otherDevice, ui.sameDevice);
  ui.qr.src = ownOrigin(created.qr_svg_url);
  ui.deepLink.href = created.deep_link;
  ui.link.value = created.invitation_url;
  const expires = new Date(created.expires_at);
  ui.expiry.textContent = `This invitation expires at ${expires.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}.`;
  ui.start.hidden = true;
  ui.invitation.hidden = false;
  ui.verify.hidden = false;
  ui.verifyHeading.setAttribute('tabindex', '-1');
  ui.verifyHeading.focus();
  say(STATUS.invited);
  follow();
}

function follow() {
  const sep = session.eventsURL.includes('?') ? '&' : '?';
  events = new EventSource(`${session.eventsURL}${sep}token=${encodeURIComponent(session.token)}`);
  events.addEventListener('status', (msg) => {
    let ev;
    try { ev = JSON.parse(msg.data); } catch { return; }
    if (typeof ev.version === 'number') {
      if (ev.version <= lastVersion) return; // a reconnection repeats the current state
      lastVersion = ev.version;
    }
    onStatus(ev);
  });
  events.onerror = () => {
    if (events && events.readyState === EventSource.CLOSED) {
      // Refused (expired token, unknown session): ask the session itself what happened.
      stopEvents();
      api(`/v1/sessions/${encodeURIComponent(session.id)}`, { token: session.token })
        .then((s) => onStatus({ status: s.status, reason: s.reason }))
        .catch(() => fail('We lost track of your verification. Please start again.'));
    }
  };
}

function stopEvents() {
  if (events) events.close();
  events = null;
}

// nudgeChat reads the session every few seconds while it is verified but its chat could not be
// opened: each read makes the service try again, and the event stream reports the outcome.
function nudgeChat() {
  clearTimeout(nudgeTimer);
  nudgeTimer = setTimeout(async () => {
    try {
      const s = await api(`/v1/sessions/${encodeURIComponent(session.id)}`, { token: session.token });
      if (s.status === 'verified') nudgeChat();
    } catch (err) {
      if (!(err instanceof HTTPError) || err.status >= 500 || err.status === 429) nudgeChat();
    }
  }, 2000);
}

function onStatus(ev) {
  if (ev.status !== 'verified') clearTimeout(nudgeTimer);
  switch (ev.status) {
    case 'created':
    case 'invited':
      say(STATUS.invited);
      break;
    case 'connected':
      markSteps('connected');
      say(STATUS.connected);
      break;
    case 'requested':
      markSteps('connected');
      say(STATUS.requested);
      break;
    case 'verified':
      markSteps('connected', 'verified');
      ui.invitation.hidden = true;
      say(ev.chat_error ? STATUS.waiting : STATUS.verified);
      if (ev.chat_error) nudgeChat();
      break;
    case 'bound':
      markSteps('connected', 'verified');
      ui.invitation.hidden = true;
      openChat();
      break;
    case 'closed':
      stopEvents();
      endChat(STATUS.closed);
      break;
    case 'rejected':
      stopEvents();
      ui.invitation.hidden = true;
      fail(rejectedText(ev.reason));
      break;
    case 'expired':
      stopEvents();
      ui.invitation.hidden = true;
      fail(STATUS.expired);
      break;
    default:
      break;
  }
}

// --- the chat ------------------------------------------------------------------------------

function chatFrom(c) {
  return {
    token: c.token, expiresAt: Date.parse(c.token_expires_at), identity: c.identity,
    sid: c.conversation_sid, channelSid: c.channel_sid || '',
  };
}

// fetchChat reads the bound session: its chat and a freshly minted access token.
async function fetchChat() {
  for (let attempt = 0; ; attempt++) {
    const s = await api(`/v1/sessions/${encodeURIComponent(session.id)}`, { token: session.token });
    if (s.chat) return chatFrom(s.chat);
    if (s.status !== 'bound' || attempt >= 10) throw new Error(`session is ${s.status}, without a chat`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

// freshChatToken asks for a new access token for the chat (POST …/chat-token, which mints one
// only while the verified identity stands); a service without that route is read again.
async function freshChatToken() {
  try {
    return chatFrom(await api(`/v1/sessions/${encodeURIComponent(session.id)}/chat-token`, { method: 'POST', token: session.token }));
  } catch (err) {
    if (err instanceof HTTPError && (err.status === 404 || err.status === 405)) return fetchChat();
    throw err;
  }
}

async function openChat() {
  if (chatOpening || chatClient) return;
  chatOpening = true;
  say(STATUS.verified);
  try {
    chat = await fetchChat();
    ui.chat.hidden = false;
    chatClient = chatMode === 'twilio' ? await twilioChat() : emulatorChat();
    markSteps('agent');
    ui.message.disabled = false;
    ui.send.disabled = false;
    say(STATUS.bound);
    scheduleRefresh();
    ui.message.focus();
  } catch (err) {
    fail(`You are verified, but the chat could not be opened (${err.message}). Please reload the page and start again.`);
  } finally {
    chatOpening = false;
  }
}

function endChat(text) {
  clearTimeout(refreshTimer);
  if (chatClient) chatClient.stop();
  chatClient = null;
  ui.message.disabled = true;
  ui.send.disabled = true;
  say(text);
}

// The chat token is renewed two minutes before it expires (at most every 15 seconds).
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const wait = Math.max(15000, chat.expiresAt - Date.now() - 120000);
  refreshTimer = setTimeout(refreshToken, wait);
}

// Why a chat token is no longer given, by the problem's code.
const TOKEN_REFUSED = {
  no_chat: STATUS.closed,
  identity_expired: 'Your credential has expired. Start again to prove who you are once more.',
  identity_erased: 'Your verified identity was erased. Start again to prove who you are once more.',
  invalid_token: 'Your session has ended. Start again to keep chatting.',
  unauthorized: 'Your session has ended. Start again to keep chatting.',
};

let refreshing = null;
function refreshToken() {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const fresh = await freshChatToken();
        chat.token = fresh.token;
        chat.expiresAt = fresh.expiresAt;
        if (chatClient) await chatClient.updateToken(fresh.token);
        scheduleRefresh();
      } catch (err) {
        const code = err instanceof HTTPError && err.body ? err.body.code : '';
        if (err instanceof HTTPError && err.status >= 400 && err.status < 500 && TOKEN_REFUSED[code]) {
          endChat(TOKEN_REFUSED[code]);
          if (code !== 'no_chat') fail(TOKEN_REFUSED[code]);
        } else {
          clearTimeout(refreshTimer);
          refreshTimer = setTimeout(refreshToken, 15000);
        }
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

function addMessage(m) {
  if (m.key === undefined || m.key === null || seen.has(m.key)) return;
  seen.add(m.key);
  const li = document.createElement('li');
  li.className = 'message';
  li.dataset.index = String(m.key);
  const who = document.createElement('span');
  who.className = 'who';
  if (m.author === chat.identity) {
    li.classList.add('from-me');
    who.textContent = 'You';
  } else if (m.author === 'system') {
    li.classList.add('from-bot');
    who.textContent = 'Notice';
  } else {
    li.classList.add('from-agent');
    who.textContent = 'Agent';
  }
  const body = document.createElement('p');
  body.textContent = m.body || '';
  li.append(who, body);
  if (m.date && !Number.isNaN(m.date.getTime())) {
    const time = document.createElement('time');
    time.dateTime = m.date.toISOString();
    time.textContent = m.date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    li.append(time);
  }
  const later = [...ui.messages.children].find((el) => Number(el.dataset.index) > m.key);
  ui.messages.insertBefore(li, later || null);
  ui.log.scrollTop = ui.log.scrollHeight;
}

// emulatorChat talks to the built-in Twilio emulator's REST API with the customer's access
// token, as Twilio's SDK would talk to Twilio: it lists the chat's latest messages every second
// and posts the customer's. A Flex Flow chat is a Programmable Chat channel of the service the
// token grants; any other is a Conversation.
function emulatorChat() {
  const base = chat.channelSid
    ? `${emulatorPath}/chat/v2/Services/${encodeURIComponent(chatServiceOf(chat.token))}/Channels/${encodeURIComponent(chat.channelSid)}/Messages`
    : `${emulatorPath}/conversations/v1/Conversations/${encodeURIComponent(chat.sid)}/Messages`;
  let timer = 0;
  let stopped = false;

  async function call(method, body, retried) {
    const url = method === 'GET' ? `${base}?Order=desc&PageSize=50` : base;
    const res = await fetch(url, {
      method, body, cache: 'no-store', credentials: 'omit',
      headers: { Authorization: `Bearer ${chat.token}`, Accept: 'application/json' },
    });
    if (res.status === 401 && !retried) {
      await refreshToken();
      return call(method, body, true);
    }
    if (!res.ok) throw new HTTPError(res.status, null, null);
    return res.json();
  }
  const fromREST = (m) => ({ key: m.index, author: m.author ?? m.from, body: m.body, date: new Date(m.date_created) });

  async function poll() {
    try {
      const page = await call('GET');
      for (const m of [...page.messages].reverse()) addMessage(fromREST(m));
      if (ui.status.textContent === 'Reconnecting to the chat…') say(STATUS.bound);
    } catch {
      if (!stopped) ui.status.textContent = 'Reconnecting to the chat…';
    }
    if (!stopped) timer = setTimeout(poll, 1000);
  }
  poll();

  return {
    async send(text) {
      addMessage(fromREST(await call('POST', new URLSearchParams({ Body: text }))));
    },
    async updateToken() { /* every call reads chat.token */ },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

// chatServiceOf reads the chat service SID an access token grants (its payload is plain JSON).
function chatServiceOf(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload)).grants.chat.service_sid;
  } catch {
    throw new Error('the chat token names no chat service');
  }
}

// twilioChat uses Twilio's Conversations JavaScript SDK, loaded from Twilio's CDN only now.
async function twilioChat() {
  await loadTwilioSDK();
  const client = new window.Twilio.Conversations.Client(chat.token);
  await new Promise((resolve, reject) => {
    client.on('initialized', resolve);
    client.on('initFailed', ({ error } = {}) => reject(new Error(error ? error.message : 'Twilio did not accept the connection')));
  });
  client.on('tokenAboutToExpire', () => { refreshToken(); });
  client.on('tokenExpired', () => { refreshToken(); });
  client.on('connectionStateChanged', (state) => {
    if (state === 'connecting' || state === 'disconnected') ui.status.textContent = 'Reconnecting to the chat…';
    if (state === 'connected') say(STATUS.bound);
  });
  const conversation = await client.getConversationBySid(chat.sid);
  const fromSDK = (m) => ({ key: m.index, author: m.author, body: m.body, date: m.dateCreated });
  conversation.on('messageAdded', (m) => addMessage(fromSDK(m)));
  const page = await conversation.getMessages(50);
  for (const m of page.items) addMessage(fromSDK(m));
  return {
    async send(text) { await conversation.sendMessage(text); },
    async updateToken(token) { await client.updateToken(token); },
    stop() { client.shutdown(); },
  };
}

function loadTwilioSDK() {
  if (window.Twilio && window.Twilio.Conversations) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = root.dataset.sdkUrl;
    script.integrity = root.dataset.sdkIntegrity;
    script.crossOrigin = 'anonymous';
    script.referrerPolicy = 'no-referrer';
    script.onload = () => resolve();
    script.onerror = () => reject(new Error('Twilio’s chat library did not load'));
    document.head.append(script);
  });
}

// --- wiring --------------------------------------------------------------------------------

function restart() {
  stopEvents();
  endChat('');
  session = null;
  chat = null;
  lastVersion = -1;
  seen.clear();
  ui.messages.replaceChildren();
  ui.chat.hidden = true;
  ui.verify.hidden = true;
  ui.problem.hidden = true;
  for (const li of document.querySelectorAll('.steps li')) li.classList.remove('done');
  ui.start.hidden = false;
  start();
}

ui.start.addEventListener('click', start);
ui.restart.addEventListener('click', restart);

ui.copy.addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(ui.link.value);
    flash('Invitation link copied.');
  } catch {
    ui.link.select();
    flash('Select the link and copy it.');
  }
});

ui.compose.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = ui.message.value.trim();
  if (!text || !chatClient) return;
  ui.send.disabled = true;
  try {
    await chatClient.send(text);
    ui.message.value = '';
  } catch {
    flash('Your message was not sent. Please try again.');
  } finally {
    if (chatClient) ui.send.disabled = false;
    ui.message.focus();
  }
});
