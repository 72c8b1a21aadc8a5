package io.sluice.admin.store;

import io.sluice.auth.Role;

/** LiteLLM role strings ↔ {@link Role}. */
public final class Roles {
  private Roles() {}

  /** The role for LiteLLM's wire name, or null when unknown. */
  public static Role parse(String wire) {
    if (wire == null) {
      return null;
    }
    for (Role r : Role.values()) {
      if (r.wireName().equals(wire)) {
        return r;
      }
    }
    return null;
  }
}
