/**
 * The verification summary a task carries, read defensively.
 *
 * The summary reaches the plugin from task attributes (which anyone with access to the task
 * can write) or from the trustbroker service. Only a summary whose `verified` is the boolean
 * `true` and whose every field has the expected type is `verified`; anything else is
 * `failed` (the service said no), `missing` (nothing to read) or `invalid` (unreadable).
 * This module has no React and no Flex in it.
 */

/** A display claim's value, as the service sends it. */
export type ClaimValue = string | number | boolean;

/** A claim to show: its key as sent and its value. Kept as pairs, never as an object. */
export interface Claim {
  readonly key: string;
  readonly value: ClaimValue;
}

export interface Verified {
  readonly state: 'verified';
  /** The issuer's DID. */
  readonly issuer: string;
  /** The issuer's display name, when the summary has one. */
  readonly issuerName?: string;
  readonly credentialType?: string;
  readonly assurance?: string;
  /** RFC 3339, as sent. */
  readonly verifiedAt?: string;
  readonly claims: readonly Claim[];
}

export interface Failed {
  readonly state: 'failed';
  /** A stable reason code (`credential_revoked`), or `unknown` when none was readable. */
  readonly reason: string;
}

export type Verification = Verified | Failed | { readonly state: 'missing' } | { readonly state: 'invalid' };

const MISSING: Verification = { state: 'missing' };
const INVALID: Verification = { state: 'invalid' };

/** At most this many claims are read; a summary with more is invalid. */
export const MAX_CLAIMS = 50;
const MAX_TEXT = 512;
const REASON_CODE = /^[A-Za-z0-9_.-]{1,64}$/;
// RFC 3339 date-time: date, 'T' (or 't'/space), time, optional fraction, Z or an offset.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * parseVerification reads a task's `verification` attribute (an object, or the same as a
 * JSON string) or a service response body.
 */
export function parseVerification(raw: unknown): Verification {
  if (raw === undefined || raw === null) {
    return MISSING;
  }
  let value: unknown = raw;
  if (typeof raw === 'string') {
    if (raw.trim() === '') {
      return MISSING;
    }
    try {
      value = JSON.parse(raw);
    } catch {
      return INVALID;
    }
  }
  if (!isPlainObject(value)) {
    return INVALID;
  }
  const verified = own(value, 'verified');
  if (verified === false) {
    const reason = own(value, 'reason');
    return { state: 'failed', reason: typeof reason === 'string' && REASON_CODE.test(reason) ? reason : 'unknown' };
  }
  if (verified !== true) {
    return INVALID; // "true", 1, "yes", missing: not verified
  }
  const issuer = own(value, 'issuer');
  if (!isText(issuer)) {
    return INVALID;
  }
  const optional = ['issuer_name', 'credential_type', 'assurance', 'verified_at'].map((k) => own(value, k));
  if (!optional.every((v) => v === undefined || v === null || isText(v))) {
    return INVALID;
  }
  const [issuerName, credentialType, assurance, verifiedAt] = optional.map((v) => (isText(v) ? v : undefined));
  if (verifiedAt !== undefined && !isRFC3339(verifiedAt)) {
    return INVALID;
  }
  const claims = parseClaims(own(value, 'claims'));
  if (claims === undefined) {
    return INVALID;
  }
  return { state: 'verified', issuer, issuerName, credentialType, assurance, verifiedAt, claims };
}

/** isVerified is true only for a summary parseVerification calls verified. */
export function isVerified(raw: unknown): boolean {
  return parseVerification(raw).state === 'verified';
}

/** The claims as pairs in the order sent; undefined when they are not a flat object of scalars. */
function parseClaims(raw: unknown): Claim[] | undefined {
  if (raw === undefined || raw === null) {
    return [];
  }
  if (!isPlainObject(raw)) {
    return undefined;
  }
  const keys = Object.keys(raw);
  if (keys.length > MAX_CLAIMS) {
    return undefined;
  }
  const claims: Claim[] = [];
  for (const key of keys) {
    const v = own(raw, key);
    const scalar =
      (typeof v === 'string' && v.length <= MAX_TEXT) ||
      (typeof v === 'number' && Number.isFinite(v)) ||
      typeof v === 'boolean';
    if (!scalar || key.length === 0 || key.length > 64) {
      return undefined;
    }
    claims.push({ key, value: v as ClaimValue });
  }
  return claims;
}

/**
 * humaniseKey turns a claim key into a label: givenName → "Given name",
 * date_of_birth → "Date of birth". A key with no letters or digits is shown as sent.
 */
export function humaniseKey(key: string): string {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '');
  if (words.length === 0) {
    return key;
  }
  const text = words.map((w) => (w.length > 1 && w === w.toUpperCase() ? w : w.toLowerCase())).join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const REASONS: ReadonlyMap<string, string> = new Map([
  ['revoked', 'The credential has been revoked'],
  ['credential_revoked', 'The credential has been revoked'],
  ['suspended', 'The credential is suspended'],
  ['expired_credential', 'The credential has expired'],
  ['credential_expired', 'The credential has expired'],
  ['not_yet_valid', 'The credential is not valid yet'],
  ['credential_too_old', 'The credential was issued too long ago'],
  ['untrusted_issuer', 'The issuer is not trusted'],
  ['issuer_mismatch', 'The issuer does not match'],
  ['bad_signature', 'The signature is not valid'],
  ['proof_invalid', 'The proof is not valid'],
  ['missing_proof', 'The presentation has no proof'],
  ['holder_mismatch', 'The credential belongs to someone else'],
  ['challenge_mismatch', 'The presentation was not made for this request'],
  ['domain_mismatch', 'The presentation was made for another service'],
  ['replayed', 'The presentation was already used'],
  ['declined', 'The customer declined to share the credential'],
  ['confirmation_mismatch', 'The customer did not confirm the request'],
  ['missing_credential', 'No credential was presented'],
  ['missing_claim', 'A required claim is missing'],
  ['claim_constraint', 'A claim does not meet the policy'],
  ['predicate_failed', 'A claim does not meet the policy'],
  ['status_unavailable', 'The credential status could not be checked'],
  ['unresolvable_did', "The issuer's DID could not be resolved"],
  ['unsupported_did_method', "The issuer's DID method is not supported"],
  ['unsupported_format', 'The credential format is not supported'],
  ['format_not_allowed', 'The credential format is not allowed'],
  ['disclosure_not_allowed', 'The credential discloses more than allowed'],
  ['malformed', 'The presentation could not be read'],
  ['session_expired', 'The verification session expired'],
  ['wallet_unreachable', "The customer's wallet could not be reached"],
  ['internal_error', 'The service could not finish the check'],
]);

/** reasonText is a readable sentence for a failure's reason code. */
export function reasonText(code: string): string {
  return REASONS.get(code) ?? 'The credential was not accepted';
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return false;
  }
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** own reads an own property only: never one inherited from a prototype. */
function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

function isText(v: unknown): v is string {
  return typeof v === 'string' && v.trim() !== '' && v.length <= MAX_TEXT;
}

function isRFC3339(s: string): boolean {
  return RFC3339.test(s) && !Number.isNaN(Date.parse(s));
}
