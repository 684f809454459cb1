-- GET a list page. Each line of RAPPORT_QUERIES is a raw query string
-- (e.g. filter=last_name = '王'&sort=-created_at&limit=50); values are
-- URL-encoded here and lines are chosen at random per request.
-- Environment: RAPPORT_TOKEN, RAPPORT_QUERIES (file), RAPPORT_OBJECT (default contact).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

local reqs = {}

setup = c.setup
done = c.done

function init(args)
   c.seed()
   local object = os.getenv("RAPPORT_OBJECT") or "contact"
   local headers = c.headers({["Accept"] = "application/json"})
   for _, raw in ipairs(c.read_lines(assert(os.getenv("RAPPORT_QUERIES"), "set RAPPORT_QUERIES"))) do
      reqs[#reqs + 1] = wrk.format("GET", "/api/v1/records/" .. object .. "?" .. c.encode_query(raw), headers)
   end
end

function request()
   return reqs[math.random(#reqs)]
end
