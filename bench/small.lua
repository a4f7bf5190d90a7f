-- One new activity per request, keys taken in turn from BENCH_KEYS (comma-separated), or at random
-- from BENCH_KEY_FILE (one a line) when set; collaborators c0..c(BENCH_COLLABORATORS - 1)@bench.test.
local keys = {}
local key_file = os.getenv("BENCH_KEY_FILE")
if key_file then
  for key in io.lines(key_file) do table.insert(keys, key) end
else
  for key in string.gmatch(os.getenv("BENCH_KEYS"), "[^,]+") do table.insert(keys, key) end
end
local collaborators = tonumber(os.getenv("BENCH_COLLABORATORS") or "1000")
local threads = 0
local counter = 0
local prefix = os.getenv("BENCH_ID_PREFIX") or "small"
-- BENCH_PAUSE_MS: after each answer a connection waits, as a backend sending one activity at a
-- time does, instead of keeping the service saturated. The wait is that long times a coin's count
-- of tails before heads (0, 1, 2... with probability 1/2, 1/4, 1/8...; on average one pause): the
-- pauses of the pgbench baseline, which picks between its work and a pause at random. A fixed wait
-- would keep the 32 connections in step, sending in bursts that queue behind each other.
local pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "0")
if pause > 0 then
  function delay()
    local pauses = 0
    while math.random() < 0.5 do pauses = pauses + 1 end
    return pauses * pause
  end
end

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

-- Each thread's own sequence of pauses and keys.
function init() math.randomseed(tid) end

function request()
  counter = counter + 1
  local body = string.format(
    '{"action":"sync_activities","activities":[{"activity_code":"%03d","external_id":"%s-%d-%d",' ..
    '"collaborator_email":"c%d@bench.test","data":{"client":"Acme Corp","duration_min":%d}}]}',
    counter % 999 + 1, prefix, tid, counter, counter % collaborators, counter % 60)
  local key = key_file and keys[math.random(#keys)] or keys[counter % #keys + 1]
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
  }, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
