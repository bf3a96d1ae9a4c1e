/**
 * The Dockerfile frontend: Dockerfile text → `Definition` (src/llb/types.ts) plus the target image config.
 *
 * Layers (each importable on its own):
 * - `parse/`   BuildKit-compatible parser (line joining, `# escape=`, heredocs, JSON exec form,
 *              flags) → typed, validated instructions with 1-based locations. Conformance:
 *              ../shared/conformance/buildkit-parser. `dockerfile-ast` is not used: measured, it joins
 *              `ENV C trailing\\` with the next line and gets other corpus cases wrong.
 * - `shell/`   Docker's variable expander (ProcessWord/ProcessWords). Conformance: buildkit-shell.
 * - `convert/` stages, ARG/ENV scoping, instruction semantics, ops and the image config.
 *
 * Semantics follow BuildKit's dockerfile2llb: only stages reachable from the target are converted;
 * ARG values join the RUN environment from their declaration on; RUN/CMD/ENTRYPOINT are not expanded;
 * the build context is one local source named `context` with `includePaths` = the COPY/ADD sources
 * (omitted when the whole context is copied); history follows BuildKit's `created_by` strings, with
 * `empty_layer` for instructions without an op and no timestamps.
 *
 * Errors: DockerfileError (code + {file, line, lineText}) for problems in the Dockerfile — codes
 * UNKNOWN_INSTRUCTION, INVALID_INSTRUCTION, INVALID_FLAG, INVALID_JSON, INVALID_DIRECTIVE, INVALID_HEREDOC,
 * UNTERMINATED_HEREDOC, NO_INSTRUCTIONS, NO_STAGES, NO_BUILD_STAGE, INVALID_STAGE_NAME, DUPLICATE_STAGE,
 * STAGE_NOT_FOUND, CIRCULAR_DEPENDENCY, IMAGE_NOT_FOUND, PATH_OUTSIDE_CONTEXT, EXPANSION_FAILED,
 * INVALID_ONBUILD, CHECK_FAILED (`# check=error=true`);
 * NotFoundError 'TARGET_NOT_FOUND' for an unknown --target. Every DockerfileError has a column (the caret).
 * Build checks (`checks/`): warnings with `rule` set, filtered by `# check=skip=...`.
 * Messages do not repeat file:line (the location carries it).
 */
import { convertDockerfile } from './convert/converter.js';
import type { FrontendInput, FrontendOutput } from './convert/input.js';

export type { FrontendInput, FrontendOutput, NamedContext, Warning } from './convert/input.js';

export async function dockerfileToDefinition(input: FrontendInput): Promise<FrontendOutput> {
  return convertDockerfile(input);
}

export { dockerfileOutline, dockerfileTargets, formatOutline, formatTargets } from './outline.js';
