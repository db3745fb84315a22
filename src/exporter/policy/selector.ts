// Kubernetes label selectors (metav1.LabelSelector), compiled once into a list of
// requirements that a Pod's or Namespace's labels are tested against per flow.
import { K8sError } from '../k8s/errors.js';

export type Labels = Readonly<Record<string, string>>;

type Requirement =
  | { readonly op: 'In'; readonly key: string; readonly values: ReadonlySet<string> }
  | { readonly op: 'NotIn'; readonly key: string; readonly values: ReadonlySet<string> }
  | { readonly op: 'Exists'; readonly key: string }
  | { readonly op: 'DoesNotExist'; readonly key: string };

/** A compiled selector. An empty selector (`{}`) matches every label set. */
export interface LabelMatcher {
  readonly matchesAll: boolean;
  matches(labels: Labels): boolean;
  /** Canonical text, e.g. "app=db,tier in (a,b),!legacy", for logs and docs. */
  readonly text: string;
}

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Compiles a LabelSelector; `where` names it in errors, e.g. "spec.podSelector". */
export function compileSelector(selector: unknown, where: string): LabelMatcher {
  const fail = (why: string): never => {
    throw new K8sError('K8S_ERR_BAD_SELECTOR', `${where}: ${why}`);
  };
  if (selector === undefined || selector === null) selector = {};
  if (!isRecord(selector)) fail('a label selector must be an object with matchLabels and/or matchExpressions');
  const sel = selector as Record<string, unknown>;
  const reqs: Requirement[] = [];
  if (sel.matchLabels !== undefined && sel.matchLabels !== null) {
    if (!isRecord(sel.matchLabels)) fail('matchLabels must be a map of label keys to values');
    for (const [key, value] of Object.entries(sel.matchLabels as Record<string, unknown>)) {
      if (typeof value !== 'string') fail(`matchLabels["${key}"] must be a string`);
      reqs.push({ op: 'In', key, values: new Set([value as string]) });
    }
  }
  if (sel.matchExpressions !== undefined && sel.matchExpressions !== null) {
    if (!Array.isArray(sel.matchExpressions)) fail('matchExpressions must be a list');
    (sel.matchExpressions as unknown[]).forEach((expr, i) => {
      const at = `matchExpressions[${i}]`;
      if (!isRecord(expr)) fail(`${at} must be an object with key, operator and values`);
      const e = expr as Record<string, unknown>;
      if (typeof e.key !== 'string' || e.key === '') fail(`${at}.key must be a non-empty string`);
      const op = e.operator;
      if (typeof op !== 'string' || !(OPERATORS as readonly string[]).includes(op)) {
        fail(`${at}.operator "${String(op)}" is not one of ${OPERATORS.join(', ')}`);
      }
      const values = e.values ?? [];
      if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) fail(`${at}.values must be a list of strings`);
      const vals = values as string[];
      const key = e.key as string;
      if (op === 'In' || op === 'NotIn') {
        if (vals.length === 0) fail(`${at}: operator ${op} needs at least one value`);
        reqs.push({ op, key, values: new Set(vals) });
      } else {
        if (vals.length > 0) fail(`${at}: operator ${op} takes no values`);
        reqs.push({ op: op as 'Exists' | 'DoesNotExist', key });
      }
    });
  }
  for (const key of Object.keys(sel)) {
    if (key !== 'matchLabels' && key !== 'matchExpressions') fail(`unknown field "${key}"; use matchLabels or matchExpressions`);
  }
  return buildMatcher(reqs);
}

function buildMatcher(reqs: Requirement[]): LabelMatcher {
  const text = reqs
    .map((r) => {
      switch (r.op) {
        case 'In':
          return r.values.size === 1 ? `${r.key}=${[...r.values][0]}` : `${r.key} in (${[...r.values].sort().join(',')})`;
        case 'NotIn':
          return `${r.key} notin (${[...r.values].sort().join(',')})`;
        case 'Exists':
          return r.key;
        case 'DoesNotExist':
          return `!${r.key}`;
      }
    })
    .join(',');
  if (reqs.length === 0) return { matchesAll: true, matches: () => true, text: '' };
  return {
    matchesAll: false,
    text,
    matches(labels: Labels): boolean {
      for (const r of reqs) {
        const has = Object.prototype.hasOwnProperty.call(labels, r.key);
        switch (r.op) {
          case 'In':
            if (!has || !r.values.has(labels[r.key])) return false;
            break;
          case 'NotIn':
            // Kubernetes: NotIn also matches when the key is absent.
            if (has && r.values.has(labels[r.key])) return false;
            break;
          case 'Exists':
            if (!has) return false;
            break;
          case 'DoesNotExist':
            if (has) return false;
            break;
        }
      }
      return true;
    },
  };
}
