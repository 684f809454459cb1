// Human text for an API error. A failed validation rule's message comes from metadata in the
// current language (the API answers in English); anything else is the problem's detail.
import { meta, tr } from './meta.js'

export function localizedFieldError(object, e) {
  const o = meta.byName[object]
  const rule = o && (o.rules || []).find((r) => r.field === e.field && r.message && r.message.en === e.message)
  return rule ? tr(rule.message) : e.message || e.code
}

export function problemMessage(err, object) {
  if (!err) return ''
  if (err.errors && err.errors.length) return err.errors.map((e) => localizedFieldError(object, e)).join('; ')
  return err.message || String(err)
}
