-- Full batches: BENCH_ACTION sync_activities (1000 per request) or sync_collaborators (500),
-- with realistic item objects and ids unique to this run.
local key = os.getenv("BENCH_KEYS"):match("[^,]+")
local action = os.getenv("BENCH_ACTION")
local prefix = os.getenv("BENCH_ID_PREFIX") or "bulk"
local threads = 0
local counter = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local function activities()
  local items = {}
  for i = 1, 1000 do
    items[i] = string.format(
      '{"activity_code":"%03d","external_id":"%s-%d-%d-%d","collaborator_email":"c%d@bench.test",' ..
      '"occurred_at":"2026-03-17T09:15:00-03:00","data":{"client":"Acme Corp %d","duration_min":%d,' ..
      '"channel":"phone","notes":"Follow-up call about the renewal of the annual plan","value":%d.50}}',
      i % 999 + 1, prefix, tid, counter, i, i % 1000, i % 97, i % 60, i * 13)
  end
  return '{"action":"sync_activities","activities":[' .. table.concat(items, ",") .. ']}'
end

local function collaborators()
  local items = {}
  for i = 1, 500 do
    items[i] = string.format(
      '{"external_id":"%s-%d-%d-%d","name":"Seller %d-%d","email":"%s-%d-%d-%d@bench.test",' ..
      '"phone":"+55 11 9%04d-%04d","team":"Team %d","role":"SDR","metadata":{"region":"south","quota":%d}}',
      prefix, tid, counter, i, counter, i, prefix, tid, counter, i, i, counter % 10000, i % 12, i * 10)
  end
  return '{"action":"sync_collaborators","collaborators":[' .. table.concat(items, ",") .. ']}'
end

function request()
  counter = counter + 1
  local body = action == "sync_activities" and activities() or collaborators()
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
