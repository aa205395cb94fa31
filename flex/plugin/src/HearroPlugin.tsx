import React from 'react';
import * as Flex from '@twilio/flex-ui';
import { FlexPlugin } from '@twilio/flex-plugin';

import { AgentSession, resolveServiceUrl, TaskLike } from './config';
import { showBadge, VerifiedBadge } from './components/VerifiedBadge';
import { VerificationPanel } from './components/VerificationPanel';

const PLUGIN_NAME = 'HearroPlugin';

/** The parts of the Flex namespace the plugin adds to. */
export interface FlexContent {
  readonly TaskListItem: { readonly Content: ContentStore };
  readonly TaskInfoPanel: { readonly Content: ContentStore };
}

interface ContentStore {
  add(element: React.ReactElement, options?: { sortOrder?: number; if?: (props: { task?: TaskLike }) => boolean }): void;
}

/**
 * register adds the badge to the task list items of verified customers and the verification
 * panel to the task's Info tab (TaskInfoPanel). envServiceUrl is FLEX_APP_HEARRO_URL as built.
 */
export function register(flex: FlexContent, manager: AgentSession, envServiceUrl: string | undefined): void {
  const service = resolveServiceUrl(manager.serviceConfiguration?.ui_attributes, envServiceUrl);
  flex.TaskListItem.Content.add(<VerifiedBadge key="hearro-verified-badge" />, { if: showBadge });
  flex.TaskInfoPanel.Content.add(<VerificationPanel key="hearro-verification-panel" manager={manager} service={service} />, {
    sortOrder: -1,
  });
}

export default class HearroPlugin extends FlexPlugin {
  constructor() {
    super(PLUGIN_NAME);
  }

  /** Runs when Flex loads the plugin. */
  async init(flex: typeof Flex, manager: Flex.Manager): Promise<void> {
    register(flex, manager, process.env.FLEX_APP_HEARRO_URL);
  }
}
