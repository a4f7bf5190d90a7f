// Splits any iterable of items into request-sized batches, lazily: a batch is read from the input
// only when the previous one has been answered, so a stream of any length uses bounded memory.
/** Bodies stay under the service's 5 MiB limit, with room for the envelope around the items. */
const maxBatchBodyBytes = 5 * 1024 * 1024 - 1024;
/** UTF-8 length of a string, without allocating its bytes. */
function utf8Length(text) {
    let bytes = text.length;
    for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
            const next = text.charCodeAt(i + 1);
            if (next >= 0xdc00 && next <= 0xdfff) {
                bytes += 2; // a surrogate pair: 4 bytes for 2 UTF-16 units
                i++;
                continue;
            }
        }
        if (code >= 0x800)
            bytes += 2;
        else if (code >= 0x80)
            bytes += 1;
    }
    return bytes;
}
export async function* batches(items, maxItems, maxBytes = maxBatchBodyBytes) {
    let batch = { offset: 0, items: [], json: [] };
    let bytes = 0;
    let position = 0;
    for await (const item of items) {
        const json = JSON.stringify(item);
        const size = utf8Length(json) + 1; // and its comma
        if (batch.items.length > 0 && bytes + size > maxBytes) {
            yield batch;
            batch = { offset: position, items: [], json: [] };
            bytes = 0;
        }
        batch.items.push(item);
        batch.json.push(json);
        bytes += size;
        position++;
        if (batch.items.length === maxItems) {
            yield batch;
            batch = { offset: position, items: [], json: [] };
            bytes = 0;
        }
    }
    if (batch.items.length > 0)
        yield batch;
}
