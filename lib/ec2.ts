/** EC2 facts that both the spec validation and the constructs rely on. */

/** EC2 rejects user data above 16 KB (before base64). */
export const EC2_USER_DATA_LIMIT_BYTES = 16384;

/** Graviton families (t4g, m7g, c6gn, ...): arm64 only, while the default Ubuntu image is amd64. */
export const ARM64_INSTANCE_TYPE = /^[a-z]+\d+g[a-z]*\./;
