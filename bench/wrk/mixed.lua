-- The soak's mix, as a counsellor: three reads of one of their cases (get_case) for every
-- walk-in logged (post_consultation).
dofile((string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./") .. "common.lua")

local topics = { '["pre_departure"]', '["legal_documents"]', '["remittances","family"]' }

function prepare()
  read_headers = { ["Authorization"] = data.counsellor }
  write_headers = { ["Authorization"] = data.counsellor, ["Content-Type"] = "application/json" }
  turn = 0
end

function request()
  turn = turn + 1
  if turn % 4 ~= 0 then
    return wrk.format("GET", "/api/v1/cases/" .. rotate(data.cases), read_headers)
  end
  local body = string.format(
    '{"migrant_id":"%s","occurred_at":"%s","channel":"walk_in","duration_minutes":20,' ..
    '"topics":%s,"language":"ru","notes":"Walk-in logged by the soak."}',
    rotate(data.migrants), os.date("!%Y-%m-%dT%H:%M:%SZ"), topics[turn % #topics + 1])
  return wrk.format("POST", "/api/v1/consultations", write_headers, body)
end
