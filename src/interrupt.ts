/**
 * What a run must undo when a signal ends it: staging and scratch directories it made, child
 * processes it started. Each action is registered while it applies and dropped after.
 */
const actions = new Set<() => void>();

export function onInterrupt(action: () => void): () => void {
  actions.add(action);
  return () => actions.delete(action);
}

/**
 * Runs every registered action once, the latest first (a child started in a scratch directory
 * is stopped before the directory goes); one that fails does not keep the others from running.
 */
export function runInterruptActions(): void {
  for (const action of [...actions].reverse()) {
    actions.delete(action);
    try {
      action();
    } catch {
      // Undoing is best effort: the signal still ends the run.
    }
  }
}
