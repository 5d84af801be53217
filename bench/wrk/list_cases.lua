-- GET /api/v1/cases?limit=50 as a counsellor: the first page of their cases, newest first.
dofile((string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./") .. "common.lua")

function prepare()
  headers = { ["Authorization"] = data.counsellor }
end

function request()
  return wrk.format("GET", "/api/v1/cases?limit=50", headers)
end
