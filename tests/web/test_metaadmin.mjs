// Unit tests of web/src/metaadmin.js (the metadata administration's pure helpers) under
// Vitest.
import { test } from 'vitest'
import assert from 'node:assert/strict'
import { FIELD_TYPES, partsOf, validApiName, label, emptyField, fieldDefinition, picklistValues, picklistRows, errorPlacement, sortObjects } from '../../web/src/metaadmin.js'

test('every field type of the API is offered', () => {
  assert.deepEqual(FIELD_TYPES, ['text', 'email', 'phone', 'url', 'number', 'money', 'percent', 'date', 'datetime', 'bool', 'picklist', 'multi_picklist', 'reference', 'formula'])
})

test('API names follow the server rule', () => {
  for (const ok of ['a', 'project', 'account_id', 'x1_2', 'a'.repeat(40)]) assert.equal(validApiName(ok), true, ok)
  for (const bad of ['', '1a', '_a', 'A', 'a-b', 'rp_x', 'a'.repeat(41), '项目', null]) assert.equal(validApiName(bad), false, String(bad))
})

test('labels: both, one or none', () => {
  assert.deepEqual(label(' Project ', '项目'), { en: 'Project', zh: '项目' })
  assert.deepEqual(label('', '项目'), { zh: '项目' })
  assert.equal(label(' ', ''), undefined)
})

test('a field definition carries only what its type takes', () => {
  const f = { ...emptyField(), name: 'code', type: 'text', labelEn: 'Code', labelZh: '编号', required: true, unique: true, maxLength: '20', min: '1', default: 'X' }
  assert.deepEqual(fieldDefinition(f), { name: 'code', type: 'text', label: { en: 'Code', zh: '编号' }, required: true, unique: true, max_length: 20, default: 'X' })
  const money = { ...emptyField(), name: 'budget', type: 'money', min: '0', max: '', maxLength: '9', default: '12.5' }
  assert.deepEqual(fieldDefinition(money), { name: 'budget', type: 'money', min: 0, default: '12.5' })
  const pct = { ...emptyField(), name: 'p', type: 'percent', default: '7' }
  assert.deepEqual(fieldDefinition(pct), { name: 'p', type: 'percent', default: 7 })
  const bool = { ...emptyField(), name: 'ok', type: 'bool', default: false, unique: true }
  assert.deepEqual(fieldDefinition(bool), { name: 'ok', type: 'bool', default: false })
  const formula = { ...emptyField(), name: 'k', type: 'formula', formula: 'budget / 1000', result: 'number', required: true, default: '1' }
  assert.deepEqual(fieldDefinition(formula), { name: 'k', type: 'formula', formula: 'budget / 1000', result: 'number' })
  const ref = { ...emptyField(), name: 'account_id', type: 'reference', target: 'account', default: 'x' }
  assert.deepEqual(fieldDefinition(ref), { name: 'account_id', type: 'reference', target: 'account' })
  const pick = { ...emptyField(), name: 'phase', type: 'picklist', values: [{ value: ' plan ', labelEn: 'Plan', labelZh: '' }, { value: '', labelEn: 'blank row' }], default: 'plan' }
  assert.deepEqual(fieldDefinition(pick), { name: 'phase', type: 'picklist', values: [{ value: 'plan', label: { en: 'Plan' } }], default: 'plan' })
  const idx = { ...emptyField(), name: 'd', type: 'date', indexed: true, sensitive: true }
  assert.deepEqual(fieldDefinition(idx), { name: 'd', type: 'date', indexed: true, sensitive: true })
  const uniq = { ...emptyField(), name: 'u', type: 'text', unique: true, indexed: true }
  assert.deepEqual(fieldDefinition(uniq), { name: 'u', type: 'text', unique: true })
  assert.equal(partsOf('multi_picklist').default, false)
  assert.equal(partsOf('email').maxLength, true)
})

test('picklist rows round-trip, with inactive values', () => {
  const values = [{ value: 'a', label: { en: 'A', zh: '甲' } }, { value: 'b', label: { en: 'B', zh: 'B' }, active: false }]
  const rows = picklistRows(values)
  assert.deepEqual(rows.map((r) => [r.value, r.active, r.existing]), [['a', true, true], ['b', false, true]])
  assert.deepEqual(picklistValues(rows), values)
})

test('a refused definition lands beside the right input', () => {
  assert.deepEqual(errorPlacement({ errors: [{ field: 'name', code: 'exists', message: 'field "code" of object "p" already exists' }] }), { name: 'field "code" of object "p" already exists' })
  assert.deepEqual(errorPlacement({ detail: 'formula of field "b" of object "p": unknown field "x" on object "p"' }), { formula: 'formula of field "b" of object "p": unknown field "x" on object "p"' })
  assert.deepEqual(errorPlacement({ detail: 'field "a_id" of object "p": a reference needs a "target" object' }), { target: 'field "a_id" of object "p": a reference needs a "target" object' })
  assert.deepEqual(errorPlacement({ errors: [{ field: 'values', code: 'removed', message: 'cannot be removed' }] }), { values: 'cannot be removed' })
  assert.deepEqual(errorPlacement({ detail: 'default of field "d" of object "p" is not valid: x' }), { default: 'default of field "d" of object "p" is not valid: x' })
  assert.deepEqual(errorPlacement({ detail: 'the maximum of 1000 objects is reached' }), { '': 'the maximum of 1000 objects is reached' })
})

test('custom objects are listed first', () => {
  const names = sortObjects([{ name: 'b', custom: false }, { name: 'z', custom: true }, { name: 'a', custom: false }, { name: 'c', custom: true }]).map((o) => o.name)
  assert.deepEqual(names, ['c', 'z', 'a', 'b'])
})
