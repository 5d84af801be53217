-- GET /api/v1/cases/{id} as a counsellor, rotating over their open cases (audited read,
-- scope-checked: the case must be assigned to them in their centre).
dofile((string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./") .. "common.lua")

function prepare()
  headers = { ["Authorization"] = data.counsellor }
end

function request()
  return wrk.format("GET", "/api/v1/cases/" .. rotate(data.cases), headers)
end
