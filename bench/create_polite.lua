-- The durable create of create.lua from a client that honours Retry-After: after a 503 or 429
-- its connection waits Retry-After seconds (times a random 0.5-1.5, so the waiting clients do
-- not come back together) before its next request. wrk calls delay() just before a
-- connection's next request, right after response() saw that connection's answer, so a
-- per-thread "next wait" stands for the connection's own.
-- Environment: RAPPORT_TOKEN.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "create.lua")

local wait_ms = 0

function response(status, headers, body)
   if status == 503 or status == 429 then
      local ra = tonumber(headers["Retry-After"] or headers["retry-after"] or "1") or 1
      wait_ms = math.floor(ra * 1000 * (0.5 + math.random()))
   end
end

function delay()
   local ms = wait_ms
   wait_ms = 0
   return ms
end
