/**
 * `load`, started by the first call and shared by every later one. A failed load is not kept: the
 * next call starts it again. For what the local server loads only when it is first asked for.
 */
export function onFirstUse<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () =>
    loading ??= load().catch((error) => {
      loading = undefined;
      throw error;
    });
}
