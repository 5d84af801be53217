-- GET /api/v1/migrants?q=… as a counsellor, rotating over prefixes of the demo's names in Latin
-- and Cyrillic script, one and two words (bench/tput.py SEARCHES, URL-encoded there).
dofile((string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./") .. "common.lua")

function prepare()
  headers = { ["Authorization"] = data.counsellor }
end

function request()
  return wrk.format("GET", "/api/v1/migrants?q=" .. rotate(data.searches), headers)
end
