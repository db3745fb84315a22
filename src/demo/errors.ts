// Stable error codes of the demo (`flowvis demo` and its programmatic API). Every code is listed
// in docs/demo.md, section "Error codes", and a unit test keeps the two in step.

export const DemoErrorCodes = {
  /** An option of `flowvis demo` (or DemoOptions) is out of range; the message says what to write. */
  DEMO_ERR_INVALID_OPTION: 'an option has an invalid value',
  /** A component (store, aggregator, API server, a simulated exporter) did not start. */
  DEMO_ERR_START: 'a demo component failed to start',
  /** `--testbed` needs root on Linux and the testbed's system tools. */
  DEMO_ERR_TESTBED: 'the testbed demo cannot run here',
} as const;

export type DemoErrorCode = keyof typeof DemoErrorCodes;

export class DemoError extends Error {
  readonly code: DemoErrorCode;
  constructor(code: DemoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DemoError';
    this.code = code;
  }
}
