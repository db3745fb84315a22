// Stable error codes of the Flow Exporter. Every code is listed in docs/exporter.md, and a
// unit test keeps the two in step.

export const ExporterErrorCodes = {
  /** The config file is missing, unreadable or not YAML. */
  EXPORTER_ERR_CONFIG_FILE: 'the config file cannot be read or is not valid YAML',
  /** A config key has an invalid value; the message names the key and what to write instead. */
  EXPORTER_ERR_CONFIG: 'a config key has an invalid value',
  /** featureGates.FlowExporter is false, so the exporter does not start. */
  EXPORTER_ERR_DISABLED: 'the FlowExporter feature gate is off',
  /** The metrics HTTP endpoint could not listen. */
  EXPORTER_ERR_METRICS_LISTEN: 'the metrics endpoint could not listen',
} as const;

export type ExporterErrorCode = keyof typeof ExporterErrorCodes;

export class ExporterError extends Error {
  readonly code: ExporterErrorCode;
  constructor(code: ExporterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ExporterError';
    this.code = code;
  }
}
