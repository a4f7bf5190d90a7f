// The key format, its public id and the checksum that secret scanners use.
import assert from "node:assert/strict";
import { checksum, generateApiKey, parseApiKey } from "../../supabase/functions/_shared/api_key.ts";
import { checkAllowlistEntry, clientIp, normalizeIp } from "../../supabase/functions/_shared/client_ip.ts";

Deno.test("generated keys have the documented format and parse back", () => {
  for (const environment of ["live", "test"] as const) {
    const { key, keyPrefix } = generateApiKey(environment);
    assert.match(key, new RegExp(`^sk_${environment}_[a-z0-9]{32}$`));
    assert.equal(keyPrefix, key.slice(0, 16));
    assert.deepEqual(parseApiKey(key), { environment, keyPrefix });
  }
});

Deno.test("generated keys do not repeat and use the whole alphabet", () => {
  const keys = Array.from({ length: 2000 }, () => generateApiKey("live").key);
  assert.equal(new Set(keys).size, keys.length);
  const seen = new Set(keys.join("").replaceAll("sk_live_", ""));
  assert.equal(seen.size, 36);
});

Deno.test("the checksum is base36(crc32(body) mod 36^6), as documented for secret scanners", () => {
  // CRC-32 of "123456789" is 0xCBF43926, the standard check value.
  assert.equal(checksum("123456789"), (0xcbf43926 % 36 ** 6).toString(36).padStart(6, "0"));
  const body = "sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3";
  assert.equal(parseApiKey(body + checksum(body))?.keyPrefix, "sk_live_a1b2c3d4");
});

Deno.test("any single changed character is caught by the checksum", () => {
  const { key } = generateApiKey("live");
  for (let i = 8; i < key.length; i++) {
    const replacement = key[i] === "a" ? "b" : "a";
    assert.equal(parseApiKey(key.slice(0, i) + replacement + key.slice(i + 1)), null, `position ${i}`);
  }
});

Deno.test("wrong lengths, cases and characters are rejected", () => {
  const { key } = generateApiKey("test");
  const malformed = [key.slice(0, -1), key + "0", key.toUpperCase(), key.replace("sk_test_", "sk_live_"), ""];
  for (const bad of [...malformed, key.replace(/.$/, "-")]) {
    assert.equal(parseApiKey(bad), null, bad);
  }
});

Deno.test("source IP: socket peer by default, trusted hops read X-Forwarded-For from the right", () => {
  assert.equal(clientIp("203.0.113.1", "198.51.100.7", 0), "203.0.113.1");
  assert.equal(clientIp("10.0.0.1", "198.51.100.7", 1), "198.51.100.7");
  assert.equal(clientIp("10.0.0.1", "1.1.1.1, 198.51.100.7", 1), "198.51.100.7");
  assert.equal(clientIp("10.0.0.1", "1.1.1.1, 198.51.100.7, 10.0.0.9", 2), "198.51.100.7");
  assert.equal(clientIp("10.0.0.1", "not-an-ip", 1), "10.0.0.1");
  // Fewer entries than trusted proxies: the one entry was written by the sender, not a proxy.
  assert.equal(clientIp("10.0.0.1", "198.51.100.7", 2), "10.0.0.1");
  assert.equal(clientIp("10.0.0.1", null, 1), "10.0.0.1");
  for (const mapped of ["::ffff:192.0.2.1", "::FFFF:c000:201", "0:0:0:0:0:ffff:192.0.2.1", "[::ffff:c000:0201]"]) {
    assert.equal(normalizeIp(mapped), "192.0.2.1", mapped);
  }
  // Neighbours of the mapped block stay IPv6.
  assert.equal(normalizeIp("::fffe:c000:201"), "::fffe:c000:201");
  assert.equal(normalizeIp("1::ffff:c000:201"), "1::ffff:c000:201");
  assert.equal(normalizeIp("[2001:DB8::1]"), "2001:db8::1");
  for (
    const bad of [
      "1.2.3",
      "1.2.3.256",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "fe80::1%eth0",
      "abc",
      "1.2.3.4::",
      "1.2.3.4::1",
    ]
  ) {
    assert.equal(normalizeIp(bad), null, bad);
  }
});

Deno.test("allowlist entries: addresses and CIDR blocks without host bits", () => {
  for (const good of ["192.0.2.1", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "::1", "::/0", "2001:db8::1/128"]) {
    assert.deepEqual(checkAllowlistEntry(good), { ok: true }, good);
  }
  const invalid = [
    "10.0.0.1/8",
    "10.0.0.0/33",
    "2001:db8::1/32",
    "2001:db8::/129",
    "10.0.0.0/",
    "host",
    "1.2.3.4/8/9",
    " 10.0.0.1",
    "1.2.3.4::",
    // Leading zeros or signs in a prefix: Postgres refuses them for IPv6 (a 500 before).
    "2001:db8::/032",
    "::/00",
    "10.0.0.0/08",
    "10.0.0.0/+8",
  ];
  for (const bad of invalid) {
    assert.equal(checkAllowlistEntry(bad).ok, false, bad);
  }
});

Deno.test("allowlist entries: an IPv4-mapped address in any spelling is told its IPv4 form", () => {
  const advice = (ipv4: string) => ({ ok: false, reason: `an IPv4-mapped IPv6 address: write it as IPv4 (${ipv4})` });
  assert.deepEqual(checkAllowlistEntry("::ffff:10.0.0.1"), advice("10.0.0.1"));
  assert.deepEqual(checkAllowlistEntry("::ffff:a00:1"), advice("10.0.0.1"));
  assert.deepEqual(checkAllowlistEntry("0:0:0:0:0:ffff:10.0.0.1"), advice("10.0.0.1"));
  assert.deepEqual(checkAllowlistEntry("::ffff:a00:0/120"), advice("10.0.0.0/24"));
  assert.deepEqual(checkAllowlistEntry("::ffff:0:0/96"), advice("0.0.0.0/0"));
  // No advice that would itself be refused (host bits set).
  const noAdvice = { ok: false, reason: "an IPv4-mapped IPv6 address: write it as IPv4" };
  assert.deepEqual(checkAllowlistEntry("::ffff:a00:1/120"), noAdvice);
  // A block wider than the mapped range is no mapped block: its host bits hold the ffff marker.
  const hostBits = { ok: false, reason: "CIDR block has host bits set" };
  assert.deepEqual(checkAllowlistEntry("::ffff:0:0/95"), hostBits);
  assert.deepEqual(checkAllowlistEntry("::ffff:a00:0/64"), hostBits);
  assert.deepEqual(checkAllowlistEntry("::fffe:0:0/95"), { ok: true });
});
