// The progress interface operations report through (Context.progress); the UI implements it.
/** Progress of one phase. Operations call it; the UI decides whether anything shows. */
export interface Progress {
  /** n more items done; `bytes` more bytes of them read or written (shown with their rate). */
  tick(n?: number, bytes?: number): void;
  done(): void;
  /** The phase's total, once it is known (a phase that learns it only after it began). */
  setTotal?(total: number): void;
}
export type ProgressFactory = (label: string, total?: number) => Progress;

export const noProgress: ProgressFactory = () => ({ tick() {}, done() {} });
