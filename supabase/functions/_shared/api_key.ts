// API key format:
//   sk_<live|test>_ + 8-char public id + 18 random chars + 6-char checksum, all [a-z0-9].
// checksum = base36(crc32(everything before it) mod 36^6), left-padded with "0" to 6 characters.
// A secret scanner can check a candidate with nothing but CRC-32 (IEEE 802.3, as in zlib).
import { bcryptPool } from "./bcrypt_pool.ts";

export type Environment = "live" | "test";

const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
const keyPattern = /^sk_(live|test)_([a-z0-9]{8})([a-z0-9]{18})([a-z0-9]{6})$/;
const checksumModulus = 36 ** 6;

const crcTable = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = crcTable[(crc ^ text.charCodeAt(i)) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function checksum(body: string): string {
  return (crc32(body) % checksumModulus).toString(36).padStart(6, "0");
}

export interface ParsedKey {
  environment: Environment;
  /** Public id: `sk_<env>_` + the 8 characters after it, shown in lists and logs. */
  keyPrefix: string;
}

export function hasKnownPrefix(token: string): boolean {
  return token.startsWith("sk_live_") || token.startsWith("sk_test_");
}

/** Parses a presented key; null when its format or checksum is wrong (no database needed). */
export function parseApiKey(token: string): ParsedKey | null {
  const match = keyPattern.exec(token);
  if (!match) return null;
  const [, environment, id, , sum] = match;
  if (sum !== checksum(token.slice(0, -6))) return null;
  return { environment: environment as Environment, keyPrefix: `sk_${environment}_${id}` };
}

function randomChars(count: number): string {
  // 252 is the largest multiple of 36 below 256: rejecting bytes above it keeps every character equally likely.
  let out = "";
  while (out.length < count) {
    for (const byte of crypto.getRandomValues(new Uint8Array(count * 2))) {
      if (byte < 252 && out.length < count) out += alphabet[byte % 36];
    }
  }
  return out;
}

export function generateApiKey(environment: Environment): { key: string } & ParsedKey {
  const body = `sk_${environment}_${randomChars(26)}`;
  const key = body + checksum(body);
  return { key, environment, keyPrefix: key.slice(0, 16) };
}

/**
 * A fresh key, its public prefix and the bcrypt hash that is all the database keeps of it. The hash
 * is computed in the bcrypt worker pool, off the thread that serves requests.
 */
export async function mintApiKey(environment: Environment, bcryptCost: number) {
  const { key, keyPrefix } = generateApiKey(environment);
  return { key, keyPrefix, hash: await bcryptPool().hash(key, bcryptCost) };
}
