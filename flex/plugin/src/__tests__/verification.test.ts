import { humaniseKey, isVerified, parseVerification, reasonText } from '../verification';

const summary = {
  verified: true,
  issuer: 'did:web:bank.example',
  issuer_name: 'Example Bank',
  credential_type: 'VerifiedCustomer',
  assurance: 'substantial',
  verified_at: '2026-12-06T07:00:00Z',
  claims: { givenName: 'Ada', familyName: 'Lovelace' },
};

describe('parseVerification', () => {
  it('verified/the service summary', () => {
    expect(parseVerification(summary)).toEqual({
      state: 'verified',
      issuer: 'did:web:bank.example',
      issuerName: 'Example Bank',
      credentialType: 'VerifiedCustomer',
      assurance: 'substantial',
      verifiedAt: '2026-12-06T07:00:00Z',
      claims: [
        { key: 'givenName', value: 'Ada' },
        { key: 'familyName', value: 'Lovelace' },
      ],
    });
  });

  it('verified/the same summary as a JSON string', () => {
    expect(parseVerification(JSON.stringify(summary))).toEqual(parseVerification(summary));
  });

  it('verified/without issuer_name, claims or optional fields', () => {
    expect(parseVerification({ verified: true, issuer: 'did:web:bank.example' })).toEqual({
      state: 'verified',
      issuer: 'did:web:bank.example',
      issuerName: undefined,
      credentialType: undefined,
      assurance: undefined,
      verifiedAt: undefined,
      claims: [],
    });
  });

  it('verified/number and boolean claims', () => {
    const v = parseVerification({ ...summary, claims: { age: 42, over18: true } });
    expect(v.state === 'verified' && v.claims).toEqual([
      { key: 'age', value: 42 },
      { key: 'over18', value: true },
    ]);
  });

  it('failed/reason code kept', () => {
    expect(parseVerification({ verified: false, reason: 'credential_revoked' })).toEqual({
      state: 'failed',
      reason: 'credential_revoked',
    });
  });

  it('failed/unreadable reason becomes unknown', () => {
    expect(parseVerification({ verified: false, reason: '<b>x</b>' })).toEqual({ state: 'failed', reason: 'unknown' });
    expect(parseVerification({ verified: false })).toEqual({ state: 'failed', reason: 'unknown' });
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['empty string', ''],
    ['blank string', '   '],
  ])('missing/%s', (_name, raw) => {
    expect(parseVerification(raw)).toEqual({ state: 'missing' });
  });

  it.each([
    ['verified is the string "true"', { ...summary, verified: 'true' }],
    ['verified is 1', { ...summary, verified: 1 }],
    ['verified is absent', { issuer: 'did:web:bank.example' }],
    ['verified is an object', { ...summary, verified: {} }],
    ['claims is a string', { ...summary, claims: 'givenName=Ada' }],
    ['claims is an array', { ...summary, claims: ['Ada'] }],
    ['a claim is an object', { ...summary, claims: { name: { first: 'Ada' } } }],
    ['a claim is NaN', { ...summary, claims: { age: NaN } }],
    ['issuer is missing', { ...summary, issuer: undefined }],
    ['issuer is a number', { ...summary, issuer: 7 }],
    ['issuer is blank', { ...summary, issuer: ' ' }],
    ['issuer_name is a number', { ...summary, issuer_name: 1 }],
    ['verified_at is not RFC 3339', { ...summary, verified_at: 'yesterday' }],
    ['verified_at is not a date', { ...summary, verified_at: '2026-13-45T99:00:00Z' }],
    ['not JSON', '{"verified": true'],
    ['JSON "true"', 'true'],
    ['an array', [summary]],
    ['a number', 1],
    ['a boolean', true],
    ['a class instance', new (class Summary { verified = true; issuer = 'did:web:x'; })()],
  ])('invalid/%s', (_name, raw) => {
    expect(parseVerification(raw)).toEqual({ state: 'invalid' });
    expect(isVerified(raw)).toBe(false);
  });

  it('invalid/too many claims', () => {
    const claims: Record<string, string> = {};
    for (let i = 0; i < 51; i += 1) {
      claims[`c${i}`] = 'x';
    }
    expect(parseVerification({ ...summary, claims }).state).toBe('invalid');
  });

  it('invalid/verified inherited from the prototype, not own', () => {
    const raw = Object.create({ verified: true, issuer: 'did:web:x' });
    expect(parseVerification(raw)).toEqual({ state: 'invalid' });
  });

  it('__proto__ in claims is an ordinary claim and pollutes nothing', () => {
    const raw = '{"verified":true,"issuer":"did:web:x","claims":{"__proto__":{"polluted":"yes"},"givenName":"Ada"}}';
    // An object value is not a claim: the summary is invalid, and nothing leaked anywhere.
    expect(parseVerification(raw)).toEqual({ state: 'invalid' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    const scalar = '{"verified":true,"issuer":"did:web:x","claims":{"__proto__":"x","constructor":"y","givenName":"Ada"}}';
    const v = parseVerification(scalar);
    expect(v.state === 'verified' && v.claims).toEqual([
      { key: '__proto__', value: 'x' },
      { key: 'constructor', value: 'y' },
      { key: 'givenName', value: 'Ada' },
    ]);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it('__proto__ at the top level cannot make a summary verified', () => {
    const raw = '{"__proto__":{"verified":true,"issuer":"did:web:x"}}';
    expect(parseVerification(raw)).toEqual({ state: 'invalid' });
    expect(parseVerification(JSON.parse(raw))).toEqual({ state: 'invalid' });
    expect(({} as Record<string, unknown>).verified).toBeUndefined();
  });
});

describe('humaniseKey', () => {
  it.each([
    ['givenName', 'Given name'],
    ['familyName', 'Family name'],
    ['date_of_birth', 'Date of birth'],
    ['email-address', 'Email address'],
    ['over18', 'Over18'],
    ['customerID', 'Customer ID'],
    ['IBANNumber', 'IBAN number'],
    ['__proto__', 'Proto'],
    ['constructor', 'Constructor'],
    ['__', '__'],
  ])('%s → %s', (key, label) => {
    expect(humaniseKey(key)).toBe(label);
  });
});

describe('reasonText', () => {
  it('a known code reads as a sentence', () => {
    expect(reasonText('credential_revoked')).toBe('The credential has been revoked');
  });

  it('an unknown code, __proto__ included, gets the generic sentence', () => {
    expect(reasonText('something_new')).toBe('The credential was not accepted');
    expect(reasonText('__proto__')).toBe('The credential was not accepted');
    expect(reasonText('constructor')).toBe('The credential was not accepted');
  });
});
