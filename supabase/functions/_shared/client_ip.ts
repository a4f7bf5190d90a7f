// The source address of a request: the socket peer, unless the deployment declares trusted
// proxy hops, in which case the address that the outermost trusted proxy saw. A client-sent
// X-Forwarded-For is ignored in the default configuration (0 hops), so it can never widen access.

const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const hexGroup = /^[0-9a-f]{1,4}$/i;
// A prefix length as Postgres's cidr reads it for both families: no sign, no leading zero
// (`2001:db8::/032` is refused by Postgres although `10.0.0.0/08` is not).
const prefixLength = /^(0|[1-9]\d{0,2})$/;

function isIpv6(ip: string): boolean {
  const halves = ip.split("::");
  if (halves.length > 2) return false;
  const groups = halves.flatMap((half) => (half === "" ? [] : half.split(":")));
  // A trailing dotted IPv4 part counts as two groups.
  const last = groups.at(-1);
  const width = groups.length + (last !== undefined && ipv4.test(last) ? 1 : 0);
  // A dotted part only ends the whole address ("1.2.3.4::" is no address: Postgres refuses it).
  const valid = groups.every((g, i) => hexGroup.test(g) || (i === groups.length - 1 && ipv4.test(g) && ip.endsWith(g)));
  return valid && (halves.length === 2 ? width <= 7 : width === 8);
}

/**
 * A canonical address string, or null if `value` is no IP address. IPv4-mapped IPv6, however it
 * is spelt (`::ffff:10.0.0.1`, `::ffff:a00:1`, `0:0:0:0:0:ffff:10.0.0.1`), becomes IPv4.
 */
export function normalizeIp(value: string | undefined | null): string | null {
  if (!value) return null;
  const ip = value.trim().replace(/^\[(.*)\]$/, "$1");
  if (ipv4.test(ip)) return ip;
  if (!isIpv6(ip)) return null;
  const { value: bits } = addressBits(ip);
  if (bits >> 32n === 0xffffn) return [24n, 16n, 8n, 0n].map((shift) => (bits >> shift) & 0xffn).join(".");
  return ip.toLowerCase();
}

export function clientIp(
  socketPeer: string | undefined,
  forwardedFor: string | null,
  trustedHops: number,
): string | null {
  const peer = normalizeIp(socketPeer);
  if (trustedHops === 0 || !forwardedFor) return peer;
  const hops = forwardedFor.split(",").map((entry) => entry.trim()).filter(Boolean);
  // Each trusted proxy appended the address it saw; the one `trustedHops` from the right is the client.
  // Fewer entries than trusted proxies: the request did not come through them all, so the leftmost
  // entry would be whatever the sender wrote.
  if (hops.length < trustedHops) return peer;
  return normalizeIp(hops[hops.length - trustedHops]) ?? peer;
}

/** The address as a number and its width in bits, for checking CIDR host bits. */
function addressBits(ip: string): { value: bigint; width: 32 | 128 } {
  if (ipv4.test(ip)) {
    return { value: ip.split(".").reduce((acc, part) => (acc << 8n) | BigInt(part), 0n), width: 32 };
  }
  const [head, tail = ""] = ip.split("::");
  const groups = (half: string) =>
    half === "" ? [] : half.split(":").flatMap((g) => {
      if (!ipv4.test(g)) return [g];
      const [a, b, c, d] = g.split(".").map(Number);
      return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    });
  const left = groups(head);
  const right = ip.includes("::") ? groups(tail) : [];
  const all = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return { value: all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n), width: 128 };
}

/**
 * An IPv4-mapped entry (`ip` already in IPv4 form) written as IPv4; null unless that is a valid
 * entry (a prefix with no IPv4 equivalent, or host bits set).
 */
function mappedAsIpv4(ip: string, prefix: string | undefined): string | null {
  // The IPv6 prefix 96 + n is the IPv4 prefix n; any other prefix makes an invalid candidate.
  const ipv4Prefix = prefix !== undefined && prefixLength.test(prefix) ? Number(prefix) - 96 : -1;
  const candidate = prefix === undefined ? ip : `${ip}/${ipv4Prefix}`;
  return checkAllowlistEntry(candidate).ok ? candidate : null;
}

const hostBitsSet = { ok: false, reason: "CIDR block has host bits set" } as const;

/**
 * An allowlist entry: an IPv4/IPv6 address or a CIDR block without host bits (as Postgres's
 * cidr type demands). Returns the entry or an explanation of what is wrong with it.
 */
export function checkAllowlistEntry(entry: string): { ok: true } | { ok: false; reason: string } {
  const [address, prefix, extra] = entry.split("/");
  const ip = normalizeIp(address);
  if (extra === undefined && ip && ipv4.test(ip) && isIpv6(address)) {
    // A block wider than the mapped range (prefix below 96) has the mapped marker (ffff) among its
    // host bits.
    if (prefix !== undefined && prefixLength.test(prefix) && Number(prefix) < 96) return hostBitsSet;
    // Peers are compared in their IPv4 form, so this form could never match.
    const ipv4Form = mappedAsIpv4(ip, prefix);
    return { ok: false, reason: `an IPv4-mapped IPv6 address: write it as IPv4${ipv4Form ? ` (${ipv4Form})` : ""}` };
  }
  if (extra !== undefined || !ip || ip !== address.toLowerCase()) {
    return { ok: false, reason: "not an IPv4/IPv6 address or CIDR block" };
  }
  if (prefix === undefined) return { ok: true };
  const { value, width } = addressBits(ip);
  if (!prefixLength.test(prefix) || Number(prefix) > width) {
    return { ok: false, reason: `prefix length must be 0-${width}` };
  }
  const hostBits = BigInt(width - Number(prefix));
  if ((value & ((1n << hostBits) - 1n)) !== 0n) return hostBitsSet;
  return { ok: true };
}

/**
 * The source a request is counted under by the key verifier's fair queue: an IPv4 address as it
 * is, an IPv6 address by its /64 (one subscriber's whole network: a client can pick any address in
 * it). `unknown` when there is no address.
 */
export function sourcePrefix(ip: string | null): string {
  if (!ip) return "unknown";
  if (ipv4.test(ip)) return ip;
  if (!isIpv6(ip)) return "unknown";
  const network = addressBits(ip).value >> 64n;
  const groups = [48n, 32n, 16n, 0n].map((shift) => ((network >> shift) & 0xffffn).toString(16));
  return `${groups.join(":")}::/64`;
}

/**
 * An allowlist whose entries together let every address of a family in (`0.0.0.0/0`, `::/0`,
 * `::ffff:0:0/96`, or blocks that add up to one, such as `0.0.0.0/1` + `128.0.0.0/1`): it would
 * look like a restriction without being one. Returns the family's name, or null. Entries that are
 * no address or block are skipped (they are refused on their own).
 */
export function allowsEveryAddress(entries: readonly string[]): "IPv4" | "IPv6" | null {
  for (const width of [32, 128] as const) {
    const ranges = entries.flatMap((entry) => {
      const [address, prefix] = entry.split("/");
      const ip = normalizeIp(address);
      if (!ip || (prefix !== undefined && !prefixLength.test(prefix))) return [];
      const bits = addressBits(ip);
      if (bits.width !== width) return [];
      // An IPv4-mapped block (`::ffff:0:0/96`) is the IPv4 block it maps.
      const mapped = bits.width === 32 && !ipv4.test(address);
      const length = prefix === undefined ? width : Number(prefix) - (mapped ? 96 : 0);
      if (length < 0 || length > width) return [];
      const size = 1n << BigInt(width - length);
      return [{ start: bits.value, end: bits.value + size }];
    }).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    let covered = 0n;
    for (const { start, end } of ranges) {
      if (start > covered) break;
      if (end > covered) covered = end;
    }
    if (covered === 1n << BigInt(width)) return width === 32 ? "IPv4" : "IPv6";
  }
  return null;
}
