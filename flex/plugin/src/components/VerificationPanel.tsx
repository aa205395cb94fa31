import React, { useEffect, useRef, useState } from 'react';

import { Lookup, lookupVerification } from '../api';
import { agentToken, AgentSession, attributesOf, chatSid, ServiceUrl, TaskLike, verificationOf } from '../config';
import { ClaimValue, humaniseKey, parseVerification, reasonText, Verification, Verified } from '../verification';

export interface VerificationPanelProps {
  /** Flex passes the selected task. */
  readonly task?: TaskLike;
  /** Flex's Manager: the agent's token is read from it when the service is asked. */
  readonly manager: AgentSession;
  readonly service: ServiceUrl;
  /** The agent's locale; the browser's when unset. */
  readonly locale?: string;
  readonly timeoutMs?: number;
}

/** What the panel shows: a summary, or why there is none. */
type View =
  | { readonly kind: 'verification'; readonly verification: Verification }
  | { readonly kind: 'loading' }
  | { readonly kind: 'no_chat' }
  | { readonly kind: 'not_configured'; readonly problem: 'not_configured' | 'invalid' }
  | Exclude<Lookup, { kind: 'summary' } | { kind: 'aborted' }>;

/**
 * VerificationPanel tells the agent whether the task's customer is verified: from the task's
 * `verification` attribute, or, for a chat without one, from the trustbroker service.
 */
export function VerificationPanel({ task, manager, service, locale, timeoutMs }: VerificationPanelProps): JSX.Element {
  const { view, retry } = useView(task, manager, service, timeoutMs);
  const name = nameOf(task);
  return (
    <section aria-label="Customer verification" style={styles.panel}>
      <h3 style={styles.heading}>Customer verification</h3>
      {name !== undefined && (
        <p style={styles.muted}>
          Name given in chat: <span>{name}</span>
        </p>
      )}
      <Body view={view} locale={locale} onRetry={retry} />
    </section>
  );
}

function Body({ view, locale, onRetry }: { view: View; locale?: string; onRetry: () => void }): JSX.Element {
  switch (view.kind) {
    case 'verification':
      return <VerificationView verification={view.verification} locale={locale} />;
    case 'loading':
      return <Status tone="neutral">Checking verification…</Status>;
    case 'no_chat':
    case 'not_found':
      return <Status tone="neutral">Not verified</Status>;
    case 'not_configured':
      return (
        <Status tone="warning">
          {view.problem === 'invalid'
            ? 'Could not check: the verification service URL is invalid'
            : 'Could not check: the verification service URL is not configured'}
        </Status>
      );
    case 'unauthorized':
      return <Status tone="warning">Could not check: sign in again</Status>;
    case 'unavailable':
      return (
        <>
          <Status tone="warning">Verification service unavailable</Status>
          <button type="button" onClick={onRetry} style={styles.button}>
            Retry
          </button>
        </>
      );
    case 'error':
      return (
        <>
          <Status tone="warning">{`Could not check verification (HTTP ${view.status})`}</Status>
          <button type="button" onClick={onRetry} style={styles.button}>
            Retry
          </button>
        </>
      );
  }
}

function VerificationView({ verification, locale }: { verification: Verification; locale?: string }): JSX.Element {
  switch (verification.state) {
    case 'verified':
      return <VerifiedView v={verification} locale={locale} />;
    case 'failed':
      return (
        <Status tone="danger">
          {`Verification failed: ${reasonText(verification.reason)} `}
          <code>({verification.reason})</code>
        </Status>
      );
    case 'missing':
      return <Status tone="neutral">Not verified</Status>;
    case 'invalid':
      return (
        <>
          <Status tone="neutral">Not verified</Status>
          <p style={styles.muted}>The verification data on this task could not be read.</p>
        </>
      );
  }
}

function VerifiedView({ v, locale }: { v: Verified; locale?: string }): JSX.Element {
  const [showDid, setShowDid] = useState(false);
  const didId = useUniqueId('hearro-issuer-did');
  return (
    <>
      <Status tone="success">
        <span aria-hidden="true">✓ </span>
        Verified customer
      </Status>
      <dl style={styles.list} aria-label="Credential">
        <dt style={styles.term}>Issuer</dt>
        <dd style={styles.def}>
          {v.issuerName ?? 'Unnamed issuer'}{' '}
          <button
            type="button"
            aria-expanded={showDid}
            aria-controls={didId}
            onClick={() => setShowDid((s) => !s)}
            style={styles.linkButton}
          >
            {showDid ? 'Hide DID' : 'Show DID'}
          </button>
          {showDid && (
            <code id={didId} style={styles.did}>
              {v.issuer}
            </code>
          )}
        </dd>
        <dt style={styles.term}>Credential type</dt>
        <dd style={styles.def}>{v.credentialType ?? '—'}</dd>
        <dt style={styles.term}>Assurance</dt>
        <dd style={styles.def}>{v.assurance ?? '—'}</dd>
        <dt style={styles.term}>Verified at</dt>
        <dd style={styles.def}>
          {v.verifiedAt === undefined ? '—' : <time dateTime={v.verifiedAt} title={v.verifiedAt}>{formatDate(v.verifiedAt, locale)}</time>}
        </dd>
      </dl>
      {v.claims.length > 0 && (
        <>
          <h4 style={styles.subheading}>Claims</h4>
          <dl style={styles.list} aria-label="Claims">
            {v.claims.map((c) => (
              <React.Fragment key={c.key}>
                <dt style={styles.term}>{humaniseKey(c.key)}</dt>
                <dd style={styles.def}>{claimText(c.value)}</dd>
              </React.Fragment>
            ))}
          </dl>
        </>
      )}
    </>
  );
}

type Tone = 'success' | 'danger' | 'warning' | 'neutral';

function Status({ tone, children }: { tone: Tone; children: React.ReactNode }): JSX.Element {
  return (
    <p role="status" style={{ ...styles.status, ...toneStyles[tone] }}>
      {children}
    </p>
  );
}

/**
 * useView decides what to show and, for a chat without a `verification` attribute, asks the
 * service once per chat (and per Retry). The request is aborted when the panel unmounts or
 * the task changes.
 */
function useView(
  task: TaskLike | undefined,
  manager: AgentSession,
  service: ServiceUrl,
  timeoutMs: number | undefined,
): { view: View; retry: () => void } {
  const fromTask = parseVerification(verificationOf(task));
  const sid = fromTask.state === 'missing' ? chatSid(task) : undefined;
  const serviceUrl = 'url' in service ? service.url : undefined;
  const [attempt, setAttempt] = useState(0);
  const key = sid !== undefined && serviceUrl !== undefined ? `${serviceUrl}|${sid}|${attempt}` : '';
  const [result, setResult] = useState<{ key: string; lookup: Lookup } | undefined>(undefined);

  useEffect(() => {
    if (sid === undefined || serviceUrl === undefined) {
      return undefined;
    }
    const token = agentToken(manager); // read now: Flex refreshes it
    if (token === undefined) {
      setResult({ key, lookup: { kind: 'unauthorized' } });
      return undefined;
    }
    const controller = new AbortController();
    void lookupVerification({ serviceUrl, chatSid: sid, token, signal: controller.signal, timeoutMs }).then((lookup) => {
      if (!controller.signal.aborted && lookup.kind !== 'aborted') {
        setResult({ key, lookup });
      }
    });
    return () => controller.abort();
  }, [key, sid, serviceUrl, manager, timeoutMs]);

  const retry = () => setAttempt((a) => a + 1);
  if (fromTask.state !== 'missing') {
    return { view: { kind: 'verification', verification: fromTask }, retry };
  }
  if (sid === undefined) {
    return { view: { kind: 'no_chat' }, retry };
  }
  if (!('url' in service)) {
    return { view: { kind: 'not_configured', problem: service.problem }, retry };
  }
  if (result === undefined || result.key !== key) {
    return { view: { kind: 'loading' }, retry };
  }
  const lookup = result.lookup;
  switch (lookup.kind) {
    case 'summary':
      return { view: { kind: 'verification', verification: lookup.verification }, retry };
    case 'aborted':
      return { view: { kind: 'loading' }, retry };
    default:
      return { view: lookup, retry };
  }
}

function nameOf(task: TaskLike | undefined): string | undefined {
  const attrs = attributesOf(task);
  if (typeof attrs !== 'object' || attrs === null || !Object.prototype.hasOwnProperty.call(attrs, 'name')) {
    return undefined;
  }
  const name = (attrs as Record<string, unknown>).name;
  return typeof name === 'string' && name.trim() !== '' ? name.slice(0, 200) : undefined;
}

function claimText(value: ClaimValue): string {
  if (typeof value === 'boolean') {
    return value ? 'Yes' : 'No';
  }
  return String(value);
}

function formatDate(iso: string, locale: string | undefined): string {
  try {
    return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
  } catch {
    return iso;
  }
}

let nextId = 0;
function useUniqueId(prefix: string): string {
  const ref = useRef<string>();
  if (ref.current === undefined) {
    nextId += 1;
    ref.current = `${prefix}-${nextId}`;
  }
  return ref.current;
}

const styles: Record<string, React.CSSProperties> = {
  panel: { padding: '0.75rem 1rem', fontSize: '0.875rem', lineHeight: 1.4 },
  heading: { margin: '0 0 0.5rem', fontSize: '1rem', fontWeight: 600 },
  subheading: { margin: '0.75rem 0 0.25rem', fontSize: '0.875rem', fontWeight: 600 },
  muted: { margin: '0.25rem 0', color: '#606b85' },
  status: { margin: '0.25rem 0 0.5rem', padding: '0.25rem 0.5rem', borderRadius: '0.25rem', fontWeight: 600 },
  list: { display: 'grid', gridTemplateColumns: 'max-content 1fr', columnGap: '0.75rem', rowGap: '0.25rem', margin: 0 },
  term: { color: '#606b85' },
  def: { margin: 0, overflowWrap: 'anywhere' },
  did: { display: 'block', marginTop: '0.25rem', fontSize: '0.75rem' },
  button: { padding: '0.25rem 0.75rem', cursor: 'pointer' },
  linkButton: { padding: 0, border: 'none', background: 'none', color: '#0263e0', textDecoration: 'underline', cursor: 'pointer', font: 'inherit' },
};

const toneStyles: Record<Tone, React.CSSProperties> = {
  success: { color: '#0b5a2a', background: '#d8f5e3' },
  danger: { color: '#8c0e0e', background: '#feeceb' },
  warning: { color: '#6b4100', background: '#fef5e6' },
  neutral: { color: '#121c2d', background: '#f4f4f6' },
};
