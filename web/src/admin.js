// Pure helpers of the administration pages (automation rules and named definitions). No
// imports: unit-tested under plain node (tests/web/).

// The editable kinds: automation rules at /automation/rules, the others at /definitions/{kind}.
export const KINDS = {
  rules: { path: '/automation/rules', starter: { object: 'lead', trigger: { on: 'created' }, condition: '', actions: [{ type: 'set_fields', values: {} }], active: true } },
  queues: { path: '/definitions/queues', starter: { members: [], strategy: 'round_robin' } },
  'assignment-rules': { path: '/definitions/assignment-rules', starter: { object: 'lead', entries: [{ criteria: '', queue: '' }] } },
  journeys: { path: '/definitions/journeys', starter: { object: 'contact', reenter: false, steps: [{ name: 'first', actions: [] }] } },
}

// API names, as the server takes them for rules and definitions: [a-z][a-z0-9_]*.
export function validName(name) {
  return typeof name === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(name)
}

// What a definition does, for the list, as parts to join: plain strings (object, trigger,
// strategy) and counts {count: 'actions' | 'members' | 'entries' | 'steps', n} that the view
// words in the user's language.
export function summaryParts(kind, def) {
  const d = def || {}
  const n = (a) => (Array.isArray(a) ? a.length : 0)
  switch (kind) {
    case 'rules': {
      const tr = d.trigger || {}
      const trig = tr.on ? [tr.on, tr.type, tr.field].filter(Boolean).join(' ') : '?'
      return [d.object || '?', trig, { count: 'actions', n: n(d.actions) }]
    }
    case 'queues':
      return [{ count: 'members', n: n(d.members) }, d.strategy || 'round_robin']
    case 'assignment-rules':
      return [d.object || '?', { count: 'entries', n: n(d.entries) }]
    case 'journeys':
      return [d.object || '?', { count: 'steps', n: n(d.steps) }]
    default:
      return []
  }
}

// The parts as one line, counts worded by word(count, n).
export function summary(kind, def, word = (c, k) => `${k} ${c}`) {
  return summaryParts(kind, def)
    .map((p) => (typeof p === 'string' ? p : word(p.count, p.n)))
    .join(' · ')
}

// The part of a definition a 422 names: "actions[1]", "entries[0].queue", "hours.mon[1][0]";
// undefined when the path leads nowhere.
export function resolvePath(def, path) {
  if (!path) return undefined
  const parts = []
  for (const m of String(path).matchAll(/([^.[\]]+)|\[(\d+)\]/g)) parts.push(m[2] !== undefined ? Number(m[2]) : m[1])
  let cur = def
  for (const p of parts) {
    if (cur === null || typeof cur !== 'object' || !(p in cur)) return undefined
    cur = cur[p]
  }
  return cur
}

// Parses the JSON text of the editor into an object; {error} with the parser's message otherwise.
export function parseDefinition(text) {
  let v
  try {
    v = JSON.parse(text)
  } catch (e) {
    return { error: e.message }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: 'the definition must be a JSON object' }
  return { value: v }
}

// The server's field errors of a PUT split for the form: those about the name, and the others
// (paths into the definition) with the part they name.
export function splitErrors(errors, def) {
  const out = { name: '', definition: [] }
  for (const e of errors || []) {
    if (e.field === 'name') out.name = e.message || e.code
    else out.definition.push({ field: e.field || '', message: e.message || e.code, part: e.field ? resolvePath(def, e.field) : undefined })
  }
  return out
}
