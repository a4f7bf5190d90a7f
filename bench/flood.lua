-- Well-formed keys that must fail: half with random key ids, half a real id (BENCH_REAL_PREFIX)
-- with random secrets. Checksums are valid, so each one gets past the format check.
local alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
local real = os.getenv("BENCH_REAL_PREFIX")
-- wrk runs LuaJIT: 32-bit signed bit operations from the bit library.
local bit = require("bit")
local crc_table = {}
for n = 0, 255 do
  local c = n
  for _ = 1, 8 do
    if bit.band(c, 1) == 1 then c = bit.bxor(bit.rshift(c, 1), 0xedb88320) else c = bit.rshift(c, 1) end
  end
  crc_table[n] = c
end

local function crc32(s)
  local crc = 0xffffffff
  for i = 1, #s do crc = bit.bxor(crc_table[bit.band(bit.bxor(crc, s:byte(i)), 0xff)], bit.rshift(crc, 8)) end
  crc = bit.bnot(crc)
  if crc < 0 then crc = crc + 4294967296 end
  return crc
end

local function base36(n, width)
  local out = ""
  repeat
    local d = n % 36
    out = alphabet:sub(d + 1, d + 1) .. out
    n = math.floor(n / 36)
  until n == 0
  return string.rep("0", width - #out) .. out
end

local function random_chars(count)
  local out = {}
  for i = 1, count do
    local d = math.random(1, 36)
    out[i] = alphabet:sub(d, d)
  end
  return table.concat(out)
end

local counter = 0
function request()
  counter = counter + 1
  local body
  if counter % 2 == 0 then body = real .. random_chars(18) else body = "sk_live_" .. random_chars(26) end
  local key = body .. base36(crc32(body) % 2176782336, 6)
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
  }, '{"action":"sync_activities","activities":[]}')
end

function done(summary, latency, requests)
  io.write(string.format('{"requests":%d,"duration_us":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration, summary.errors.status))
end
