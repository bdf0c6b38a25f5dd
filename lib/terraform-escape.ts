/**
 * Terraform reads every JSON string as a template, so a shell's `${VAR}` or a `%{` would be
 * evaluated (and fail) at plan time. Doubling the marker is Terraform's escape; the instance then
 * receives exactly `text`. (cdktf's Fn.rawString is not used: it leaves `%{` alone and adds
 * backslashes before quotes, which JSON templates keep literally.)
 */
export function escapeTerraformTemplate(text: string): string {
  return text.replace(/([$%])\{/g, "$1$1{");
}

/** The inverse of escapeTerraformTemplate: what Terraform makes of the synthesized string. */
export function unescapeTerraformTemplate(text: string): string {
  return text.replace(/([$%])\1\{/g, "$1{");
}
