// A small reader of the container build file, enough to check its structure without Docker:
// instructions (continuation lines joined, comments and parser directives dropped) grouped
// into stages at each FROM.

export interface Instruction {
  /** Upper case, e.g. "COPY". */
  keyword: string;
  /** The rest of the line, continuations joined with a space. */
  args: string;
  line: number;
}

export interface Stage {
  /** The image after FROM (flags such as --platform dropped). */
  base: string;
  /** The name after AS, or null. */
  name: string | null;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const first = i + 1;
    let line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = lines[i].trim();
      line = `${line.slice(0, -1).trimEnd()} ${next.startsWith('#') ? '' : next}`.trimEnd();
    }
    const m = /^(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    instructions.push({ keyword: m[1].toUpperCase(), args: m[2], line: first });
  }
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const as = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ base: words[0], name: as >= 0 ? (words[as + 1] ?? null) : null, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
    } else {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return stages;
}

/** The exec form of ENTRYPOINT/CMD (a JSON array), or null for the shell form. */
export function execForm(args: string): string[] | null {
  try {
    const v: unknown = JSON.parse(args);
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
}

/** The last value an instruction takes in a stage (USER, ENTRYPOINT, WORKDIR...), or null. */
export function last(stage: Stage, keyword: string): Instruction | null {
  const all = stage.instructions.filter((i) => i.keyword === keyword);
  return all.length > 0 ? all[all.length - 1] : null;
}
