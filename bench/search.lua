-- Full-text search: GET /api/v1/records/contact?q=TERM&limit=50 with terms
-- drawn at random from RAPPORT_TERMS (a file, one term a line).
-- Environment: RAPPORT_TOKEN, RAPPORT_TERMS (file), RAPPORT_OBJECT (default contact).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

local reqs = {}

setup = c.setup
done = c.done

function init(args)
   c.seed()
   local object = os.getenv("RAPPORT_OBJECT") or "contact"
   local headers = c.headers({["Accept"] = "application/json"})
   for _, term in ipairs(c.read_lines(assert(os.getenv("RAPPORT_TERMS"), "set RAPPORT_TERMS"))) do
      reqs[#reqs + 1] = wrk.format("GET", "/api/v1/records/" .. object .. "?q=" .. c.urlencode(term) ..
                                   "&limit=50", headers)
   end
end

function request()
   return reqs[math.random(#reqs)]
end
