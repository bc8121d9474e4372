/** One line for the terminal: the error's message and, when wrapped, its cause's; never a stack. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message;
}
