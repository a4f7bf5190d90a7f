// P2S-SIGN-V1 signed requests: the signature, the secret a signed key gets,
// and the encryption at rest of what the service keeps of it.
//
//   k1 = HMAC_SHA256(SECRET, API_KEY)      k2 = HMAC_SHA256(k1, TIMESTAMP)
//   k3 = HMAC_SHA256(k2, METHOD)           k4 = HMAC_SHA256(k3, PATH)
//   SIGNATURE = hex(HMAC_SHA256(k4, hex(SHA-256(body))))
//
// The service never keeps the secret: it keeps k1 (enough to check signatures, useless for
// anything else since it is bound to the one key string), encrypted with AES-256-GCM under a
// key-encryption key (SIGNING_KEK) whose id (SIGNING_KEK_ID) is stored beside it, so the KEK can
// be rotated: older ids stay readable through SIGNING_KEKS_PREVIOUS.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export const signedScheme = "P2S-SIGN-V1";
/** The PATH every signature covers: the function's public path, whatever a proxy strips. */
export const signedPath = "/functions/v1/default-integration";
/** |now − TIMESTAMP| at most this many seconds. */
export const signatureWindowSeconds = 30;
/** SHA-256 of no bytes: the payload hash of a request without a body. */
export const emptyBodySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const encoder = new TextEncoder();
const hmac = (key: string | Uint8Array, message: string): Uint8Array =>
  new Uint8Array(createHmac("sha256", key).update(message, "utf8").digest());
const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function sha256Hex(body: Uint8Array | string): string {
  return createHash("sha256").update(typeof body === "string" ? encoder.encode(body) : body).digest("hex");
}

/** k1 = HMAC_SHA256(key = SECRET (its 64-character string), msg = API_KEY). */
export function deriveK1(secret: string, apiKey: string): Uint8Array {
  return hmac(secret, apiKey);
}

/** k4 = HMAC(HMAC(HMAC(k1, TIMESTAMP), METHOD), PATH): the same for a key's requests of one second and method. */
export function deriveK4(k1: Uint8Array, parts: { timestamp: string; method: string; path: string }): Uint8Array {
  return hmac(hmac(hmac(k1, parts.timestamp), parts.method), parts.path);
}

/** SIGNATURE = hex(HMAC(k4, the payload's SHA-256 in hex)). */
export function signatureFromK4(k4: Uint8Array, payloadSha256: string): string {
  return createHmac("sha256", k4).update(payloadSha256, "utf8").digest("hex");
}

function signatureFromK1(
  k1: Uint8Array,
  parts: { timestamp: string; method: string; path: string; payloadSha256: string },
): string {
  return signatureFromK4(deriveK4(k1, parts), parts.payloadSha256);
}

/** The Authorization header of a signed request, as a client builds it. */
export function signedAuthorization(
  { apiKey, secret, body = "", method = "POST", path = signedPath, timestamp = Math.floor(Date.now() / 1000) }: {
    apiKey: string;
    secret: string;
    body?: Uint8Array | string;
    method?: string;
    path?: string;
    timestamp?: number | string;
  },
): string {
  const signature = signatureFromK1(deriveK1(secret, apiKey), {
    timestamp: String(timestamp),
    method: method.toUpperCase(),
    path,
    payloadSha256: sha256Hex(body),
  });
  return `${signedScheme} ${apiKey}:${timestamp}:${signature}`;
}

/** Constant-time comparison of two signatures (64 lowercase hex characters each). */
export function sameSignature(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** SHA-256 of a signed key's full key string, as the database keeps it (api_keys.key_sha256). */
export function keySha256(apiKey: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(apiKey, "utf8").digest());
}

/** Whether `apiKey` is the key string whose SHA-256 is `stored` (constant-time). */
export function matchesKeySha256(apiKey: string, stored: Uint8Array): boolean {
  const digest = keySha256(apiKey);
  return digest.length === stored.length && timingSafeEqual(digest, stored);
}

/** A signed key's secret: 32 random bytes as 64 lowercase hex characters. */
export function generateSecret(): string {
  return hex(crypto.getRandomValues(new Uint8Array(32)));
}

// --- k1 at rest ---

/** What the deployment encrypts signed keys' k1 with; null when SIGNING_KEK is not set. */
export interface Keyring {
  /** The id new rows are encrypted under. */
  readonly currentId: string;
  /** 12-byte IV || ciphertext and tag (60 bytes); `keyPrefix` is bound as additional data. */
  encrypt(k1: Uint8Array, keyPrefix: string): Promise<Uint8Array>;
  /** k1, or an Error when the KEK id is unknown or the ciphertext does not authenticate. */
  decrypt(sealed: Uint8Array, kekId: string, keyPrefix: string): Promise<Uint8Array>;
}

export interface KeyringSettings {
  signingKek?: string;
  signingKekId?: string;
  signingKeksPrevious?: string;
}

export const decodeBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** `id:base64,id:base64` (SIGNING_KEKS_PREVIOUS) as [id, base64] pairs; null when not of that shape. */
export function parsePreviousKeks(text: string): [string, string][] | null {
  const pairs = text.split(",").map((entry) => entry.trim()).filter(Boolean).map((entry) => {
    const at = entry.indexOf(":");
    return [entry.slice(0, at), entry.slice(at + 1)] as [string, string];
  });
  return pairs.every(([id, kek]) => kekIdPattern.test(id) && isKek(kek)) ? pairs : null;
}

export const kekIdPattern = /^[A-Za-z0-9_.-]{1,32}$/;

/** Base64 of exactly 32 bytes. */
export function isKek(text: string): boolean {
  try {
    return /^[A-Za-z0-9+/]{43}=$/.test(text) && decodeBase64(text).length === 32;
  } catch {
    return false;
  }
}

export function createKeyring(settings: KeyringSettings): Keyring | null {
  if (!settings.signingKek) return null;
  const currentId = settings.signingKekId ?? "1";
  const raw = new Map<string, string>(parsePreviousKeks(settings.signingKeksPrevious ?? "") ?? []);
  raw.set(currentId, settings.signingKek);
  const keys = new Map<string, Promise<CryptoKey>>();
  const keyOf = (id: string) => {
    const base64 = raw.get(id);
    if (!base64) return null;
    let key = keys.get(id);
    if (!key) {
      key = crypto.subtle.importKey("raw", decodeBase64(base64), "AES-GCM", false, ["encrypt", "decrypt"]);
      keys.set(id, key);
    }
    return key;
  };
  return {
    currentId,
    async encrypt(k1, keyPrefix) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const sealed = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: encoder.encode(keyPrefix) },
        await keyOf(currentId)!,
        new Uint8Array(k1),
      );
      const out = new Uint8Array(12 + sealed.byteLength);
      out.set(iv);
      out.set(new Uint8Array(sealed), 12);
      return out;
    },
    async decrypt(sealed, kekId, keyPrefix) {
      const key = keyOf(kekId);
      if (!key) throw new Error(`signing key-encryption key ${kekId} is not configured (SIGNING_KEKS_PREVIOUS)`);
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: sealed.slice(0, 12), additionalData: encoder.encode(keyPrefix) },
        await key,
        sealed.slice(12),
      );
      return new Uint8Array(plain);
    },
  };
}
