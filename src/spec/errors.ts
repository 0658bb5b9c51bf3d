/** An error in what the user asked for: names the input and what is allowed. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    message: string,
  ) {
    super(`input '${input}': ${message}`);
    this.name = 'InputError';
  }
}
