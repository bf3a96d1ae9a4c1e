/**
 * What `tsbuild --help` and `tsbuild COMMAND --help` print, and usage errors in docker's words. Plain
 * text only (no imports): src/cli/main.ts loads it at startup.
 */

export const MAIN_HELP = `Usage: tsbuild [build] [OPTIONS] CONTEXT
       tsbuild COMMAND [OPTIONS]

A BuildKit-class Dockerfile image builder (build is the default command).

Commands:
  build       Build an image from a Dockerfile (docker buildx build's flags)
  images      List the images in the local store
  tag         Give an image another name
  rmi         Remove image names
  inspect     Show an image's manifest and config
  save        Write images to a docker or OCI archive
  load        Read images from a docker or OCI archive
  push        Push images of the local store to a registry
  login       Store registry credentials (Docker's config.json)
  logout      Remove registry credentials
  du          Build cache disk use
  prune       Remove build cache
  doctor      Verify blobs, cache records, snapshots and tags
  history     Recent builds; one build's steps or its timeline page
  bench       Benchmark the build cache: scenarios, what each file change costs
  version     Show the version

Global options:
  -D, --debug     Debug output (sets TSBUILD_DEBUG=1)
  -h, --help      Show help (also: tsbuild COMMAND --help)
  -v, --version   Show the version

Run 'tsbuild COMMAND --help' for a command's options.
`;

export const BUILD_HELP = `Usage: tsbuild build [OPTIONS] CONTEXT
       CONTEXT: a directory, - (a tar, optionally compressed, or a Dockerfile alone on stdin), a git URL
       (https://host/repo.git#ref:dir, git@host:repo.git#ref, git://…) or an http(s):// URL of a tarball

Build an image from a Dockerfile (the flags of docker buildx build).

Options:
  -t, --tag NAME              Name and optionally a tag (name:tag); repeatable
  -f, --file PATH             Dockerfile (default: CONTEXT/Dockerfile; - reads it from stdin)
      --build-arg K=V         Set a build-time variable; repeatable
      --build-context N=V     Extra named context: N=DIR, N=GIT-OR-HTTPS-URL, N=docker-image://REF, N=oci-layout://DIR[:TAG]
      --target STAGE          Build the named stage
      --platform P            Target platform (this host's only: os/arch[/variant])
      --no-cache              Do not use the cache
      --no-cache-filter S     Do not use the cache for stage S (and what depends on it); repeatable
      --explain               Print every step's cache decision and why it missed
      --progress MODE         auto, plain, tty, quiet, none or rawjson (JSON lines) (default: auto;
                              env BUILDKIT_PROGRESS)
  -q, --quiet                 No progress; print the image ID on stdout
  -o, --output SPEC           type=image|registry|oci|docker|local|tar[,dest=…][,name=…][,compression=…]
                              (repeatable; -o DIR = type=local, -o - = rootfs tar on stdout)
      --load                  Load the image into the Docker daemon (DOCKER_HOST)
      --push                  Push the image to the registry of every -t name
      --pull                  Always check the registry for newer base images
      --label K=V             Set an image label; repeatable
      --annotation [T:]K=V    Add an annotation (T: manifest, index, manifest-descriptor); repeatable
      --iidfile FILE          Write the image ID (config digest) to FILE
      --metadata-file FILE    Write build metadata (digests, names, steps) as JSON
      --call MODE             build (default), check (build checks only), outline (build arguments,
                              secrets, ssh), targets (the stages)
      --check                 Same as --call=check (exit 1 when a check warns)
      --print-definition      Print the build definition (JSON) and exit
      --provenance, --sbom, --attest   Accepted when false: tsbuild makes no attestations
      --insecure-registry H   Allow plain HTTP / unverified TLS for registry H (host:port)
      --allow E               Grant an entitlement: network.host (RUN --network=host),
                              security.insecure (RUN --security=insecure); repeatable
      --add-host HOST:IP      Add an /etc/hosts entry to RUN steps; repeatable
      --network MODE          default, host or none for RUN steps
      --secret id=ID[,src=FILE|env=VAR]   Expose a secret to RUN --mount=type=secret; repeatable
      --ssh default|ID[=SOCKET|KEY,...]   Expose an SSH agent to RUN --mount=type=ssh; repeatable
  -m, --memory SIZE           Memory limit of each RUN step
      --cpus N, --cpu-quota N, --cpu-period N, --pids-limit N, --ulimit NAME=SOFT[:HARD],
      --shm-size SIZE, --cgroup-parent PATH   Other RUN step limits
      --root DIR              Store directory (default: /var/lib/tsbuild for root,
                              $XDG_DATA_HOME/tsbuild otherwise; env TSBUILD_ROOT)
  -D, --debug                 Debug output (sets TSBUILD_DEBUG=1)
      --builder NAME          Accepted and ignored (tsbuild has no builder instances)
  -h, --help                  Show this help

Accepted for docker compatibility, with a warning where they do nothing: --rm, --force-rm, --compress,
--squash, --isolation, --security-opt, --memory-swap, -c/--cpu-shares, --cpuset-cpus, --cpuset-mems,
--disable-content-trust. Boolean flags take =true/=false (--push=false).
Environment: BUILDKIT_PROGRESS, NO_COLOR, BUILDKIT_COLORS (e.g. run=green:error=yellow:cancel=blue:warning=magenta).
`;

/** `tsbuild COMMAND --help`, one entry per command (main.ts's dispatch table has the same names). */
export const COMMAND_HELP: Record<string, string> = {
  images: `Usage: tsbuild images [--root DIR] [-q] [--no-trunc]\n\nList the images in the local store: REPOSITORY TAG DIGEST CREATED SIZE.\n\n  -q         Only image IDs\n  --no-trunc Do not shorten digests\n`,
  tag: `Usage: tsbuild tag [--root DIR] SOURCE_IMAGE TARGET_IMAGE\n\nGive an image of the local store another name.\n`,
  rmi: `Usage: tsbuild rmi [--root DIR] IMAGE [IMAGE...]\n\nRemove image names from the local store (the blobs stay for the cache).\n`,
  inspect: `Usage: tsbuild inspect [--root DIR] IMAGE [IMAGE...]\n\nPrint an image's ID, names, manifest and config as JSON (by name, digest or ID prefix).\n`,
  save: `Usage: tsbuild save [--root DIR] IMAGE [IMAGE...] [-o FILE] [--format docker|oci]\n\nWrite images to an archive (stdout without -o).\n\n  -o, --output FILE   The archive (default: stdout)\n      --format F      docker (default: what docker load reads) or oci\n`,
  load: `Usage: tsbuild load [--root DIR] [-i FILE] [-t NAME] [-q]\n\nRead images from a docker save or OCI archive (also gzipped; stdin without -i); every blob is verified.\n\n  -i, --input FILE   The archive\n  -t, --tag NAME     Name the loaded image\n`,
  push: `Usage: tsbuild push [--root DIR] [--insecure-registry HOST:PORT] [--progress MODE] [-q] NAME[:TAG]...\n\nPush images of the local store to their registries.\n`,
  login: `Usage: tsbuild login [REGISTRY] -u USER (--password-stdin | -p PASSWORD) [--insecure-registry HOST:PORT]\n\nCheck the credentials with the registry and store them in Docker's config.json (or its credential helper).\nREGISTRY defaults to docker.io.\n`,
  logout: `Usage: tsbuild logout [REGISTRY]\n\nRemove the stored credentials of REGISTRY (default docker.io).\n`,
  du: `Usage: tsbuild du [--root DIR] [--json] [-v|--verbose]\n\nBuild cache disk use: per record (snapshot, layer, shared or private, last used) and totals.\n`,
  prune: `Usage: tsbuild prune [--all] [--keep-storage SIZE] [--filter until=DURATION] [--json] [--root DIR]\n\nRemove build cache nothing references (--all: every record and cache mount; tagged images stay).\n`,
  doctor: `Usage: tsbuild doctor [--fix] [--json] [--root DIR]\n\nRe-hash every blob and check every cache record, snapshot and tag; --fix removes what is broken.\n`,
  history: `Usage: tsbuild history [--json] [--root DIR]\n       tsbuild history inspect ID [--json] [--root DIR]\n       tsbuild history report ID --html FILE [--root DIR]\n\nRecent builds (time, target, duration, steps run/cached, result); one build's steps and cache-miss reasons;\nits timeline as a self-contained HTML page. ID: a build's id or a unique prefix. The last 50 builds are kept.\n`,
  bench: `Usage: tsbuild bench [OPTIONS] CONTEXT\n\nBuild CONTEXT under scenarios against a copy of the store and report times per step and stage, what ran\nand why, the critical path, parallelism, bytes, what a change in each COPY group costs, and hints.\n\n  -s, --scenario S     cold, noop, change=PATH, arg=NAME=VALUE, base, all-files; repeatable or\n                       comma-separated (default: cold,noop,all-files)\n      --runs N         Runs per scenario, median reported (default 3)\n      --json FILE      The results as JSON (schemas/bench-report.schema.json)\n      --html FILE      A self-contained report page (timelines, tables, hints)\n      --compare FILE   Set an earlier --json beside this bench\n  -f, --file PATH      Dockerfile; --target STAGE, --build-arg K=V as for build\n      --in-place       Use the store itself (not with cold or base)\n      --root DIR       Store directory\n`,
  version: `Usage: tsbuild version\n\nShow the version.\n`,
};

/** Node's parseArgs messages in docker's (cobra/pflag) words: `unknown flag: --foo`. */
export function dockerStyleMessage(message: string): string {
  const msg = message.replace(/^TypeError \[[A-Z_]+\]: /, '');
  const unknown = /^Unknown option '(-{1,2})([^']+)'/.exec(msg);
  if (unknown) return unknown[1] === '--' ? `unknown flag: --${unknown[2]}` : `unknown shorthand flag: '${unknown[2]![0]}' in -${unknown[2]}`;
  const missing = /^Option '(?:-\w, )?--([\w-]+) <value>' argument missing/.exec(msg);
  if (missing) return `flag needs an argument: --${missing[1]}`;
  const noArg = /^Option '(?:-\w, )?--([\w-]+)' does not take an argument/.exec(msg);
  if (noArg) return `flag --${noArg[1]} does not take a value`;
  const positional = /^Unexpected argument '([^']*)'/.exec(msg);
  if (positional) return `unexpected argument "${positional[1]}"`;
  return msg;
}
