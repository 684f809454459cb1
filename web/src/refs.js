// Display names of referenced records, fetched in one list request per target object
// (filter "id in (...)") and cached for the session.
import { reactive } from 'vue'
import { api } from './api.js'
import { meta, recordTitle } from './meta.js'
import { quote } from './filters.js'

export const refNames = reactive({})

const TITLE_FIELDS = ['name', 'last_name', 'first_name', 'subject', 'title', 'number', 'sku']

export async function resolveRefs(target, ids) {
  const o = meta.byName[target]
  if (!o) return
  const want = [...new Set(ids.filter((id) => id && !(id in refNames)))].slice(0, 200)
  if (!want.length) return
  for (const id of want) refNames[id] = id
  const have = new Set((o.fields || []).map((f) => f.name))
  const fields = TITLE_FIELDS.filter((f) => have.has(f))
  try {
    const { data } = await api('GET', '/records/' + target, {
      query: { filter: `id in (${want.map(quote).join(', ')})`, limit: 500, fields: fields.join(',') || undefined },
    })
    for (const r of data.data) refNames[r.id] = recordTitle(target, r)
  } catch {
    /* names stay ids: the list still works */
  }
}

// Resolves every reference column of rows.
export function resolveRows(object, rows, columns) {
  const o = meta.byName[object]
  if (!o) return
  for (const f of o.fields || []) {
    if (f.type !== 'reference' || !f.target || (columns && !columns.includes(f.name))) continue
    resolveRefs(f.target, rows.map((r) => r[f.name]))
  }
}
