/** The frontend's public input/output types (re-exported by frontend/index.ts). */
import type { ImageConfig, Platform } from '../../src/image/types.js';
import type { Definition } from '../../src/llb/types.js';
import type { BuildChecks } from '../checks/evaluated.js';

export interface FrontendInput {
  /** The Dockerfile text (a BOM is allowed). */
  dockerfile: string;
  /** Shown in errors, e.g. "Dockerfile" or "path/Dockerfile". */
  dockerfilePath: string;
  /** Already-parsed .dockerignore patterns; copied into the context's local source unchanged. */
  excludePatterns: string[];
  buildArgs: Record<string, string>;
  /** Stage name; default: the last stage. */
  target?: string;
  /** The target platform, e.g. the host's {os:'linux', architecture:'amd64'}. */
  platform: Platform;
  /**
   * The platform the build runs on (BUILDPLATFORM, `FROM --platform=$BUILDPLATFORM`); default: `platform`.
   * A RUN step of a stage whose platform is not this one is marked with `ExecOp.platform` (it runs under emulation).
   */
  buildPlatform?: Platform;
  /** Step names start with the stage's platform, `[linux/arm64 build 3/5]` (a build of several platforms, as BuildKit). */
  platformInNames?: boolean;
  /**
   * Resolves an image ref (as written after expansion) for a platform (the stage's: the target's, or its
   * `FROM --platform`) → normalized ref, manifest digest, config. Throws NotFoundError if absent.
   */
  resolveImage(ref: string, platform: Platform): Promise<{ ref: string; digest: string; config: ImageConfig }>;
  /**
   * `tsbuild build --check`: evaluate the build checks only. Problems the checks report (a duplicate
   * stage name) do not stop the conversion; the caller does not build.
   */
  checkOnly?: boolean;
  /**
   * `--build-context NAME=…`, by NAME as given (lowercased). A named context replaces the stage called NAME
   * (its instructions are not run), and the image NAME in FROM, `COPY --from` and `RUN --mount from=`
   * (looked up as BuildKit does: the familiar name without `:latest`, so `FROM busybox:latest` finds `busybox`).
   */
  namedContexts?: Record<string, NamedContext>;
  /** The build checks; default BUILD_CHECKS (frontend/checks/evaluated.ts). Tests inject failing ones. */
  checks?: BuildChecks;
}

/**
 * A named context: a local directory (bound by the solver's `locals[source]`, filtered by its own
 * .dockerignore) or an image ref given to `resolveImage` (docker-image://REF; the CLI resolves
 * oci-layout:// into one).
 */
export type NamedContext = { kind: 'local'; source: string; excludePatterns: string[] } | { kind: 'image'; ref: string };

export interface Warning {
  message: string;
  file: string;
  line?: number;
  /** The build check that reported it (e.g. "JSONArgsRecommended"); absent for other warnings. */
  rule?: string;
}

export interface FrontendOutput {
  definition: Definition;
  warnings: Warning[];
  /** Every stage in Dockerfile order; `name` is the lowercased AS name or "" when unnamed. */
  stages: { name: string; index: number; reachable: boolean }[];
}
