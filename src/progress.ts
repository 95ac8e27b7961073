// The progress interface operations report through (Context.progress); the UI implements it.
/** Progress of one phase. Operations call it; the UI decides whether anything shows. */
export interface Progress {
  tick(n?: number): void;
  done(): void;
}
export type ProgressFactory = (label: string, total?: number) => Progress;

export const noProgress: ProgressFactory = () => ({ tick() {}, done() {} });
