/**
 * What the plugin reads from Flex: the service URL, the agent's token and a task's chat SID.
 * Types here are the small parts of Flex's Manager and ITask the plugin uses, so that tests
 * can pass plain objects; the real Manager and ITask satisfy them.
 */

/** The part of Flex's Manager the plugin reads. */
export interface AgentSession {
  readonly user?: { readonly token?: string } | null;
  readonly store?: { getState(): unknown };
  readonly serviceConfiguration?: { readonly ui_attributes?: unknown } | null;
}

/** The part of Flex's ITask the plugin reads. */
export interface TaskLike {
  readonly attributes?: unknown;
  readonly taskChannelUniqueName?: string;
  readonly channelType?: string;
}

/** The service's base URL, or why there is none. */
export type ServiceUrl = { readonly url: string } | { readonly problem: 'not_configured' | 'invalid' };

/**
 * resolveServiceUrl picks the service URL: the Flex UI configuration attribute
 * `hearro.serviceUrl` first, else the build-time FLEX_APP_HEARRO_URL (passed in as envUrl).
 * Only https URLs (http for localhost) without credentials, query or fragment are accepted.
 */
export function resolveServiceUrl(uiAttributes: unknown, envUrl: string | undefined): ServiceUrl {
  const fromFlex = field(field(uiAttributes, 'hearro'), 'serviceUrl');
  const raw = typeof fromFlex === 'string' && fromFlex.trim() !== '' ? fromFlex : envUrl;
  if (typeof raw !== 'string' || raw.trim() === '') {
    return { problem: 'not_configured' };
  }
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return { problem: 'invalid' };
  }
  const local = u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]';
  if (!(u.protocol === 'https:' || (u.protocol === 'http:' && local)) || u.username || u.password || u.search || u.hash) {
    return { problem: 'invalid' };
  }
  return { url: u.origin + u.pathname.replace(/\/+$/, '') };
}

/** agentToken is the agent's Flex token: manager.user.token, else the SSO session's. */
export function agentToken(session: AgentSession): string | undefined {
  const token = session.user?.token;
  if (typeof token === 'string' && token !== '') {
    return token;
  }
  const state = session.store?.getState();
  const sso = field(field(field(field(state, 'flex'), 'session'), 'ssoTokenPayload'), 'token');
  return typeof sso === 'string' && sso !== '' ? sso : undefined;
}

const SID = /^[A-Za-z0-9]{3,64}$/;

/**
 * chatSid is the SID of the task's chat: its `conversationSid` attribute (Flex
 * Conversations), else `channelSid` (legacy Flex Flow chat) when the task is on the chat
 * channel. Undefined when the task is not a chat or the SID does not look like one.
 */
export function chatSid(task: TaskLike | undefined): string | undefined {
  const attrs = attributesOf(task);
  const conv = field(attrs, 'conversationSid');
  if (typeof conv === 'string') {
    return SID.test(conv) ? conv : undefined;
  }
  const isChat = task?.taskChannelUniqueName === 'chat' || task?.channelType === 'chat';
  const channel = field(attrs, 'channelSid');
  return isChat && typeof channel === 'string' && SID.test(channel) ? channel : undefined;
}

/** attributesOf is a task's attributes as an object (Flex may hand them over as a JSON string). */
export function attributesOf(task: TaskLike | undefined): unknown {
  const attrs = task?.attributes;
  if (typeof attrs === 'string') {
    try {
      return JSON.parse(attrs);
    } catch {
      return undefined;
    }
  }
  return attrs;
}

/** verificationOf is the task's `verification` attribute, as found (not yet parsed). */
export function verificationOf(task: TaskLike | undefined): unknown {
  return field(attributesOf(task), 'verification');
}

/** field reads an own property of an object; undefined for anything else. */
function field(obj: unknown, key: string): unknown {
  if (typeof obj !== 'object' || obj === null || !Object.prototype.hasOwnProperty.call(obj, key)) {
    return undefined;
  }
  return (obj as Record<string, unknown>)[key];
}
