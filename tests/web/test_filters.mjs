// The web UI's pure helpers under Vitest: the filter builder's expressions
// (docs/expressions.md) and display masking (docs/api.md, Masking).
import { test } from 'vitest'
import assert from 'node:assert/strict'
import { buildExpression, conditionText, kindOf, quote, OPS } from '../../web/src/filters.js'
import { maskValue } from '../../web/src/mask.js'

const fields = {
  name: { name: 'name', type: 'text' },
  amount: { name: 'amount', type: 'money' },
  probability: { name: 'probability', type: 'percent' },
  stage: { name: 'stage', type: 'picklist', values: [{ value: 'proposal' }, { value: 'closed_won' }] },
  tags: { name: 'tags', type: 'multi_picklist' },
  do_not_call: { name: 'do_not_call', type: 'bool' },
  close: { name: 'close', type: 'date' },
  account_id: { name: 'account_id', type: 'reference', target: 'account' },
  weighted: { name: 'weighted', type: 'formula', result: 'money' },
}
const fieldOf = (n) => fields[n]

test('strings are quoted with doubled single quotes, never spliced raw', () => {
  assert.equal(quote("O'Brien"), "'O''Brien'")
  assert.equal(quote("x' or 1=1 or name='"), "'x'' or 1=1 or name='''")
  assert.equal(conditionText({ field: 'name', op: 'contains', value: "张'三" }, fields.name), "name contains '张''三'")
})

test('operators by field kind', () => {
  assert.equal(kindOf(fields.amount), 'number')
  assert.equal(kindOf(fields.weighted), 'number')
  assert.equal(kindOf(fields.close), 'date')
  assert.deepEqual(OPS[kindOf(fields.do_not_call)], ['eq'])
  assert.ok(OPS[kindOf(fields.tags)].every((op) => ['contains', 'is_null', 'is_not_null'].includes(op)))
})

test('numbers are written as numbers and anything else is refused', () => {
  assert.equal(conditionText({ field: 'amount', op: 'ge', value: '10000.5' }, fields.amount), 'amount >= 10000.5')
  assert.equal(conditionText({ field: 'probability', op: 'lt', value: ' -3 ' }, fields.probability), 'probability < -3')
  assert.throws(() => conditionText({ field: 'amount', op: 'ge', value: '1e9; drop' }, fields.amount), /not a number/)
})

test('null tests, in-lists, booleans, dates and references', () => {
  assert.equal(conditionText({ field: 'close', op: 'is_null' }, fields.close), 'close is null')
  assert.equal(conditionText({ field: 'close', op: 'is_not_null' }, fields.close), 'close is not null')
  assert.equal(conditionText({ field: 'stage', op: 'in', value: ['proposal', 'closed_won'] }, fields.stage), "stage in ('proposal', 'closed_won')")
  assert.throws(() => conditionText({ field: 'stage', op: 'in', value: [] }, fields.stage), /at least one/)
  assert.equal(conditionText({ field: 'do_not_call', op: 'eq', value: false }, fields.do_not_call), 'do_not_call = false')
  assert.equal(conditionText({ field: 'close', op: 'ge', value: '2026-01-01' }, fields.close), "close >= '2026-01-01'")
  assert.equal(conditionText({ field: 'account_id', op: 'eq', value: '01a2' }, fields.account_id), "account_id = '01a2'")
  assert.throws(() => conditionText({ field: 'name', op: 'eq', value: '' }, fields.name), /missing/)
})

test('conditions are joined with and', () => {
  const expr = buildExpression(
    [
      { field: 'stage', op: 'ne', value: 'closed_won' },
      { field: 'amount', op: 'gt', value: '0' },
    ],
    fieldOf,
  )
  assert.equal(expr, "stage != 'closed_won' and amount > 0")
  assert.equal(buildExpression([], fieldOf), '')
})

test('masking for display follows the API rules', () => {
  const phone = { type: 'phone' }
  assert.equal(maskValue(phone, '13800138000'), '138****8000')
  assert.equal(maskValue(phone, '+86 138 0013 8000'), '+86 138 **** 8000')
  assert.equal(maskValue(phone, '+1 (415) 555-2671'), '+1 (415) ***-2671')
  assert.equal(maskValue(phone, '1234567'), '*******')
  assert.equal(maskValue({ type: 'email' }, 'wang.lei@xingyun.cn'), 'w***@xingyun.cn')
  assert.equal(maskValue({ type: 'text' }, '张浩然'), '张***')
  assert.equal(maskValue({ type: 'text' }, '张三'), '**')
  assert.equal(maskValue({ type: 'date' }, '1990-01-01'), '****-**-**')
  assert.equal(maskValue({ type: 'number' }, 42), '****')
  assert.equal(maskValue(phone, '138****8000'), '138****8000') // already masked by the API
})
