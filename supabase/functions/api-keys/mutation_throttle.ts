// How often keys may be changed: at most `perUser` mutations (create, update, revoke, rotate,
// delete) per minute per actor (a user, or a service_role token) and `perTenant` per tenant, in
// fixed one-minute windows, in memory per instance. Every attempt counts, also one refused
// afterwards (a 409 at the key cap costs as much to answer as a creation, short of the hash).
export interface MutationThrottle {
  /** null when the mutation may go ahead (and is counted); else the seconds until it may. */
  take(actor: string, tenantId: string): number | null;
}

export const mutationLimits = { perUser: 60, perTenant: 300, windowMs: 60_000 };

export function createMutationThrottle(limits: Partial<typeof mutationLimits> = {}): MutationThrottle {
  const { perUser, perTenant, windowMs } = { ...mutationLimits, ...limits };
  const windows = new Map<string, { count: number; until: number }>();
  const maxEntries = 100_000;

  function window(name: string, now: number) {
    let entry = windows.get(name);
    if (!entry || entry.until <= now) {
      if (entry) windows.delete(name);
      // Bounded memory: the oldest window goes first (it has ended, or soon will).
      if (windows.size >= maxEntries) windows.delete(windows.keys().next().value!);
      entry = { count: 0, until: now + windowMs };
      windows.set(name, entry);
    }
    return entry;
  }

  return {
    take(actor, tenantId) {
      const now = Date.now();
      const user = window(`actor:${actor}`, now);
      const tenant = window(`tenant:${tenantId}`, now);
      const full = [user.count >= perUser ? user : null, tenant.count >= perTenant ? tenant : null]
        .filter((w) => w !== null);
      if (full.length > 0) return Math.max(1, Math.ceil((Math.max(...full.map((w) => w.until)) - now) / 1000));
      user.count++;
      tenant.count++;
      return null;
    },
  };
}
