/**
 * The grammar of an EventBridge Scheduler cron expression, checked at synth so that a schedule in the
 * deployment settings that EventBridge would refuse fails with a message naming the field, not in
 * CloudFormation's deploy. Six fields: minutes hours day-of-month month day-of-week year.
 */

const CRON_FIELDS = [
  { name: 'minutes', min: 0, max: 59, names: [] as string[], extra: '' },
  { name: 'hours', min: 0, max: 23, names: [], extra: '' },
  { name: 'day-of-month', min: 1, max: 31, names: [], extra: 'LW' },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
    extra: '',
  },
  {
    name: 'day-of-week',
    min: 1,
    max: 7,
    names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'],
    extra: 'L#',
  },
  { name: 'year', min: 1970, max: 2199, names: [], extra: '' },
] as const;

/**
 * Why an EventBridge Scheduler cron expression (six fields: minutes hours day-of-month month
 * day-of-week year, without the `cron(...)` wrapper) is invalid, or undefined when it is valid.
 */
export function cronProblem(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 6) {
    return `must have 6 fields (minutes hours day-of-month month day-of-week year), e.g. "0 3 * * ? *"; got ${fields.length}`;
  }
  const [, , dom, , dow] = fields;
  if ((dom === '?') === (dow === '?')) {
    return 'exactly one of day-of-month (3rd field) and day-of-week (5th field) must be "?"';
  }
  for (const [i, spec] of CRON_FIELDS.entries()) {
    const field = fields[i] ?? '';
    if (field === '?' && (spec.name === 'day-of-month' || spec.name === 'day-of-week')) continue;
    for (const part of field.split(',')) {
      const problem = cronPartProblem(part, spec);
      if (problem) return `${spec.name} field "${field}": ${problem}`;
    }
  }
  return undefined;
}

function cronPartProblem(part: string, spec: (typeof CRON_FIELDS)[number]): string | undefined {
  const value = (v: string): number | undefined => {
    const byName = (spec.names as readonly string[]).indexOf(v.toUpperCase());
    if (byName >= 0) return byName + 1;
    return /^\d+$/.test(v) ? Number(v) : undefined;
  };
  const inRange = (n: number | undefined) => n !== undefined && n >= spec.min && n <= spec.max;
  const outOfRange = `values must be ${spec.min}-${spec.max}${spec.names.length ? ' or names such as ' + spec.names[0] : ''}`;
  // Special forms: L / W on day-of-month, nL / n#k on day-of-week.
  if (spec.extra.includes('L') && /^(L|LW|\d*L|\d+W|L-\d+)$/i.test(part) && spec.name === 'day-of-month')
    return;
  if (spec.name === 'day-of-week') {
    const hash = /^(\w+)#([1-5])$/.exec(part);
    if (hash) return inRange(value(hash[1] ?? '')) ? undefined : outOfRange;
    const last = /^(\w+)L$/i.exec(part);
    if (last && value(last[1] ?? '') !== undefined)
      return inRange(value(last[1] ?? '')) ? undefined : outOfRange;
    if (part.toUpperCase() === 'L') return;
  }
  const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(part);
  if (!m) return `"${part}" is not a value, range (a-b), list (a,b) or step (*/n)`;
  const [, base = '', step] = m;
  if (step !== undefined && Number(step) < 1) return 'a step must be at least 1';
  if (base === '*') return;
  const [from = '', to] = base.split('-');
  if (!inRange(value(from)) || (to !== undefined && !inRange(value(to)))) return outOfRange;
  return;
}
