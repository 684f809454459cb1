// Formatting helpers shared by the views. No imports: unit-tested under plain node (tests/web/).
// Nothing here computes a price: money values are shown as the server returns them.

const UNITS = 10000 // the server stores money as integers of 1/10,000

// A money value in the currency (a picklist value such as "cny") for the locale; "—" when empty.
export function money(v, currency, locale = 'en', digits = 0) {
  if (v === null || v === undefined || v === '') return '—'
  const n = typeof v === 'number' ? v : Number(v)
  if (!Number.isFinite(n)) return String(v)
  try {
    return new Intl.NumberFormat(locale, {
      style: 'currency',
      currency: String(currency || 'cny').toUpperCase(),
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(n)
  } catch {
    return String(v)
  }
}

// Sums `key` of the rows per currency in 1/10,000 units, so totals stay exact:
// [[currency, total], ...] in the order the currencies first appear.
export function sumMoney(rows, key = 'amount', currencyKey = 'currency') {
  const sums = new Map()
  for (const r of rows) {
    const v = r[key]
    if (typeof v !== 'number' && !(typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)))) continue
    const c = r[currencyKey] || 'cny'
    sums.set(c, (sums.get(c) || 0) + Math.round(Number(v) * UNITS))
  }
  return [...sums].map(([c, units]) => [c, units / UNITS])
}

// A ratio (0.6125) as a percentage ("61.3%"); "—" for null (a KPI with a zero denominator).
export function percent(ratio, digits = 1) {
  if (ratio === null || ratio === undefined || !Number.isFinite(Number(ratio))) return '—'
  return (Number(ratio) * 100).toFixed(digits) + '%'
}

// A plain number with a fixed count of decimals; "—" for null.
export function fixed(v, digits = 1) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return '—'
  return Number(v).toFixed(digits)
}

// A span of milliseconds (sign ignored) as {unit: 'hm', h, m} below 48 hours, else {unit: 'days', n}.
export function span(ms) {
  const abs = Math.abs(ms)
  const h = Math.floor(abs / 3600000)
  if (h >= 48) return { unit: 'days', n: Math.floor(h / 24) }
  return { unit: 'hm', h, m: Math.floor((abs % 3600000) / 60000) }
}

// The UTC day (YYYY-MM-DD) of a time in ms.
export function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10)
}

// The from/to of "the last n days" up to today (UTC), or {} for all time (n = 0).
export function lastDays(n, now = Date.now()) {
  if (!n) return {}
  return { from: isoDay(now - (n - 1) * 86400000), to: isoDay(now) }
}

// An address safe to put in an href: http(s) URLs only (never javascript:, data: or the like),
// absolute or relative to this origin; null otherwise.
export function safeUrl(u, base = typeof location !== 'undefined' ? location.href : 'http://localhost/') {
  if (typeof u !== 'string' || !u.trim()) return null
  let parsed
  try {
    parsed = new URL(u.trim(), base)
  } catch {
    return null
  }
  return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null
}
