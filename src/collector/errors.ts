// Errors of `flowvis collector`, each with a stable code (docs/errors.md, section "Collector";
// test/unit/collector/errors.test.ts keeps the two in step).

export const CollectorErrorCode = {
  /** A command-line option is missing, malformed or does not go with another one. */
  invalidOption: 'COLLECTOR_ERR_INVALID_OPTION',
  /** A --cert, --key or --ca file cannot be read or holds no PEM block. */
  tlsFile: 'COLLECTOR_ERR_TLS_FILE',
  /** GET /records with an unknown or malformed query parameter (HTTP 400). */
  badQuery: 'COLLECTOR_ERR_BAD_QUERY',
  /** A path the HTTP endpoint does not serve (HTTP 404). */
  notFound: 'COLLECTOR_ERR_NOT_FOUND',
} as const;
export type CollectorErrorCode = (typeof CollectorErrorCode)[keyof typeof CollectorErrorCode];
export const COLLECTOR_ERROR_CODES: readonly CollectorErrorCode[] = Object.values(CollectorErrorCode);

export class CollectorError extends Error {
  readonly code: CollectorErrorCode;
  constructor(code: CollectorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CollectorError';
    this.code = code;
  }
}
