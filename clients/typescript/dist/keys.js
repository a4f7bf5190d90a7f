// SalesOSKeysClient: the api-keys function (self-service key management) with a Dashboard JWT.
import { Transport } from "./http.js";
function page(answer) {
    return { items: answer.data, nextCursor: answer.meta.next_cursor ?? null };
}
const path = (id, action = "") => `/api-keys/${encodeURIComponent(id)}${action}`;
export class SalesOSKeysClient {
    #transport;
    constructor(options) {
        const { accessToken, tenantId } = options;
        if (!accessToken)
            throw new TypeError("accessToken is required");
        this.#transport = new Transport({ ...options, headers: { ...options.headers, ...(tenantId ? { "X-Tenant-Id": tenantId } : {}) } }, typeof accessToken === "function" ? accessToken : () => accessToken);
    }
    /** Creates a key. The plaintext `key` is in this answer only: store it now. */
    async create(input, options = {}) {
        // Not idempotent: a lost answer is not retried, or two keys could exist.
        return (await this.#transport.request("POST", "/api-keys", {
            body: input,
            idempotent: false,
            ...options,
        })).data;
    }
    /** One page of keys, newest first. */
    async list(query = {}, options = {}) {
        return page(await this.#transport.request("GET", "/api-keys", {
            query: { ...query },
            idempotent: true,
            ...options,
        }));
    }
    /** Every key matching the filters, newest first, fetching pages as you iterate. */
    async *listAll(query = {}, options = {}) {
        let cursor;
        do {
            const result = await this.list({ ...query, cursor }, options);
            yield* result.items;
            cursor = result.nextCursor ?? undefined;
        } while (cursor);
    }
    async get(id, options = {}) {
        return (await this.#transport.request("GET", path(id), { idempotent: true, ...options })).data;
    }
    /** Changes the given settings; they act on the key's very next request. */
    async update(id, changes, options = {}) {
        return (await this.#transport.request("PATCH", path(id), { body: changes, idempotent: true, ...options }))
            .data;
    }
    /** Revokes now; revoking a revoked key changes nothing. */
    async revoke(id, options = {}) {
        return (await this.#transport.request("POST", path(id, "/revoke"), { idempotent: true, ...options })).data;
    }
    /** Deletes permanently (the audit log keeps its history). */
    async delete(id, options = {}) {
        // Not retried after a lost answer: the retry would find no key and report 404.
        return (await this.#transport.request("DELETE", path(id), { idempotent: false, ...options })).data;
    }
    /**
     * A new key with the same settings (plaintext in this answer only); the old one keeps working for
     * `gracePeriodSeconds` (0-604800, default 0). A revoked or expired key: CONFLICT (409).
     */
    async rotate(id, rotation = {}, options = {}) {
        const body = rotation.gracePeriodSeconds === undefined ? {} : { grace_period_seconds: rotation.gracePeriodSeconds };
        return (await this.#transport.request("POST", path(id, "/rotate"), {
            body,
            idempotent: false,
            ...options,
        }))
            .data;
    }
    /** Request counts per hour or day bucket over `from`..`to` (ISO 8601), by status class. */
    async usage(id, query = {}, options = {}) {
        return (await this.#transport.request("GET", path(id, "/usage"), {
            query,
            idempotent: true,
            ...options,
        }))
            .data;
    }
    /** One page of the key's request log, newest first. */
    async requests(id, query = {}, options = {}) {
        return page(await this.#transport.request("GET", path(id, "/requests"), {
            query: { ...query },
            idempotent: true,
            ...options,
        }));
    }
    /** One page of the tenant's key-management audit log, newest first. */
    async audit(query = {}, options = {}) {
        const { keyId, ...rest } = query;
        return page(await this.#transport.request("GET", "/api-keys/audit", {
            query: { ...rest, key_id: keyId },
            idempotent: true,
            ...options,
        }));
    }
}
