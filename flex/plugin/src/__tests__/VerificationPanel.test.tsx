import React from 'react';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';

import { VerificationPanel } from '../components/VerificationPanel';
import { VerifiedBadge } from '../components/VerifiedBadge';
import { AgentSession, ServiceUrl, TaskLike } from '../config';

const SERVICE_URL = 'https://trust.example';
const service: ServiceUrl = { url: SERVICE_URL };
const manager: AgentSession = { user: { token: 'flex-jwe-token' } };
const CHAT = 'CH0123456789abcdef0123456789abcdef';

const summary = {
  verified: true,
  issuer: 'did:web:bank.example',
  issuer_name: 'Example Bank',
  credential_type: 'VerifiedCustomer',
  assurance: 'substantial',
  verified_at: '2026-12-06T07:00:00Z',
  claims: { givenName: 'Ada', familyName: 'Lovelace' },
};

const fetchMock = jest.fn();

beforeEach(() => {
  fetchMock.mockReset();
  (globalThis as { fetch?: unknown }).fetch = fetchMock;
});

afterEach(() => {
  cleanup();
  delete (globalThis as { fetch?: unknown }).fetch;
});

function respond(status: number, body: unknown): Response {
  return {
    status,
    ok: status >= 200 && status < 300,
    json: async () => body,
  } as Response;
}

function problem(status: number, code: string): Response {
  return respond(status, { type: 'about:blank', status, code, title: code });
}

function chatTask(extra: Record<string, unknown> = {}): TaskLike {
  return { taskChannelUniqueName: 'chat', attributes: { conversationSid: CHAT, name: 'Ada L.', ...extra } };
}

function renderPanel(task: TaskLike, props: Partial<React.ComponentProps<typeof VerificationPanel>> = {}) {
  return render(<VerificationPanel task={task} manager={manager} service={service} locale="en-GB" {...props} />);
}

function statusText(): string {
  return screen.getByRole('status').textContent ?? '';
}

describe('VerificationPanel', () => {
  it('verified/shows issuer name, type, assurance, date and claims; the DID only on demand', () => {
    renderPanel(chatTask({ verification: summary }));

    expect(statusText()).toContain('Verified customer');
    expect(screen.getByText('Example Bank')).toBeTruthy();
    expect(screen.getByText('VerifiedCustomer')).toBeTruthy();
    expect(screen.getByText('substantial')).toBeTruthy();
    const time = screen.getByText('6 Dec 2026, 07:00');
    expect(time.tagName).toBe('TIME');
    expect(time.getAttribute('title')).toBe('2026-12-06T07:00:00Z');
    expect(time.getAttribute('datetime')).toBe('2026-12-06T07:00:00Z');
    expect(screen.getByText('Given name').nextElementSibling?.textContent).toBe('Ada');
    expect(screen.getByText('Family name').nextElementSibling?.textContent).toBe('Lovelace');
    expect(screen.getByText('Ada L.')).toBeTruthy();

    expect(screen.queryByText('did:web:bank.example')).toBeNull();
    const show = screen.getByRole('button', { name: 'Show DID' });
    expect(show.getAttribute('aria-expanded')).toBe('false');
    fireEvent.click(show);
    const did = screen.getByText('did:web:bank.example');
    expect(screen.getByRole('button', { name: 'Hide DID' }).getAttribute('aria-controls')).toBe(did.id);
    fireEvent.click(screen.getByRole('button', { name: 'Hide DID' }));
    expect(screen.queryByText('did:web:bank.example')).toBeNull();

    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('verified/no issuer_name reads "Unnamed issuer"; a JSON string attribute is read', () => {
    const { issuer_name: _omit, ...rest } = summary;
    renderPanel(chatTask({ verification: JSON.stringify(rest) }));
    expect(statusText()).toContain('Verified customer');
    expect(screen.getByText('Unnamed issuer')).toBeTruthy();
  });

  it('failed/shows the reason and its code, and nothing says Verified', () => {
    const task = chatTask({ verification: { verified: false, reason: 'credential_revoked' } });
    const { container } = renderPanel(task);
    render(<VerifiedBadge task={task} />, { container: document.body.appendChild(document.createElement('div')) });

    expect(statusText()).toBe('Verification failed: The credential has been revoked (credential_revoked)');
    expect(document.body.textContent).not.toMatch(/Verified/);
    expect(container.querySelector('dl')).toBeNull();
    expect(screen.queryByTestId('hearro-verified-badge')).toBeNull();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it.each([
    ['verified is the string "true"', { ...summary, verified: 'true' }],
    ['verified is 1', { ...summary, verified: 1 }],
    ['claims is not an object', { ...summary, claims: 'givenName=Ada' }],
    ['unparseable JSON', '{"verified":true'],
  ])('malformed/%s shows Not verified, no details, no request', (_name, verification) => {
    const task = chatTask({ verification });
    renderPanel(task);
    render(<VerifiedBadge task={task} />, { container: document.body.appendChild(document.createElement('div')) });

    expect(statusText()).toBe('Not verified');
    expect(document.body.textContent).not.toMatch(/Verified/);
    expect(screen.queryByText('Ada')).toBeNull();
    expect(screen.queryByTestId('hearro-verified-badge')).toBeNull();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('missing on a chat/asks the service with the chat SID and the token only, then shows the summary', async () => {
    fetchMock.mockResolvedValueOnce(respond(200, summary));
    renderPanel(chatTask());

    expect(statusText()).toBe('Checking verification…');
    await waitFor(() => expect(statusText()).toContain('Verified customer'));
    expect(screen.getByText('Example Bank')).toBeTruthy();
    expect(screen.getByText('Given name').nextElementSibling?.textContent).toBe('Ada');

    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe(`${SERVICE_URL}/v1/agent/chats/${CHAT}/verification`);
    expect(init.method).toBe('GET');
    expect(init.headers).toEqual({ Authorization: 'Bearer flex-jwe-token' });
    expect(init.body).toBeUndefined();
    expect(init.credentials).toBe('omit');
    expect(JSON.stringify(init)).not.toContain('Ada');
  });

  it('missing on a chat/the SSO token when manager.user has none', async () => {
    fetchMock.mockResolvedValueOnce(respond(404, { code: 'not_found' }));
    const sso: AgentSession = { user: null, store: { getState: () => ({ flex: { session: { ssoTokenPayload: { token: 'sso-jwe' } } } }) } };
    renderPanel(chatTask(), { manager: sso });
    await waitFor(() => expect(statusText()).toBe('Not verified'));
    expect(fetchMock.mock.calls[0][1].headers).toEqual({ Authorization: 'Bearer sso-jwe' });
  });

  it('missing on a chat/404 not_found reads Not verified', async () => {
    fetchMock.mockResolvedValueOnce(problem(404, 'not_found'));
    renderPanel(chatTask());
    await waitFor(() => expect(statusText()).toBe('Not verified'));
    expect(screen.queryByRole('button', { name: 'Retry' })).toBeNull();
  });

  it.each([['flex_token_invalid'], ['unauthorized']])('missing on a chat/401 %s asks the agent to sign in again', async (code) => {
    fetchMock.mockResolvedValueOnce(problem(401, code));
    renderPanel(chatTask());
    await waitFor(() => expect(statusText()).toBe('Could not check: sign in again'));
    expect(document.body.textContent).not.toMatch(/Verified/);
  });

  it('missing on a chat/no token at all: no request, sign in again', () => {
    renderPanel(chatTask(), { manager: { user: { token: '' } } });
    expect(statusText()).toBe('Could not check: sign in again');
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('missing on a chat/503 offers Retry, which asks again', async () => {
    fetchMock.mockResolvedValueOnce(problem(503, 'flex_unavailable')).mockResolvedValueOnce(respond(200, summary));
    renderPanel(chatTask());
    await waitFor(() => expect(statusText()).toBe('Verification service unavailable'));
    expect(document.body.textContent).not.toMatch(/Verified/);

    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    await waitFor(() => expect(statusText()).toContain('Verified customer'));
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it('missing on a chat/a network error is unavailable too', async () => {
    fetchMock.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    renderPanel(chatTask());
    await waitFor(() => expect(statusText()).toBe('Verification service unavailable'));
    expect(screen.getByRole('button', { name: 'Retry' })).toBeTruthy();
  });

  it('missing on a chat/a malformed 200 body is not verified', async () => {
    fetchMock.mockResolvedValueOnce(respond(200, { ...summary, verified: 'true' }));
    renderPanel(chatTask());
    await waitFor(() => expect(statusText()).toBe('Not verified'));
    expect(document.body.textContent).not.toMatch(/Verified/);
  });

  it('missing on a chat/the request times out as unavailable', async () => {
    jest.useFakeTimers();
    try {
      fetchMock.mockImplementationOnce(
        (_url: string, init: RequestInit) =>
          new Promise((_resolve, reject) => {
            init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
          }),
      );
      renderPanel(chatTask(), { timeoutMs: 5000 });
      expect(statusText()).toBe('Checking verification…');
      await act(async () => {
        jest.advanceTimersByTime(5000);
      });
      expect(statusText()).toBe('Verification service unavailable');
    } finally {
      jest.useRealTimers();
    }
  });

  it('missing on a chat/unmounting aborts the request', () => {
    let signal: AbortSignal | undefined;
    fetchMock.mockImplementationOnce((_url: string, init: RequestInit) => {
      signal = init.signal ?? undefined;
      return new Promise(() => undefined);
    });
    const { unmount } = renderPanel(chatTask());
    expect(signal?.aborted).toBe(false);
    unmount();
    expect(signal?.aborted).toBe(true);
  });

  it('missing on a chat/no service URL: no request, says it is not configured', () => {
    renderPanel(chatTask(), { service: { problem: 'not_configured' } });
    expect(statusText()).toBe('Could not check: the verification service URL is not configured');
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('missing on a voice task: Not verified, no request', () => {
    renderPanel({ taskChannelUniqueName: 'voice', attributes: { call_sid: 'CA1' } });
    expect(statusText()).toBe('Not verified');
    expect(fetchMock).not.toHaveBeenCalled();
  });
});

describe('VerifiedBadge', () => {
  it.each([
    ['failed', { verified: false, reason: 'credential_revoked' }],
    ['missing', undefined],
    ['verified as a string', { ...summary, verified: 'true' }],
    ['claims not an object', { ...summary, claims: ['Ada'] }],
  ])('absent when %s', (_name, verification) => {
    const { container } = render(<VerifiedBadge task={{ attributes: { verification } }} />);
    expect(container.innerHTML).toBe('');
  });

  it('present when verified, as object or JSON string', () => {
    for (const verification of [summary, JSON.stringify(summary)]) {
      const { unmount } = render(<VerifiedBadge task={{ attributes: { verification } }} />);
      expect(screen.getByTestId('hearro-verified-badge').textContent).toBe('✓Verified customer');
      expect(screen.getByTitle('Verified customer')).toBeTruthy();
      unmount();
    }
  });
});
