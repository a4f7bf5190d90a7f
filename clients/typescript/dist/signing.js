// P2S-SIGN-V1 (docs/authentication.md, "Signed requests") with WebCrypto, so the client signs in
// Node 18+, Deno, Bun and browsers alike.
//   k1 = HMAC(secret, apiKey), k2 = HMAC(k1, timestamp), k3 = HMAC(k2, method), k4 = HMAC(k3, path)
//   signature = hex(HMAC(k4, hex(SHA-256(body))))
const encoder = new TextEncoder();
async function hmac(key, message) {
    const imported = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
    ]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", imported, encoder.encode(message)));
}
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
/** The `Authorization` header value of a signed request. */
export async function signedAuthorization({ apiKey, secret, method, path, body, timestamp = Math.floor(Date.now() / 1000) }) {
    const k1 = await hmac(encoder.encode(secret), apiKey);
    const k2 = await hmac(k1, String(timestamp));
    const k3 = await hmac(k2, method.toUpperCase());
    const k4 = await hmac(k3, path);
    const payload = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(body))));
    return `P2S-SIGN-V1 ${apiKey}:${timestamp}:${hex(await hmac(k4, payload))}`;
}
