-- GET one contact by id, ids drawn at random from a file (one id a line).
-- Environment: RAPPORT_TOKEN, RAPPORT_IDS (file), RAPPORT_OBJECT (default contact).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

local ids, object, headers

setup = c.setup
done = c.done

function init(args)
   c.seed()
   ids = c.read_lines(assert(os.getenv("RAPPORT_IDS"), "set RAPPORT_IDS"))
   object = os.getenv("RAPPORT_OBJECT") or "contact"
   headers = c.headers({["Accept"] = "application/json"})
end

function request()
   return wrk.format("GET", "/api/v1/records/" .. object .. "/" .. ids[math.random(#ids)], headers)
end
