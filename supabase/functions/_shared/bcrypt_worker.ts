// A Web Worker of the bcrypt pool (bcrypt_pool.ts): runs bcryptjs off the thread that serves requests.
import bcrypt from "bcryptjs";

export type BcryptJob =
  | { op: "compare"; text: string; hash: string }
  | { op: "hash"; text: string; cost: number };
export type BcryptResult = { value?: boolean | string; error?: string };

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<BcryptJob>) => void) | null;
  postMessage(message: BcryptResult): void;
};

scope.onmessage = async ({ data: job }) => {
  try {
    const value = job.op === "compare"
      ? await bcrypt.compare(job.text, job.hash)
      : await bcrypt.hash(job.text, job.cost);
    scope.postMessage({ value });
  } catch (error) {
    scope.postMessage({ error: String(error) });
  }
};
