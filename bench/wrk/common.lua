-- Shared by the Karvon wrk scenarios (bench/throughput.sh). Loads the tokens and ids that
-- bench/tput.py wrote (the file named by KARVON_WRK_DATA), counts non-2xx responses by status
-- in every thread, and prints one machine-readable line at the end:
--   KARVON requests=… duration_us=… rps=… p50_ms=… p99_ms=… non2xx=… connect=… read=… write=… timeout=… codes=…
-- A `response` callback disables wrk's pipelining only; every request still waits its answer.
data = dofile(os.getenv("KARVON_WRK_DATA"))

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  statuses = {}
  first_error = nil
  -- Each thread starts elsewhere in the id lists, then walks them.
  cursor = (thread_index or 0) * 7919
  if prepare then prepare() end
end

-- The next element of a list, rotating.
function rotate(list)
  cursor = cursor + 1
  return list[cursor % #list + 1]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    statuses[status] = (statuses[status] or 0) + 1
    if first_error == nil then
      first_error = status .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local total, codes, first = 0, {}, nil
  for _, thread in ipairs(threads) do
    total = total + (thread:get("non2xx") or 0)
    for status, count in pairs(thread:get("statuses") or {}) do
      codes[status] = (codes[status] or 0) + count
    end
    first = first or thread:get("first_error")
  end
  local parts = {}
  for status, count in pairs(codes) do
    parts[#parts + 1] = status .. "x" .. count
  end
  local errors = summary.errors
  io.write(string.format(
    "KARVON requests=%d duration_us=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d connect=%d read=%d write=%d timeout=%d codes=%s\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, total,
    errors.connect, errors.read, errors.write, errors.timeout,
    #parts > 0 and table.concat(parts, ",") or "-"))
  if first then
    io.write("KARVON first_error=" .. (string.gsub(first, "%s+", " ")) .. "\n")
  end
end
