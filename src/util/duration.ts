// Go-style duration strings ("5s", "1m30s", "250ms", "1.5h"), as the reference's config keys use.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Parses a Go duration into milliseconds; throws an Error that says what is accepted. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  let i = 0;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    sign = s[0] === '-' ? -1 : 1;
    i = 1;
  }
  if (i >= s.length) throw new Error(`invalid duration "${text}": expected a number with a unit (ns, us, µs, ms, s, m, h), e.g. "5s"`);
  let total = 0;
  while (i < s.length) {
    PART.lastIndex = i;
    const m = PART.exec(s);
    if (!m) {
      throw new Error(`invalid duration "${text}": expected a number with a unit (ns, us, µs, ms, s, m, h), e.g. "5s" or "1m30s"`);
    }
    total += Number(m[1]) * UNIT_MS[m[2]];
    i = PART.lastIndex;
  }
  return sign * total;
}

/** Formats milliseconds the way Go prints a duration ("1m30s", "250ms"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let rest = ms / 1000;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  rest -= m * 60;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${Number(rest.toFixed(3))}s`;
}
