-- The raw HTTP ceiling: GET /healthz (a trivial handler through the same
-- server and middleware), sending the same Authorization header as the API
-- scripts so request sizes match.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

local req

setup = c.setup
done = c.done

function init(args)
   req = wrk.format("GET", "/healthz", c.headers())
end

function request()
   return req
end
