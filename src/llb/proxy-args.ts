/**
 * Docker's predefined proxy build args: usable without an ARG line, passed to RUN steps' environment, and
 * never part of a cache key, the image history or any key that leaves the machine (they may hold credentials).
 */
export const PROXY_ARGS: readonly string[] = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];
