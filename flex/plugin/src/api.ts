/**
 * The one call the plugin makes: GET {serviceUrl}/v1/agent/chats/{chatSid}/verification,
 * authorised by the agent's Flex token. The request carries the chat SID in the path and the
 * token in the Authorization header, and nothing else: no claims, no names, no query.
 */
import { parseVerification, Verification } from './verification';

/** What the service said, as the panel shows it. */
export type Lookup =
  | { readonly kind: 'summary'; readonly verification: Verification }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'unauthorized' }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'error'; readonly status: number }
  | { readonly kind: 'aborted' };

export const DEFAULT_TIMEOUT_MS = 5000;

export interface LookupRequest {
  readonly serviceUrl: string;
  readonly chatSid: string;
  readonly token: string;
  /** Aborts the request (the panel unmounting). */
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** verificationUrl is the agent route of a chat. */
export function verificationUrl(serviceUrl: string, chatSid: string): string {
  return `${serviceUrl}/v1/agent/chats/${encodeURIComponent(chatSid)}/verification`;
}

/**
 * lookupVerification asks the service for a chat's summary. It never throws: a network
 * error or the timeout is `unavailable`, the caller's abort is `aborted`.
 */
export async function lookupVerification(req: LookupRequest): Promise<Lookup> {
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort();
  if (req.signal?.aborted) {
    return { kind: 'aborted' };
  }
  req.signal?.addEventListener('abort', onAbort);
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, req.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  try {
    const res = await fetch(verificationUrl(req.serviceUrl, req.chatSid), {
      method: 'GET',
      headers: { Authorization: `Bearer ${req.token}` },
      signal: controller.signal,
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
    switch (res.status) {
      case 200: {
        let body: unknown;
        try {
          body = await res.json();
        } catch {
          if (controller.signal.aborted) {
            return timedOut ? { kind: 'unavailable' } : { kind: 'aborted' };
          }
          body = undefined; // not JSON: invalid, never verified
        }
        const verification = parseVerification(body);
        return { kind: 'summary', verification: verification.state === 'missing' ? { state: 'invalid' } : verification };
      }
      case 401:
        return { kind: 'unauthorized' };
      case 404:
        return { kind: 'not_found' };
      default:
        return res.status === 429 || res.status >= 500 ? { kind: 'unavailable' } : { kind: 'error', status: res.status };
    }
  } catch {
    if (req.signal?.aborted && !timedOut) {
      return { kind: 'aborted' };
    }
    return { kind: 'unavailable' };
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener('abort', onAbort);
  }
}
