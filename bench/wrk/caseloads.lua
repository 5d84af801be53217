-- GET /api/v1/caseloads as the supervisor: every counsellor's open work in the centre.
dofile((string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./") .. "common.lua")

function prepare()
  headers = { ["Authorization"] = data.supervisor }
end

function request()
  return wrk.format("GET", "/api/v1/caseloads", headers)
end
