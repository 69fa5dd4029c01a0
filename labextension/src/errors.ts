/**
 * An answer of the REST API that is not a success, or no answer at all.
 *
 * `status` is the HTTP status (0 when the server could not be reached); `message` is the
 * server's own `{"message"}` when it sent one, else a description of the failure.
 * `fromAPI` tells whether the jupyter-mlops server extension itself answered (a JSON error
 * body): a 404 that did not come from it means the extension is not running.
 */
export class APIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fromAPI: boolean = false
  ) {
    super(message);
    this.name = 'APIError';
  }
}

/** The message to show for any error thrown by a request. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
