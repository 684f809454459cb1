// Pure helpers of the sales views (pipeline board, lead inbox, quote builder, dashboard). No
// imports: unit-tested under plain node (tests/web/).

// The board's columns: the pipeline definition's stages in order, each with its probability and
// the count of its entry criteria; picklist values the pipeline leaves out follow, without a
// probability. Without a pipeline, the picklist's order. Labels stay {en, zh} objects.
export function boardStages(stageField, pipelineDef) {
  const values = (stageField && stageField.values) || []
  const byValue = new Map(values.map((v) => [v.value, v]))
  const out = []
  const seen = new Set()
  for (const s of (pipelineDef && pipelineDef.stages) || []) {
    if (!byValue.has(s.value) || seen.has(s.value)) continue
    seen.add(s.value)
    out.push({
      value: s.value,
      label: byValue.get(s.value).label,
      probability: typeof s.probability === 'number' ? s.probability : null,
      gates: (s.entry_criteria || []).length,
      won: !!s.won,
      lost: !!s.lost,
    })
  }
  for (const v of values) {
    if (!seen.has(v.value)) out.push({ value: v.value, label: v.label, probability: null, gates: 0, won: false, lost: false })
  }
  return out
}

// The SLA clock that matters to an SDR: the running (or paused) one due first, else the last
// decided one; null without clocks.
export function currentClock(clocks) {
  const list = (clocks || []).filter(Boolean)
  const live = list.filter((c) => c.state === 'running' || c.state === 'paused').sort((a, b) => (a.due_at < b.due_at ? -1 : 1))
  if (live.length) return live[0]
  return list.length ? list[list.length - 1] : null
}

// A countdown's state: 'none' (no deadline), 'late', 'soon' (under an hour) or 'ok', with the
// milliseconds left (negative when late).
export function countdown(dueIso, now) {
  if (!dueIso) return { state: 'none', ms: 0 }
  const ms = new Date(dueIso).getTime() - now
  if (!Number.isFinite(ms)) return { state: 'none', ms: 0 }
  return { state: ms < 0 ? 'late' : ms < 3600000 ? 'soon' : 'ok', ms }
}

// A money amount typed by a person as the API takes it: a decimal string with at most 4
// decimals (exact for any size), or null when empty. Throws on anything else.
export function moneyInput(v) {
  if (v === null || v === undefined) return null
  const s = String(v).trim().replace(/[,\s]/g, '')
  if (s === '') return null
  if (!/^\d+(\.\d{1,4})?$/.test(s)) throw new Error(`"${v}" is not an amount`)
  return s
}

// The body of POST /records/lead/{id}/convert from the dialog's form.
export function convertBody(form) {
  const body = { create_opportunity: !!form.createOpportunity }
  if (form.accountId) body.account_id = form.accountId
  if (form.contactId) body.contact_id = form.contactId
  if (form.createOpportunity) {
    const opp = {}
    if (form.opportunityName && form.opportunityName.trim()) opp.name = form.opportunityName.trim()
    const amount = moneyInput(form.amount)
    if (amount !== null) opp.amount = amount
    if (Object.keys(opp).length) body.opportunity = opp
  }
  return body
}

// The approval state of a record from GET .../approval (every action, oldest first): the state
// of its latest approval ('none' without one), its process and step. A quote re-opened as a
// draft (status given) needs a new approval: its old decision reads as 'none'.
export function approvalState(actions, status) {
  const list = actions || []
  if (!list.length) return { state: 'none', process: null, step: null, approvalId: null }
  const last = list[list.length - 1]
  let state = last.state || 'none'
  if (status === 'draft' && state !== 'pending') state = 'none'
  return { state, process: last.process || null, step: last.step ?? null, approvalId: last.approval_id || null }
}

// The rows of a KPI answer for one owner (grouped by owner_id), or all rows when owner is empty.
export function kpiRows(answer, owner) {
  const rows = (answer && answer.data) || []
  if (!owner) return rows
  return rows.filter((r) => r.group === owner)
}

// The single value of an ungrouped (or owner-filtered) KPI answer: {value, count, numerator,
// denominator}, or nulls when there are no rows.
export function kpiSingle(answer, owner) {
  const rows = kpiRows(answer, owner)
  if (!rows.length) return { value: null, count: 0, numerator: null, denominator: null }
  const r = rows[0]
  return { value: r.value ?? null, count: r.count ?? 0, numerator: r.numerator ?? null, denominator: r.denominator ?? null }
}

// The KPI query string parameters of the dashboard's filters.
export function kpiQuery(range, owner, extra = {}) {
  const q = { ...extra }
  if (range && range.from) q.from = range.from
  if (range && range.to) q.to = range.to
  if (owner) q.group = 'owner_id'
  return q
}

// Sums a grouped KPI's rows by one key (e.g. the SLA attainment of all targets): numerator over
// denominator, null when the denominator is 0.
export function pooledRatio(rows) {
  let num = 0
  let den = 0
  for (const r of rows) {
    num += Number(r.numerator) || 0
    den += Number(r.denominator) || 0
  }
  return { value: den ? num / den : null, numerator: num, denominator: den }
}
