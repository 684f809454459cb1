// The web UI's pure helpers of the sales screens under Vitest: formatting
// (format.js), the board, inbox, conversion, approval and KPI helpers (sales.js).
import { test } from 'vitest'
import assert from 'node:assert/strict'
import { fixed, isoDay, lastDays, money, percent, safeUrl, span, sumMoney } from '../../web/src/format.js'
import { approvalState, boardStages, convertBody, countdown, currentClock, kpiQuery, kpiRows, kpiSingle, moneyInput, pooledRatio } from '../../web/src/sales.js'

test('money: currency of the picklist value, empty values as a dash', () => {
  assert.equal(money(1234.5, 'cny', 'en', 2), 'CN¥1,234.50')
  assert.equal(money(1234.5, 'usd', 'en'), '$1,235')
  assert.equal(money('99.9', 'eur', 'en', 2), '€99.90')
  assert.equal(money(null, 'cny'), '—')
  assert.equal(money('', 'cny'), '—')
  assert.equal(money('abc', 'cny'), 'abc')
  assert.equal(money(5, 'not-a-currency', 'en'), '5') // an unknown code falls back to the number
  assert.match(money(1000, 'cny', 'zh-CN'), /^¥1,000$/)
})

test('sumMoney: exact per currency in 1/10,000 units, in order of appearance', () => {
  const rows = [{ amount: 0.1, currency: 'cny' }, { amount: 0.2, currency: 'cny' }, { amount: 5, currency: 'usd' }, { amount: null }, { amount: '1.0001' }]
  assert.deepEqual(sumMoney(rows), [['cny', 1.3001], ['usd', 5]])
  assert.deepEqual(sumMoney([]), [])
  assert.deepEqual(sumMoney([{ total: 3, cur: 'jpy' }], 'total', 'cur'), [['jpy', 3]])
})

test('percent, fixed, span', () => {
  assert.equal(percent(0.6125), '61.3%')
  assert.equal(percent(1), '100.0%')
  assert.equal(percent(null), '—')
  assert.equal(percent(undefined), '—')
  assert.equal(percent(0.5, 0), '50%')
  assert.equal(fixed(57.04, 1), '57.0')
  assert.equal(fixed(null), '—')
  assert.deepEqual(span(3 * 3600000 + 59 * 60000 + 5000), { unit: 'hm', h: 3, m: 59 })
  assert.deepEqual(span(-90 * 60000), { unit: 'hm', h: 1, m: 30 })
  assert.deepEqual(span(49 * 3600000), { unit: 'days', n: 2 })
})

test('lastDays: n days ending today (UTC), inclusive; 0 is all time', () => {
  const now = Date.UTC(2026, 11, 6, 23, 30)
  assert.deepEqual(lastDays(30, now), { from: '2026-11-07', to: '2026-12-06' })
  assert.deepEqual(lastDays(1, now), { from: '2026-12-06', to: '2026-12-06' })
  assert.deepEqual(lastDays(0, now), {})
  assert.equal(isoDay(Date.UTC(2027, 0, 1)), '2027-01-01')
})

test('safeUrl: only http(s) addresses become links', () => {
  assert.equal(safeUrl('https://example.com/a?b=1'), 'https://example.com/a?b=1')
  assert.equal(safeUrl('http://example.com'), 'http://example.com/')
  assert.equal(safeUrl('/sign/abc', 'https://crm.example.com/quotes/1'), 'https://crm.example.com/sign/abc')
  for (const bad of ['javascript:alert(1)', 'JavaScript:alert(1)', ' javascript:alert(1)', 'java\tscript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:x', 'file:///etc/passwd', '', null, 42]) {
    assert.equal(safeUrl(bad, 'https://crm.example.com/'), null, String(bad))
  }
})

const stageField = {
  values: [
    { value: 'prospecting', label: { en: 'Prospecting', zh: '初步接洽' } },
    { value: 'proposal', label: { en: 'Proposal', zh: '方案报价' } },
    { value: 'closed_won', label: { en: 'Won', zh: '赢单' } },
    { value: 'on_hold', label: { en: 'On hold', zh: '搁置' } },
  ],
}

test('boardStages: the pipeline order with probabilities and gates, the other picklist values after', () => {
  const def = {
    stages: [
      { value: 'proposal', probability: 60, entry_criteria: [{ condition: 'a = 1', message: 'x' }, { condition: 'b = 1', message: 'y' }] },
      { value: 'prospecting', probability: 10 },
      { value: 'closed_won', probability: 100, won: true },
      { value: 'not_in_picklist', probability: 5 },
      { value: 'proposal', probability: 1 },
    ],
  }
  const s = boardStages(stageField, def)
  assert.deepEqual(s.map((x) => x.value), ['proposal', 'prospecting', 'closed_won', 'on_hold'])
  assert.deepEqual(s.map((x) => x.probability), [60, 10, 100, null])
  assert.deepEqual(s.map((x) => x.gates), [2, 0, 0, 0])
  assert.equal(s[2].won, true)
  assert.deepEqual(s[0].label, { en: 'Proposal', zh: '方案报价' })
  // without a pipeline: the picklist's order, no probabilities
  assert.deepEqual(boardStages(stageField, null).map((x) => [x.value, x.probability]), [['prospecting', null], ['proposal', null], ['closed_won', null], ['on_hold', null]])
  assert.deepEqual(boardStages(null, def), [])
})

test('currentClock and countdown: the running clock due first, then late / soon / ok', () => {
  const clocks = [
    { target: 'resolution', state: 'running', due_at: '2026-12-07T10:00:00Z' },
    { target: 'first', state: 'met', due_at: '2026-12-06T09:00:00Z' },
    { target: 'response', state: 'paused', due_at: '2026-12-06T12:00:00Z' },
  ]
  assert.equal(currentClock(clocks).target, 'response')
  assert.equal(currentClock([{ target: 'a', state: 'met' }, { target: 'b', state: 'breached' }]).target, 'b')
  assert.equal(currentClock([]), null)
  assert.equal(currentClock(undefined), null)
  const now = Date.parse('2026-12-06T10:00:00Z')
  assert.deepEqual(countdown('2026-12-06T09:00:00Z', now), { state: 'late', ms: -3600000 })
  assert.deepEqual(countdown('2026-12-06T10:30:00Z', now), { state: 'soon', ms: 1800000 })
  assert.deepEqual(countdown('2026-12-06T12:00:00Z', now), { state: 'ok', ms: 7200000 })
  assert.deepEqual(countdown(null, now), { state: 'none', ms: 0 })
  assert.deepEqual(countdown('not a date', now), { state: 'none', ms: 0 })
})

test('moneyInput and convertBody: the convert dialog as the API takes it', () => {
  assert.equal(moneyInput('12,345.67'), '12345.67')
  assert.equal(moneyInput(' 120000 '), '120000')
  assert.equal(moneyInput('0.0001'), '0.0001')
  assert.equal(moneyInput(''), null)
  assert.equal(moneyInput(null), null)
  for (const bad of ['12.34567', '-5', '1e5', 'abc', '12.', '¥100']) assert.throws(() => moneyInput(bad), /is not an amount/, bad)
  assert.deepEqual(convertBody({ createOpportunity: false, opportunityName: 'x', amount: '5' }), { create_opportunity: false })
  assert.deepEqual(convertBody({ accountId: 'a1', contactId: 'c1', createOpportunity: true, opportunityName: '  Big deal ', amount: '1,000' }), {
    create_opportunity: true, account_id: 'a1', contact_id: 'c1', opportunity: { name: 'Big deal', amount: '1000' },
  })
  assert.deepEqual(convertBody({ createOpportunity: true, opportunityName: '', amount: '' }), { create_opportunity: true })
  assert.throws(() => convertBody({ createOpportunity: true, amount: 'lots' }))
})

test('approvalState: the latest approval of the log', () => {
  assert.deepEqual(approvalState([]), { state: 'none', process: null, step: null, approvalId: null })
  const log = [
    { approval_id: 'a1', process: 'quote_discount_20', state: 'pending', step: 0, action: 'submit' },
    { approval_id: 'a1', process: 'quote_discount_20', state: 'rejected', step: 0, action: 'reject' },
    { approval_id: 'a2', process: 'quote_discount_10', state: 'approved', step: 0, action: 'submit' },
  ]
  assert.deepEqual(approvalState(log), { state: 'approved', process: 'quote_discount_10', step: 0, approvalId: 'a2' })
  assert.equal(approvalState(log.slice(0, 2)).state, 'rejected')
  // re-opened as a draft: the old decision no longer holds; a pending one still shows
  assert.equal(approvalState(log, 'draft').state, 'none')
  assert.equal(approvalState(log, 'approved').state, 'approved')
  assert.equal(approvalState(log.slice(0, 1), 'draft').state, 'pending')
})

test('KPI helpers: owner rows, single values, the query, pooled ratios', () => {
  const win = { data: [{ group: 'u1', value: 0.5, numerator: 1, denominator: 2, count: 2 }, { group: 'u2', value: null, numerator: 0, denominator: 0, count: 0 }] }
  assert.equal(kpiRows(win, 'u2').length, 1)
  assert.equal(kpiRows(win, '').length, 2)
  assert.deepEqual(kpiRows(null, 'x'), [])
  assert.deepEqual(kpiSingle(win, 'u1'), { value: 0.5, count: 2, numerator: 1, denominator: 2 })
  assert.deepEqual(kpiSingle(win, 'nobody'), { value: null, count: 0, numerator: null, denominator: null })
  assert.deepEqual(kpiSingle({ data: [{ value: 57.2, count: 12 }] }), { value: 57.2, count: 12, numerator: null, denominator: null })
  assert.deepEqual(kpiQuery({ from: '2026-01-01', to: '2026-01-31' }, 'u1'), { from: '2026-01-01', to: '2026-01-31', group: 'owner_id' })
  assert.deepEqual(kpiQuery({}, '', { group: 'target' }), { group: 'target' })
  assert.deepEqual(kpiQuery({}, 'u1', { group: 'target' }), { group: 'owner_id' }) // an owner needs the owner grouping
  assert.deepEqual(pooledRatio([{ numerator: 3, denominator: 4 }, { numerator: 1, denominator: 4 }]), { value: 0.5, numerator: 4, denominator: 8 })
  assert.deepEqual(pooledRatio([]), { value: null, numerator: 0, denominator: 0 })
})
