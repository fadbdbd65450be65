import { SYNC_MODES } from "../../sync/mode";
import { OPERATION_KINDS, type Destination } from "../destination";
import { httpConnector } from "./connector";
import { HttpConfig, HttpCredentials, staticOrigin } from "./schema";

/**
 * Generic HTTP destination: rows sent to any JSON API through URL and body templates, one row or
 * one batch per request. Every mode applies: the operation (`op`) is in the templates' scope, and
 * `overrides` give deletes (or any kind) their own method, URL and body. Credentials are optional.
 */
export const http: Destination<"http", HttpConfig, HttpCredentials> = {
  type: "http",
  config: HttpConfig,
  credentials: HttpCredentials,
  modes: SYNC_MODES,
  credentialsRequired: false,
  hosts: (config) => [
    { path: "config.url", url: staticOrigin(config.url) ?? config.url },
    ...OPERATION_KINDS.flatMap((op) => {
      const url = config.overrides?.[op]?.url;
      return url === undefined ? [] : [{ path: `config.overrides.${op}.url`, url: staticOrigin(url) ?? url }];
    }),
  ],
  connector: httpConnector,
};
