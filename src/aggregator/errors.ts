// Coded errors of the Flow Aggregator. Codes are stable: docs/errors.md lists each one
// under "Aggregator", and a test keeps the two in step.

export const AggregatorErrorCode = {
  /** The config file is not valid YAML, or a key has a wrong type or value. */
  invalidConfig: 'AGG_ERR_INVALID_CONFIG',
  /** The exporter's flowCollectorAddr protocol differs from aggregatorTransportProtocol. */
  protocolMismatch: 'AGG_ERR_PROTOCOL_MISMATCH',
  /** A collected data record lacks the 5-tuple or has values out of range; it is counted and dropped. */
  invalidRecord: 'AGG_ERR_INVALID_RECORD',
  /** An HTTP API query parameter is unknown or malformed (answered with 400). */
  invalidQuery: 'AGG_ERR_INVALID_QUERY',
  /** Certificate files in certDir are unreadable or do not belong together. */
  certificates: 'AGG_ERR_CERTIFICATES',
  /** A sink failed to write a batch; the batch is counted as dropped by that sink. */
  sinkWrite: 'AGG_ERR_SINK_WRITE',
} as const;
export type AggregatorErrorCode = (typeof AggregatorErrorCode)[keyof typeof AggregatorErrorCode];

export class AggregatorError extends Error {
  readonly code: AggregatorErrorCode;
  constructor(code: AggregatorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AggregatorError';
    this.code = code;
  }
}
