// The codec's errors. Every failure carries a stable code; docs/errors.md lists them all
// (test/unit/ipfix/errors.test.ts keeps the list and the docs in step).

export const IPFIX_ERROR_CODES = [
  // Decoding: the peer sent bytes that are not a valid IPFIX message.
  'IPFIX_ERR_SHORT_BUFFER',
  'IPFIX_ERR_BAD_VERSION',
  'IPFIX_ERR_BAD_MESSAGE_LENGTH',
  'IPFIX_ERR_BAD_SET_ID',
  'IPFIX_ERR_BAD_SET_LENGTH',
  'IPFIX_ERR_BAD_TEMPLATE',
  'IPFIX_ERR_BAD_FIELD_LENGTH',
  'IPFIX_ERR_RECORD_OVERRUN',
  'IPFIX_ERR_BAD_VALUE',
  // Encoding: the caller asked for something the wire cannot carry.
  'IPFIX_ERR_UNKNOWN_TEMPLATE',
  'IPFIX_ERR_MISSING_VALUE',
  'IPFIX_ERR_VALUE_TYPE',
  'IPFIX_ERR_VALUE_RANGE',
  'IPFIX_ERR_VALUE_TOO_LONG',
  'IPFIX_ERR_RECORD_TOO_LARGE',
  'IPFIX_ERR_BAD_OPTION',
] as const;

export type IpfixErrorCode = (typeof IPFIX_ERROR_CODES)[number];

export class IpfixError extends Error {
  readonly code: IpfixErrorCode;

  constructor(code: IpfixErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'IpfixError';
    this.code = code;
  }
}

export function isIpfixError(err: unknown): err is IpfixError {
  return err instanceof IpfixError;
}
