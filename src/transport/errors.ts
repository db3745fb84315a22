// Errors of the transport layer, each with a stable code (listed in docs/errors.md,
// section "Transport"). Codec errors (IpfixError, IPFIX_ERR_*) pass through unchanged.

export const TransportErrorCode = {
  /** An option is missing, of the wrong type or out of range; the message says what to write instead. */
  invalidOption: 'TRANSPORT_ERR_INVALID_OPTION',
  /** send() or start() after close(). */
  closed: 'TRANSPORT_ERR_CLOSED',
  /** send() with a template ID that was not given in `templates`. */
  unknownTemplate: 'TRANSPORT_ERR_UNKNOWN_TEMPLATE',
  /** Connecting to the collector failed (refused, unreachable, DNS); the exporter retries with backoff. */
  connectFailed: 'TRANSPORT_ERR_CONNECT_FAILED',
  /** An established connection was lost; the exporter reconnects with backoff. */
  connectionLost: 'TRANSPORT_ERR_CONNECTION_LOST',
  /** The TLS handshake failed: certificate not trusted, wrong name, no client certificate, old protocol. */
  tlsHandshake: 'TRANSPORT_ERR_TLS_HANDSHAKE',
  /** A UDP datagram whose length is not the IPFIX message length in its header (RFC 7011 10.3.3). */
  datagramLength: 'TRANSPORT_ERR_DATAGRAM_LENGTH',
  /** A datagram from a new UDP peer while maxUdpSessions peers are already tracked. */
  tooManySessions: 'TRANSPORT_ERR_TOO_MANY_SESSIONS',
  /** Binding the collector's listening socket failed (address in use, not available). */
  listenFailed: 'TRANSPORT_ERR_LISTEN_FAILED',
  /** The decoder threw an error without a code: a flowvis bug. The session is closed like a bad peer's. */
  decoderFault: 'TRANSPORT_ERR_DECODER_FAULT',
} as const;
export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

export class TransportError extends Error {
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransportError';
    this.code = code;
  }
}

/** Logger shape the transports use; pino's logger fits it. */
export interface TransportLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export const silentLogger: TransportLogger = {
  info() {},
  warn() {},
  debug() {},
};
