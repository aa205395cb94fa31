import React from 'react';

import { TaskLike, verificationOf } from '../config';
import { isVerified } from '../verification';

export interface VerifiedBadgeProps {
  /** Flex passes the task list item's task. */
  readonly task?: TaskLike;
}

const style: React.CSSProperties = {
  display: 'inline-flex',
  alignItems: 'center',
  gap: '0.25rem',
  padding: '0 0.4rem',
  borderRadius: '0.75rem',
  fontSize: '0.75rem',
  lineHeight: '1.25rem',
  fontWeight: 600,
  color: '#0b5a2a',
  background: '#d8f5e3',
  border: '1px solid #1f8a4c',
  whiteSpace: 'nowrap',
};

/**
 * VerifiedBadge marks a task in the task list whose `verification` attribute says the
 * customer is verified. It renders nothing otherwise, even when Flex's `if` let it through.
 */
export function VerifiedBadge({ task }: VerifiedBadgeProps): JSX.Element | null {
  if (!isVerified(verificationOf(task))) {
    return null;
  }
  return (
    <span style={style} title="Verified customer" data-testid="hearro-verified-badge">
      <span aria-hidden="true">✓</span>
      Verified customer
    </span>
  );
}

/** showBadge is the Flex `if` condition of the badge: the item's task is verified. */
export function showBadge(props: { task?: TaskLike }): boolean {
  return isVerified(verificationOf(props.task));
}
