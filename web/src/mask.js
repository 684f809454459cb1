// Masking for display, the way the API masks (docs/api.md, Masking). No imports: unit-tested
// under plain node (tests/web/).

// Sensitive values stay masked on screen until revealed (an audited POST .../reveal), even
// for callers whose reads already return them in clear.
export function maskValue(f, v) {
  const s = String(v)
  if (s.includes('*')) return s
  if (f.type === 'email') {
    const at = s.indexOf('@')
    return at > 0 ? [...s][0] + '***' + s.slice(at) : '***'
  }
  if (f.type === 'phone') {
    // as the API masks: a leading "+<country code> " stays; digits between the first 3 and last 4 go
    const cc = (s.match(/^\+\d{1,3}[ -]/) || [''])[0]
    const rest = s.slice(cc.length)
    const total = (rest.match(/\d/g) || []).length
    let seen = 0
    return cc + rest.replace(/\d/g, (d) => (total < 8 || (++seen > 3 && seen <= total - 4) ? '*' : d))
  }
  if (f.type === 'date' || f.type === 'datetime') return '****-**-**'
  if (f.type !== 'text' && f.type !== 'url') return '****'
  const chars = [...s]
  return chars.length <= 2 ? '*'.repeat(chars.length) : chars[0] + '***'
}
