-- GET /api/v1/reports/consultations?from=…&to=…&group_by=month as the supervisor: the last
-- twelve months and this one, by month (heavy: run with few connections).
dofile((string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./") .. "common.lua")

function prepare()
  headers = { ["Authorization"] = data.supervisor }
end

function request()
  return wrk.format("GET", "/api/v1/reports/consultations?" .. data.report, headers)
end
