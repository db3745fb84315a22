// Stable error codes of the testbed (`flowvis testbed ...` and its programmatic API). Every code
// is listed in docs/testbed.md, section "Error codes", and a unit test keeps the two in step.

export const TestbedErrorCodes = {
  /** The testbed needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for network namespaces) on Linux. */
  TESTBED_ERR_NOT_ROOT: 'not running as root on Linux',
  /** A system tool (ip, iptables, ip6tables, iptables-restore, ...) is not installed. */
  TESTBED_ERR_MISSING_TOOL: 'a required system tool is missing',
  /** The topology file cannot be read or is not YAML. */
  TESTBED_ERR_TOPOLOGY_FILE: 'the topology file cannot be read or is not valid YAML',
  /** The topology is invalid; the message names the key and says what to write instead. */
  TESTBED_ERR_TOPOLOGY: 'the topology has an invalid value',
  /** A system command (ip, iptables-restore, sysctl) failed while building or removing the testbed. */
  TESTBED_ERR_COMMAND: 'a system command failed',
  /** No testbed state was found in the state directory (run `flowvis testbed up` first). */
  TESTBED_ERR_NO_STATE: 'no testbed is up in this state directory',
  /** The state file exists but cannot be read or does not describe a testbed. */
  TESTBED_ERR_BAD_STATE: 'the state file is unreadable or malformed',
  /** A process of the testbed (exporter, aggregator, traffic server) did not start. */
  TESTBED_ERR_PROCESS: 'a testbed process failed to start',
  /** A traffic spec names an unknown Pod, Service, port, or has invalid sizes. */
  TESTBED_ERR_TRAFFIC: 'a traffic spec is invalid',
} as const;

export type TestbedErrorCode = keyof typeof TestbedErrorCodes;

export class TestbedError extends Error {
  readonly code: TestbedErrorCode;
  constructor(code: TestbedErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TestbedError';
    this.code = code;
  }
}
