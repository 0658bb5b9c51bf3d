/** main -> post state, typed in one place (GITHUB_STATE, read back as STATE_* env). */
import * as core from '@actions/core';

export const state = {
  isPost: (): boolean => core.getState('isPost') === 'true',
  markMainRan: (): void => core.saveState('isPost', 'true'),
  topologyId: (): string => core.getState('topology-id'),
  setTopologyId: (id: string): void => core.saveState('topology-id', id),
  recordFile: (): string => core.getState('record-file'),
  setRecordFile: (path: string): void => core.saveState('record-file', path),
  /** Main failed (post uploads diagnostics with upload: on-failure even when job-status says otherwise). */
  mainFailed: (): boolean => core.getState('main-failed') === 'true',
  setMainFailed: (): void => core.saveState('main-failed', 'true'),
  /** What main planned (no secrets), for diagnostics when main did not get as far as the record. */
  planFile: (): string => core.getState('plan-file'),
  setPlanFile: (path: string): void => core.saveState('plan-file', path),
};
