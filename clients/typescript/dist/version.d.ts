export declare const clientVersion = "0.1.0";
/** `salesos-client/<version> (<runtime>)`: lets the service's request log tell clients and their versions apart. */
export declare const userAgent: string;
