import { agentToken, chatSid, resolveServiceUrl, verificationOf } from '../config';

describe('resolveServiceUrl', () => {
  it.each([
    ['the Flex UI attribute', { hearro: { serviceUrl: 'https://trust.example' } }, undefined, { url: 'https://trust.example' }],
    ['the attribute wins over the env var', { hearro: { serviceUrl: 'https://a.example/' } }, 'https://b.example', { url: 'https://a.example' }],
    ['the env var', {}, 'https://b.example/base/', { url: 'https://b.example/base' }],
    ['http on localhost', undefined, 'http://localhost:8080', { url: 'http://localhost:8080' }],
    ['neither', { hearro: {} }, undefined, { problem: 'not_configured' }],
    ['blank', { hearro: { serviceUrl: ' ' } }, '', { problem: 'not_configured' }],
    ['http elsewhere', undefined, 'http://trust.example', { problem: 'invalid' }],
    ['not a URL', undefined, 'trust.example', { problem: 'invalid' }],
    ['with a query', undefined, 'https://trust.example/?x=1', { problem: 'invalid' }],
    ['with credentials', undefined, 'https://u:p@trust.example', { problem: 'invalid' }],
    ['javascript:', undefined, 'javascript:alert(1)', { problem: 'invalid' }],
  ])('%s', (_name, ui, env, want) => {
    expect(resolveServiceUrl(ui, env)).toEqual(want);
  });
});

describe('agentToken', () => {
  it('manager.user.token first', () => {
    expect(agentToken({ user: { token: 'jwe-user' } })).toBe('jwe-user');
  });

  it('else the SSO session token', () => {
    const store = { getState: () => ({ flex: { session: { ssoTokenPayload: { token: 'jwe-sso' } } } }) };
    expect(agentToken({ user: null, store })).toBe('jwe-sso');
  });

  it('none', () => {
    expect(agentToken({})).toBeUndefined();
    expect(agentToken({ user: { token: '' }, store: { getState: () => ({}) } })).toBeUndefined();
  });
});

describe('chatSid', () => {
  it.each([
    ['conversationSid', { attributes: { conversationSid: 'CH0123abcd' } }, 'CH0123abcd'],
    ['attributes as JSON', { attributes: '{"conversationSid":"CH0123abcd"}' }, 'CH0123abcd'],
    ['legacy channelSid on the chat channel', { attributes: { channelSid: 'CHlegacy1' }, taskChannelUniqueName: 'chat' }, 'CHlegacy1'],
    ['channelSid on a voice task', { attributes: { channelSid: 'CHlegacy1' }, taskChannelUniqueName: 'voice' }, undefined],
    ['a SID with a slash', { attributes: { conversationSid: 'CH1/../x' } }, undefined],
    ['a voice task', { attributes: { call_sid: 'CA1' }, taskChannelUniqueName: 'voice' }, undefined],
    ['no task', undefined, undefined],
  ])('%s', (_name, task, want) => {
    expect(chatSid(task)).toBe(want);
  });
});

describe('verificationOf', () => {
  it('reads the attribute, never an inherited one', () => {
    expect(verificationOf({ attributes: { verification: { verified: false } } })).toEqual({ verified: false });
    expect(verificationOf({ attributes: Object.create({ verification: { verified: true } }) })).toBeUndefined();
    expect(verificationOf({ attributes: 'not json' })).toBeUndefined();
  });
});
