import React from 'react';
import { render, screen } from '@testing-library/react';

import { FlexContent, register } from '../HearroPlugin';
import { AgentSession } from '../config';

type Added = { element: React.ReactElement; options?: { sortOrder?: number; if?: (props: { task?: unknown }) => boolean } };

function fakeFlex(): FlexContent & { added: Record<string, Added[]> } {
  const added: Record<string, Added[]> = { TaskListItem: [], TaskInfoPanel: [] };
  const store = (name: string) => ({ add: (element: React.ReactElement, options?: Added['options']) => void added[name].push({ element, options }) });
  return { added, TaskListItem: { Content: store('TaskListItem') }, TaskInfoPanel: { Content: store('TaskInfoPanel') } };
}

describe('register', () => {
  it('adds the badge to TaskListItem, shown only for verified tasks', () => {
    const flex = fakeFlex();
    register(flex, { user: { token: 't' } }, undefined);
    expect(flex.added.TaskListItem).toHaveLength(1);
    const show = flex.added.TaskListItem[0].options?.if;
    expect(show?.({ task: { attributes: { verification: { verified: true, issuer: 'did:web:x' } } } })).toBe(true);
    expect(show?.({ task: { attributes: { verification: { verified: false, reason: 'revoked' } } } })).toBe(false);
    expect(show?.({ task: { attributes: { verification: { verified: 'true', issuer: 'did:web:x' } } } })).toBe(false);
    expect(show?.({ task: { attributes: {} } })).toBe(false);
    expect(show?.({})).toBe(false);
  });

  it('adds the panel to TaskInfoPanel with the service URL from the Flex UI configuration', () => {
    const flex = fakeFlex();
    const manager: AgentSession = {
      user: { token: 't' },
      serviceConfiguration: { ui_attributes: { hearro: { serviceUrl: 'https://trust.example/' } } },
    };
    register(flex, manager, 'https://ignored.example');
    expect(flex.added.TaskInfoPanel).toHaveLength(1);
    expect(flex.added.TaskInfoPanel[0].element.props.service).toEqual({ url: 'https://trust.example' });
    expect(flex.added.TaskInfoPanel[0].element.props.manager).toBe(manager);
  });

  it('falls back to FLEX_APP_HEARRO_URL, else says the URL is not configured', () => {
    const withEnv = fakeFlex();
    register(withEnv, {}, 'https://env.example');
    expect(withEnv.added.TaskInfoPanel[0].element.props.service).toEqual({ url: 'https://env.example' });

    const without = fakeFlex();
    register(without, {}, undefined);
    const panel = without.added.TaskInfoPanel[0].element;
    render(React.cloneElement(panel, { task: { attributes: { conversationSid: 'CH123' } } }));
    expect(screen.getByRole('status').textContent).toBe('Could not check: the verification service URL is not configured');
  });
});
