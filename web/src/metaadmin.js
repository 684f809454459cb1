// Pure helpers of the metadata administration page (custom objects, fields and picklist values
// through /api/v1/meta/...). No imports: unit-tested under plain node (tests/web/).

// The field types the API takes (docs/api.md, "Metadata"), in the order the form offers them.
export const FIELD_TYPES = ['text', 'email', 'phone', 'url', 'number', 'money', 'percent', 'date', 'datetime', 'bool', 'picklist', 'multi_picklist', 'reference', 'formula']

// The result types a formula may declare.
export const FORMULA_RESULTS = ['text', 'number', 'money', 'percent', 'date', 'datetime', 'bool']

const TEXTLIKE = ['text', 'email', 'phone', 'url']
const NUMERIC = ['number', 'money', 'percent']

// Which parts of the form a type shows.
export function partsOf(type) {
  return {
    maxLength: TEXTLIKE.includes(type),
    minMax: NUMERIC.includes(type),
    values: type === 'picklist' || type === 'multi_picklist',
    target: type === 'reference',
    formula: type === 'formula',
    required: type !== 'formula',
    unique: !['formula', 'bool', 'multi_picklist'].includes(type),
    default: !['formula', 'reference', 'multi_picklist'].includes(type),
    indexed: !['formula', 'reference', 'multi_picklist'].includes(type),
    sensitive: type !== 'formula',
  }
}

// API names of objects and fields: 1-40 of a-z, 0-9 and _, starting with a letter, not "rp_".
export function validApiName(name) {
  return typeof name === 'string' && /^[a-z][a-z0-9_]{0,39}$/.test(name) && !name.startsWith('rp_')
}

// A {en, zh} label from two inputs; undefined when both are empty (the API then uses the name).
export function label(en, zh) {
  const e = (en || '').trim()
  const z = (zh || '').trim()
  if (!e && !z) return undefined
  const out = {}
  if (e) out.en = e
  if (z) out.zh = z
  return out
}

// A new, empty field form.
export function emptyField() {
  return {
    name: '', type: 'text', labelEn: '', labelZh: '', helpEn: '', helpZh: '', required: false, unique: false, indexed: false, sensitive: false,
    maxLength: '', min: '', max: '', default: '', values: [{ value: '', labelEn: '', labelZh: '', active: true }],
    target: '', formula: '', result: 'number',
  }
}

function defaultValue(type, v) {
  if (v === '' || v === null || v === undefined) return undefined
  if (type === 'bool') return v === true || v === 'true'
  if (type === 'number' || type === 'percent') return Number(v)
  return String(v)
}

// The JSON of POST /meta/objects/{object}/fields from the form: only what the type takes.
export function fieldDefinition(form) {
  const p = partsOf(form.type)
  const def = { name: form.name.trim(), type: form.type }
  const l = label(form.labelEn, form.labelZh)
  if (l) def.label = l
  const h = label(form.helpEn, form.helpZh)
  if (h) def.help = h
  if (p.required && form.required) def.required = true
  if (p.unique && form.unique) def.unique = true
  if (p.indexed && form.indexed && !def.unique) def.indexed = true
  if (p.sensitive && form.sensitive) def.sensitive = true
  if (p.maxLength && String(form.maxLength).trim() !== '') def.max_length = Number(form.maxLength)
  if (p.minMax && String(form.min).trim() !== '') def.min = Number(form.min)
  if (p.minMax && String(form.max).trim() !== '') def.max = Number(form.max)
  if (p.values) def.values = picklistValues(form.values)
  if (p.target) def.target = form.target
  if (p.formula) {
    def.formula = form.formula
    def.result = form.result
  }
  if (p.default) {
    const d = defaultValue(form.type, form.default)
    if (d !== undefined) def.default = d
  }
  return def
}

// Picklist rows {value, labelEn, labelZh, active} as the API's values; blank rows left out.
export function picklistValues(rows) {
  const out = []
  for (const r of rows || []) {
    const value = (r.value || '').trim()
    if (!value) continue
    const v = { value }
    const l = label(r.labelEn, r.labelZh)
    if (l) v.label = l
    if (r.active === false) v.active = false
    out.push(v)
  }
  return out
}

// The API's picklist values as editable rows (existing ones marked: their value cannot change).
export function picklistRows(values) {
  return (values || []).map((v) => ({
    value: v.value,
    labelEn: (v.label && v.label.en) || '',
    labelZh: (v.label && v.label.zh) || '',
    active: v.active !== false,
    existing: true,
  }))
}

// Where a refused definition's message belongs in the form: the error's field when it names a
// part of the form, else a part its message is about, else '' (the form's general message).
const PARTS = ['name', 'type', 'label', 'help', 'values', 'target', 'formula', 'result', 'default', 'max_length', 'min', 'max', 'required', 'unique', 'plural']
export function errorPlacement(problem) {
  const out = {}
  const place = (key, msg) => {
    if (!out[key]) out[key] = msg
  }
  const errors = (problem && problem.errors) || []
  const detail = (problem && (problem.detail || problem.message)) || ''
  for (const e of errors) {
    const msg = e.message || detail || e.code
    if (e.field && PARTS.includes(e.field)) place(e.field, msg)
    else place(guessPart(msg), msg)
  }
  if (!errors.length && detail) place(guessPart(detail), detail)
  return out
}

function guessPart(msg) {
  const m = String(msg || '')
  if (/\bformula\b|\bresult\b|expression|unknown field|yields/i.test(m)) return 'formula'
  if (/\btarget\b|references unknown object|reference field name/i.test(m)) return 'target'
  if (/picklist|"values"/i.test(m)) return 'values'
  if (/\bdefault\b/i.test(m)) return 'default'
  if (/max_length/i.test(m)) return 'max_length'
  if (/\bname\b/i.test(m)) return 'name'
  if (/\btype\b/i.test(m)) return 'type'
  return ''
}

// Objects for the admin list: custom ones first, then by name.
export function sortObjects(objects) {
  return (objects || []).slice().sort((a, b) => (a.custom === b.custom ? a.name.localeCompare(b.name) : a.custom ? -1 : 1))
}
