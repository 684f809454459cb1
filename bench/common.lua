-- Shared by the Rapport wrk scripts: the bearer token, URL encoding, a
-- per-thread random seed, and a machine-readable summary with p95 (wrk's
-- --latency table stops at p90/p99).
--
-- Environment: RAPPORT_TOKEN (required for /api routes).
local M = {}

M.token = os.getenv("RAPPORT_TOKEN") or ""

function M.headers(extra)
   local h = {["Authorization"] = "Bearer " .. M.token}
   for k, v in pairs(extra or {}) do h[k] = v end
   return h
end

function M.urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", string.byte(c))
   end))
end

-- "filter=last_name = '王'&sort=-created_at" -> encoded query string.
function M.encode_query(raw)
   local parts = {}
   for pair in raw:gmatch("[^&]+") do
      local k, v = pair:match("^([^=]+)=(.*)$")
      if k then parts[#parts + 1] = k .. "=" .. M.urlencode(v) else parts[#parts + 1] = pair end
   end
   return table.concat(parts, "&")
end

function M.read_lines(path)
   local t = {}
   local f = assert(io.open(path, "r"), "cannot open " .. path)
   for line in f:lines() do
      if line ~= "" and line:sub(1, 1) ~= "#" then t[#t + 1] = line end
   end
   f:close()
   assert(#t > 0, path .. " is empty")
   return t
end

local counter = 0
function M.setup(thread)
   counter = counter + 1
   thread:set("thread_no", counter)
end

function M.seed()
   math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
   for _ = 1, 10 do math.random() end
end

-- One line the runner parses: RESULT rps=... p50_ms=... p95_ms=... p99_ms=... non2xx=... errors=...
function M.done(summary, latency, requests)
   local secs = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      "RESULT rps=%.1f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f requests=%d non2xx=%d errors=%d\n",
      summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, summary.requests, e.status,
      e.connect + e.read + e.write + e.timeout))
end

return M
