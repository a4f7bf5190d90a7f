/** The `Authorization` header value of a signed request. */
export declare function signedAuthorization({ apiKey, secret, method, path, body, timestamp }: {
    apiKey: string;
    secret: string;
    method: string;
    /** The function's public path, e.g. /functions/v1/default-integration (no query string). */
    path: string;
    body: string;
    timestamp?: number;
}): Promise<string>;
