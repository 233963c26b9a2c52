-- Request signing for the wrk scripts (docs/PROTOCOL.md, "Signing"): HMAC-SHA256 in pure LuaJIT.
-- The device comes from the environment: CASHIER_DEVICE (id) and CASHIER_SECRET (64 hex characters).
-- Loaded with dofile by signed-ping.lua and signed-sale.lua; returns a table of functions.
local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit = bit.rshift, bit.lshift, bit.ror, bit.tobit
local byte, char, rep, format = string.byte, string.char, string.rep, string.format

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
for i = 1, 64 do K[i] = tobit(K[i]) end

local w = {}

-- SHA-256 of a byte string; returns the 8 state words.
local function sha256_words(msg)
  local len = #msg
  local pad = (55 - len) % 64
  local bits = len * 8
  msg = msg .. "\128" .. rep("\0", pad) .. "\0\0\0\0"
    .. char(band(rshift(bits, 24), 255), band(rshift(bits, 16), 255), band(rshift(bits, 8), 255), band(bits, 255))
  local h0, h1, h2, h3 = tobit(0x6a09e667), tobit(0xbb67ae85), tobit(0x3c6ef372), tobit(0xa54ff53a)
  local h4, h5, h6, h7 = tobit(0x510e527f), tobit(0x9b05688c), tobit(0x1f83d9ab), tobit(0x5be0cd19)
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      local p = chunk + i * 4
      local a, b, c, d = byte(msg, p, p + 3)
      w[i] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
    end
    for i = 16, 63 do
      local v15, v2 = w[i - 15], w[i - 2]
      local s0 = bxor(ror(v15, 7), ror(v15, 18), rshift(v15, 3))
      local s1 = bxor(ror(v2, 17), ror(v2, 19), rshift(v2, 10))
      w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
    for i = 0, 63 do
      local s1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = tobit(h + s1 + ch + K[i + 1] + w[i])
      local s0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + s0 + maj)
    end
    h0, h1, h2, h3 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d)
    h4, h5, h6, h7 = tobit(h4 + e), tobit(h5 + f), tobit(h6 + g), tobit(h7 + h)
  end
  return { h0, h1, h2, h3, h4, h5, h6, h7 }
end

local function words_to_bytes(h)
  local out = {}
  for i = 1, 8 do
    local v = h[i]
    out[i] = char(band(rshift(v, 24), 255), band(rshift(v, 16), 255), band(rshift(v, 8), 255), band(v, 255))
  end
  return table.concat(out)
end

local function words_to_hex(h)
  local out = {}
  for i = 1, 8 do out[i] = format("%08x", h[i] % 4294967296) end
  return table.concat(out)
end

local device = os.getenv("CASHIER_DEVICE") or error("set CASHIER_DEVICE")
local secret_hex = os.getenv("CASHIER_SECRET") or error("set CASHIER_SECRET")
local key = secret_hex:gsub("..", function(h) return char(tonumber(h, 16)) end)
key = key .. rep("\0", 64 - #key)
local ipad = key:gsub(".", function(c) return char(bxor(byte(c), 0x36)) end)
local opad = key:gsub(".", function(c) return char(bxor(byte(c), 0x5c)) end)

local function hmac_hex(message)
  return words_to_hex(sha256_words(opad .. words_to_bytes(sha256_words(ipad .. message))))
end

local empty_body_hash = words_to_hex(sha256_words(""))
assert(empty_body_hash == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "SHA-256 self-test failed")


local M = { device = device }

--- Hex SHA-256 of a string.
function M.sha256_hex(s)
  return s == "" and empty_body_hash or words_to_hex(sha256_words(s))
end

math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local run_prefix = format("wrk%09d%09d-", math.random(0, 999999999), math.random(0, 999999999))

--- A signed request for wrk: a fresh nonce from `thread_part` and `counter`, the current time.
function M.request(method, path, body, thread_part, counter)
  local ts = tostring(os.time())
  local nonce = run_prefix .. thread_part .. counter
  local canonical = "CASHIER-HMAC-SHA256\n" .. method .. "\n" .. path .. "\n\n" .. ts .. "\n" .. nonce .. "\n" .. device
    .. "\n" .. M.sha256_hex(body or "")
  local headers = {
    ["X-Cashier-Device"] = device,
    ["X-Cashier-Timestamp"] = ts,
    ["X-Cashier-Nonce"] = nonce,
    ["X-Cashier-Signature"] = hmac_hex(canonical),
  }
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format(method, path, headers, body)
end

return M
