// After `vite build`: writes a gzip copy (name.gz) next to each text asset in dist/assets, so
// rapport can send it to browsers that accept gzip without compressing on every request.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { gzipSync, constants } from 'node:zlib'

const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'dist', 'assets')
let before = 0
let after = 0
for (const name of readdirSync(dir)) {
  if (!/\.(js|css|svg|json|map)$/.test(name)) continue
  const file = path.join(dir, name)
  const data = readFileSync(file)
  if (data.length < 1024) continue
  const gz = gzipSync(data, { level: constants.Z_BEST_COMPRESSION })
  if (gz.length >= data.length) continue
  writeFileSync(file + '.gz', gz)
  before += statSync(file).size
  after += gz.length
}
console.log(`gzip copies: ${before} bytes -> ${after} bytes`)
