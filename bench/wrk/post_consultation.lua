-- POST /api/v1/consultations as a counsellor: a walk-in for a registered migrant of their centre,
-- rotating over migrants, occurred now (UTC, to the second). Expects 201.
dofile((string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./") .. "common.lua")

local topics = {
  '["pre_departure"]',
  '["employment_abroad","labour_rights"]',
  '["legal_documents"]',
  '["remittances","family"]',
}

function prepare()
  headers = { ["Authorization"] = data.counsellor, ["Content-Type"] = "application/json" }
end

function consultation_body()
  local migrant = rotate(data.migrants)
  return string.format(
    '{"migrant_id":"%s","occurred_at":"%s","channel":"walk_in","duration_minutes":%d,' ..
    '"topics":%s,"language":"tg","notes":"Walk-in logged by the throughput benchmark."}',
    migrant, os.date("!%Y-%m-%dT%H:%M:%SZ"), 10 + cursor % 50, topics[cursor % #topics + 1])
end

function request()
  return wrk.format("POST", "/api/v1/consultations", headers, consultation_body())
end
