package io.sluice.auth;

/** LiteLLM's {@code LitellmUserRoles}, the subset Sluice knows; {@link #wireName()} is LiteLLM's string. */
public enum Role {
  PROXY_ADMIN("proxy_admin"),
  PROXY_ADMIN_VIEWER("proxy_admin_viewer"),
  INTERNAL_USER("internal_user"),
  INTERNAL_USER_VIEWER("internal_user_viewer");

  private final String wireName;

  Role(String wireName) {
    this.wireName = wireName;
  }

  public String wireName() {
    return wireName;
  }
}
