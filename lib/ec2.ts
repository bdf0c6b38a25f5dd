/** EC2 facts that both the spec validation and the constructs rely on. */
import { gzipSync } from "zlib";

/** EC2 rejects user data above 16 KB (before base64). */
export const EC2_USER_DATA_LIMIT_BYTES = 16384;

/** Graviton families (t4g, m7g, c6gn, ...): arm64 only, while the default Ubuntu image is amd64. */
export const ARM64_INSTANCE_TYPE = /^[a-z]+\d+g[a-z]*\./;

/**
 * What EC2 receives for a user-data document: the text itself (`user_data`) while it fits, else its
 * gzip, base64-encoded (`user_data_base64`): cloud-init recognises gzip-compressed user-data and
 * decompresses it before reading the #cloud-config inside. Throws when even the gzip is too large.
 */
export function ec2UserData(name: string, text: string): { readonly userData: string } | { readonly userDataBase64: string } {
  if (Buffer.byteLength(text, "utf8") < EC2_USER_DATA_LIMIT_BYTES) return { userData: text };
  const gzipped = gzipSync(text, { level: 9 });
  if (gzipped.length >= EC2_USER_DATA_LIMIT_BYTES) {
    throw new Error(`user-data: ${name} is ${gzipped.length} bytes even gzip-compressed; EC2 accepts less than ${EC2_USER_DATA_LIMIT_BYTES}`);
  }
  return { userDataBase64: gzipped.toString("base64") };
}
