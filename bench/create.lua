-- POST a small contact (durable create: WAL, synchronous=FULL, group commit).
-- A pool of 256 pre-built bodies per thread keeps wrk's own CPU use low.
-- Environment: RAPPORT_TOKEN.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

local surnames = {"王", "李", "张", "刘", "陈", "杨", "黄", "Smith", "Chen", "Brown"}
local given = {"伟", "芳", "秀英", "明", "静", "Emma", "James", "子涵", "浩然", "Olivia"}
local titles = {"销售经理", "采购总监", "IT 经理", "Sales Manager", "CTO"}
local reqs = {}

setup = c.setup
done = c.done

function init(args)
   c.seed()
   local headers = c.headers({["Content-Type"] = "application/json"})
   for i = 1, 256 do
      local n = (thread_no or 0) * 1000000 + i
      local body = string.format(
         '{"last_name":"%s","first_name":"%s","title":"%s","email":"bench%d@example.com",' ..
         '"mobile":"+86138%08d","status":"active"}',
         surnames[math.random(#surnames)], given[math.random(#given)],
         titles[math.random(#titles)], n, n % 100000000)
      reqs[i] = wrk.format("POST", "/api/v1/records/contact", headers, body)
   end
end

local i = 0
function request()
   i = i % #reqs + 1
   return reqs[i]
end
