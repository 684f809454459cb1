// The filter builder's model: conditions {field, op, value} joined with "and", written out in
// the expression language of GET /records/{object}?filter= (docs/expressions.md).

export const OPS = {
  text: ['contains', 'eq', 'ne', 'starts_with', 'is_null', 'is_not_null'],
  number: ['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'is_null', 'is_not_null'],
  date: ['eq', 'gt', 'ge', 'lt', 'le', 'is_null', 'is_not_null'],
  picklist: ['eq', 'ne', 'in', 'is_null', 'is_not_null'],
  multi_picklist: ['contains', 'is_null', 'is_not_null'],
  bool: ['eq'],
  reference: ['eq', 'is_null', 'is_not_null'],
}

const SYMBOL = { eq: '=', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=', contains: 'contains', starts_with: 'starts_with', in: 'in' }

export function kindOf(field) {
  switch (field && field.type) {
    case 'number': case 'money': case 'percent': case 'integer': return 'number'
    case 'date': case 'datetime': return 'date'
    case 'picklist': return 'picklist'
    case 'multi_picklist': return 'multi_picklist'
    case 'bool': return 'bool'
    case 'reference': return 'reference'
    case 'formula': return field.result === 'money' || field.result === 'number' ? 'number' : field.result === 'date' ? 'date' : 'text'
    default: return 'text'
  }
}

export function quote(s) {
  return "'" + String(s).replace(/'/g, "''") + "'"
}

function literal(kind, v) {
  if (kind === 'number') {
    const s = String(v).trim()
    if (!/^-?\d+(\.\d+)?$/.test(s)) throw new Error(`"${v}" is not a number`)
    return s
  }
  if (kind === 'bool') return v === true || v === 'true' ? 'true' : 'false'
  return quote(v)
}

// One condition as expression text; throws on a value the expression could not hold.
export function conditionText(c, field) {
  const kind = kindOf(field)
  if (c.op === 'is_null') return `${c.field} is null`
  if (c.op === 'is_not_null') return `${c.field} is not null`
  if (c.op === 'in') {
    const items = (Array.isArray(c.value) ? c.value : [c.value]).filter((x) => x !== '' && x != null)
    if (!items.length) throw new Error('choose at least one value')
    return `${c.field} in (${items.map((x) => literal(kind, x)).join(', ')})`
  }
  if (c.value === '' || c.value == null) throw new Error('a value is missing')
  return `${c.field} ${SYMBOL[c.op]} ${literal(kind, c.value)}`
}

export function buildExpression(conditions, fieldOf) {
  return conditions.map((c) => conditionText(c, fieldOf(c.field))).join(' and ')
}
