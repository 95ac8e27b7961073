/** storectl's version: a bottom module, so ops (backup manifests) never import the CLI. */
export const VERSION = '0.1.0';
