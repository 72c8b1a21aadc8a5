package io.sluice.routing;

/**
 * Rendezvous (highest random weight) hashing: each replica's weight for a key is a hash of the key and the replica's
 * id, and the replica with the highest weight wins. Every node that has the same deployment ids (they come from the
 * config: {@code model_info.id} or the id derived from it) ranks the replicas of a key alike, with nothing shared;
 * a replica that joins or leaves moves only the keys it wins, about {@code 1/n} of them. Weighted deployments use
 * the logarithmic method: {@code -w / ln(u)} with {@code u} the key's hash as a fraction of 1 (Schindelhauer and
 * Schomaker's weighted distributed hash tables), which gives each replica its weight's share of keys.
 */
public final class Rendezvous {
  private Rendezvous() {
  }

  /** The replica's uniform score for {@code key}, in (0, 1). */
  static double uniform(long key, Deployment d) {
    long x = fmix(key ^ d.affinityHash());
    return ((x >>> 11) + 0.5) * 0x1.0p-53;
  }

  /** The replica's score for {@code key} at weight {@code w} (> 0); higher wins. */
  static double weighted(long key, Deployment d, double w) {
    return -w / Math.log(uniform(key, d));
  }

  /** MurmurHash3's 64-bit finaliser (public domain): avalanches every bit of {@code k}. */
  static long fmix(long k) {
    k ^= k >>> 33;
    k *= 0xFF51AFD7ED558CCDL;
    k ^= k >>> 33;
    k *= 0xC4CEB9FE1A85EC53L;
    k ^= k >>> 33;
    return k;
  }

  /** A 64-bit key for a string (a deployment id, a session id, an end user), allocation-free. */
  public static long hash(CharSequence s) {
    long x = 0xCBF29CE484222325L ^ s.length();
    for (int i = 0; i < s.length(); i++) {
      x = (x ^ s.charAt(i)) * 0x100000001B3L; // FNV-1a over UTF-16 units
    }
    return fmix(x);
  }
}
