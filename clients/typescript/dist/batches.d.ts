export interface Batch<T> {
    /** Position of the first item in the caller's input. */
    offset: number;
    items: T[];
    /** Each item as JSON, serialized once to measure the batch and reused for the body. */
    json: string[];
}
export declare function batches<T>(items: Iterable<T> | AsyncIterable<T>, maxItems: number, maxBytes?: number): AsyncGenerator<Batch<T>>;
