// Metadata from GET /api/v1/meta/objects: every label the UI shows for objects, fields and
// picklist values comes from here, in the current language.
import { reactive } from 'vue'
import { api } from './api.js'
import { i18n } from './i18n.js'

export const meta = reactive({ objects: [], byName: {}, loaded: false })

// The objects the global search and the navigation lead with.
export const MAIN_OBJECTS = ['account', 'contact', 'lead', 'opportunity', 'case']

export const SYSTEM_FIELDS = ['id', 'version', 'created_at', 'updated_at', 'created_by', 'updated_by', 'owner_id']

export async function loadMeta(force = false) {
  if (meta.loaded && !force) return
  const { data } = await api('GET', '/meta/objects')
  const list = Array.isArray(data) ? data : data.data || data.objects || []
  meta.objects = list
  meta.byName = Object.fromEntries(list.map((o) => [o.name, o]))
  meta.loaded = true
}

function lang() {
  return i18n.global.locale.value === 'zh-CN' ? 'zh' : 'en'
}

// A {en, zh} label in the current language (a plain string stays as it is).
export function tr(label, fallback = '') {
  if (!label) return fallback
  if (typeof label === 'string') return label
  return label[lang()] || label.en || fallback
}

export function objectLabel(name, plural = false) {
  const o = meta.byName[name]
  if (!o) return name
  return tr(plural ? o.plural || o.label : o.label, name)
}

export function fieldOf(object, field) {
  const o = meta.byName[object]
  return o && (o.fields || []).find((f) => f.name === field)
}

export function fieldLabel(object, field) {
  const f = fieldOf(object, field)
  if (f) return tr(f.label, field)
  const key = 'system.' + field
  return i18n.global.te(key) ? i18n.global.t(key) : field
}

export function picklistLabel(field, value) {
  if (!field || !field.values) return value
  const v = field.values.find((x) => x.value === value)
  return v ? tr(v.label, value) : value
}

// The picklist values a form offers: the active ones, and the value(s) the record holds now
// (an inactive value stays readable but cannot be chosen anew).
export function choices(field, current) {
  if (!field || !field.values) return []
  const held = new Set(Array.isArray(current) ? current : current !== null && current !== undefined ? [current] : [])
  return field.values.filter((v) => v.active !== false || held.has(v.value))
}

// Fields that have a column in lists (formulas included; long text is left to the record page).
export function listFields(object) {
  const o = meta.byName[object]
  return o ? o.fields || [] : []
}

// The fields of other objects that point at `object` (reference fields whose target it is).
export function relatedLists(object) {
  const out = []
  for (const o of meta.objects) {
    for (const f of o.fields || []) {
      if (f.type === 'reference' && f.target === object && o.name !== object) out.push({ object: o.name, field: f.name })
    }
  }
  return out
}

export function formatValue(field, value) {
  if (value === null || value === undefined || value === '') return ''
  if (!field) return String(value)
  switch (field.type) {
    case 'picklist':
      return picklistLabel(field, value)
    case 'multi_picklist':
      return Array.isArray(value) ? value.map((v) => picklistLabel(field, v)).join(', ') : String(value)
    case 'bool':
      return value === true ? i18n.global.t('common.yes') : value === false ? i18n.global.t('common.no') : String(value)
    case 'money':
      return typeof value === 'number' ? value.toLocaleString(i18n.global.locale.value, { minimumFractionDigits: 2, maximumFractionDigits: 4 }) : String(value)
    case 'percent':
      return typeof value === 'number' ? value + '%' : String(value)
    case 'datetime':
      return typeof value === 'string' && value.includes('T') ? new Date(value).toLocaleString(i18n.global.locale.value) : String(value)
    default:
      return Array.isArray(value) ? value.join(', ') : String(value)
  }
}

// A display name for a record: its name, or the people's name fields, or its id.
export function recordTitle(object, r) {
  if (!r) return ''
  if (r.name) return r.name
  if (r.last_name || r.first_name) {
    const cjk = /[\u3400-\u9fff]/.test((r.last_name || '') + (r.first_name || ''))
    return cjk ? (r.last_name || '') + (r.first_name || '') : [r.first_name, r.last_name].filter(Boolean).join(' ')
  }
  for (const k of ['subject', 'title', 'number', 'sku']) if (r[k]) return r[k]
  return r.id
}

export { maskValue } from './mask.js'
