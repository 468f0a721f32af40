/**
 * Which secret source a shared suite runs against. A suite file runs with the built-in store;
 * a second file chooses moto's server first, then imports the same suite, so one suite proves
 * both sources give the same answers.
 */
export type SecretSourceKind = 'builtin' | 'moto';

let chosen: SecretSourceKind = 'builtin';

export function useSecretSource(kind: SecretSourceKind): void {
  chosen = kind;
}

export function secretSourceKind(): SecretSourceKind {
  return chosen;
}
