// Coded errors of the flow store, its query layer, API and CLI. Codes are stable; docs/store.md
// lists each one under "Errors".

export const StoreErrorCode = {
  /** A query parameter is unknown or malformed (the HTTP API answers 400). */
  invalidQuery: 'STORE_ERR_INVALID_QUERY',
  /** A store option (--store, retention, commit interval, buffer size) is malformed. */
  invalidOption: 'STORE_ERR_INVALID_OPTION',
  /** The database cannot be reached or refused a statement; the sink keeps the batch and retries. */
  unavailable: 'STORE_ERR_UNAVAILABLE',
  /** A migration failed, or the database is at a schema version this build does not know. */
  migration: 'STORE_ERR_MIGRATION',
  /** An input file for `flowvis import` is neither IPFIX nor a pcap of IPFIX, or is cut short. */
  importFormat: 'STORE_ERR_IMPORT_FORMAT',
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}
