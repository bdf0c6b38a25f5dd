/**
 * Real Terraform without AWS: `init`, `validate`, `plan` and `show -json` of a synthesized stack with
 * the real hashicorp/aws provider, for the plan tests and the review command's plan section.
 *
 *   const tf = await startTerraform();          // finds terraform + provider mirror, starts the AWS stub
 *   try {
 *     const plan = await tf.planStack("cdktf.out/stacks/five-server");   // validate + plan + show -json
 *     plan.json.resource_changes ...
 *   } finally {
 *     await tf.close();                          // stops the stub, removes the work folder
 *   }
 *
 * What it does to a stack (always in a temp copy; the synthesized stack is never touched):
 * - Provider installation: the first filesystem mirror holding registry.terraform.io/hashicorp/aws
 *   ($KUBEADM_HA_TF_PLUGIN_MIRROR, else /opt/tf-plugins and Terraform's usual plugin folders) goes
 *   into a CLI config of its own (TF_CLI_CONFIG_FILE), and the copy's provider constraint is set to
 *   the mirror's version by an override file. Without a mirror, `terraform init` installs the stack's
 *   pinned version from the registry as it normally would (into a shared plugin cache).
 * - An override file (plan_test_override.tf.json) replaces the backend with a local state file in
 *   the copy (so an S3-backed stack plans too), and points the provider's endpoints at a loopback
 *   stub (aws-stub.ts) with fake keys and the skip_* settings that keep it from asking AWS anything.
 * - `terraform init` runs once per set of required providers and harness; every copy reuses its data
 *   folder (TF_DATA_DIR) and lock file. CHECKPOINT_DISABLE, TF_IN_AUTOMATION, and a proxy that
 *   refuses everything (loopback excepted) keep Terraform and the provider off the network.
 *
 * A failing command throws TerraformError carrying Terraform's own message. A missing terraform
 * binary throws with how to get one (set $KUBEADM_HA_TERRAFORM to use another binary).
 *
 * The work folder lives under os.tmpdir() (in jest: the run's own folder, see jest.config.js);
 * KUBEADM_HA_KEEP_TF=1 keeps it for debugging. start({ commandTimeoutMs }) bounds each command.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AwsStub, startAwsStub } from "./aws-stub";

export const AWS_PROVIDER = "registry.terraform.io/hashicorp/aws";
/** The override file every prepared copy gets. */
export const PLAN_OVERRIDE_FILE = "plan_test_override.tf.json";
/** Places searched for a filesystem mirror after $KUBEADM_HA_TF_PLUGIN_MIRROR. */
export const MIRROR_SEARCH_PATH = [
  "/opt/tf-plugins",
  path.join(os.homedir(), ".terraform.d", "plugins"),
  path.join(os.homedir(), ".local", "share", "terraform", "plugins"),
  "/usr/local/share/terraform/plugins",
  "/usr/share/terraform/plugins",
];
/** Per command by default; a plan of today's stacks takes 10-40 s on a loaded 2-core machine. */
const COMMAND_TIMEOUT_MS = 300_000;
/** Each terraform process loads the ~700 MB provider; two at a time is what a small machine takes. */
const MAX_PARALLEL = 2;
/** Services the stacks use: any call they make lands on the stub, never on AWS. */
const STUB_SERVICES = ["autoscaling", "cloudwatchlogs", "dynamodb", "ec2", "elbv2", "iam", "kms", "route53", "s3", "ssm", "sts"];
/** The provider's fake keys (the stub accepts anything); kept out of every report. */
export const STUB_ACCESS_KEY = "AKIAPLANTESTONLY0000";
export const STUB_SECRET_KEY = "plan-test-secret-key-not-a-credential";

export class TerraformError extends Error {
  constructor(
    public readonly command: string,
    public readonly cwd: string,
    public readonly exitCode: number | null,
    public readonly output: string,
    /** Terraform's stderr alone: its diagnostics, without the plan text. */
    public readonly stderr: string = output,
  ) {
    super(`terraform ${command} failed (exit ${exitCode ?? "killed"}) in ${cwd}:\n${output.trim()}`);
    this.name = "TerraformError";
  }
}

export interface ProviderMirror {
  /** The mirror folder (holds registry.terraform.io/hashicorp/aws/...). */
  readonly dir: string;
  /** Highest hashicorp/aws version in it for this platform. */
  readonly awsVersion: string;
}

/** terraform on $KUBEADM_HA_TERRAFORM or PATH, with its version; throws a clear error when absent. */
export function findTerraform(): { binary: string; version: string } {
  const binary = process.env.KUBEADM_HA_TERRAFORM || "terraform";
  const probe = spawnSync(binary, ["version", "-json"], { encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1" } });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `terraform not found (tried ${JSON.stringify(binary)}: ${probe.error?.message ?? probe.stderr.trim()}). ` +
        "Plans need Terraform >= 1.10 on PATH (https://developer.hashicorp.com/terraform/install), " +
        "or KUBEADM_HA_TERRAFORM=/path/to/terraform.",
    );
  }
  return { binary, version: JSON.parse(probe.stdout).terraform_version };
}

/** The platform folder name Terraform uses (linux_amd64, darwin_arm64, ...). */
export function terraformPlatform(): string {
  const arch = { x64: "amd64", arm64: "arm64", ia32: "386", arm: "arm" }[process.arch as string] ?? process.arch;
  return `${process.platform === "win32" ? "windows" : process.platform}_${arch}`;
}

/** The first mirror with hashicorp/aws for this platform, unpacked or packed layout; undefined if none. */
export function findProviderMirror(): ProviderMirror | undefined {
  const override = process.env.KUBEADM_HA_TF_PLUGIN_MIRROR;
  if (override && !fs.existsSync(override)) {
    throw new Error(`KUBEADM_HA_TF_PLUGIN_MIRROR=${override}: no such folder (expected a Terraform filesystem mirror)`);
  }
  const platform = terraformPlatform();
  for (const dir of override ? [override] : MIRROR_SEARCH_PATH) {
    const providerDir = path.join(dir, AWS_PROVIDER);
    if (!fs.existsSync(providerDir)) continue;
    const versions = fs.readdirSync(providerDir).flatMap((entry) => {
      const unpacked = fs.existsSync(path.join(providerDir, entry, platform));
      const packed = /^terraform-provider-aws_(.+)_(\w+_\w+)\.zip$/.exec(entry);
      if (unpacked && /^\d+\.\d+\.\d+/.test(entry)) return [entry];
      if (packed && packed[2] === platform) return [packed[1]];
      return [];
    });
    if (versions.length > 0) return { dir, awsVersion: versions.sort(compareVersions).at(-1)! };
  }
  return undefined;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  const pb = b.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  }
  return 0;
}

/** The subset of `terraform show -json` the tests read; the rest is there too. */
export interface PlanJson {
  readonly format_version: string;
  readonly terraform_version: string;
  readonly planned_values: { readonly root_module: PlannedModule; readonly outputs?: Record<string, { value?: unknown; sensitive: boolean }> };
  readonly resource_changes?: readonly ResourceChange[];
  readonly output_changes?: Record<string, Change>;
  readonly prior_state?: unknown;
  readonly configuration: { readonly provider_config?: Record<string, { expressions?: Record<string, unknown> }>; readonly root_module: ConfigModule };
  readonly errored: boolean;
}

export interface PlannedModule {
  readonly address?: string;
  readonly resources?: readonly PlannedResource[];
  readonly child_modules?: readonly PlannedModule[];
}

export interface PlannedResource {
  readonly address: string;
  readonly mode: "managed" | "data";
  readonly type: string;
  readonly name: string;
  readonly index?: string | number;
  readonly provider_name: string;
  readonly schema_version: number;
  readonly values: Record<string, unknown>;
  readonly sensitive_values?: unknown;
}

export interface ConfigModule {
  readonly resources?: readonly { address: string; mode: string; type: string; name: string; expressions?: Record<string, unknown> }[];
  readonly outputs?: Record<string, { expression?: unknown; sensitive?: boolean }>;
  readonly module_calls?: Record<string, { module: ConfigModule }>;
}

export type ChangeAction = "no-op" | "create" | "read" | "update" | "delete";

export interface Change {
  readonly actions: readonly ChangeAction[];
  readonly before: unknown;
  readonly after: unknown;
  readonly after_unknown: unknown;
  readonly before_sensitive?: unknown;
  readonly after_sensitive?: unknown;
  /** Paths whose change forces the replacement (present on replace actions). */
  readonly replace_paths?: readonly (readonly (string | number)[])[];
}

export interface ResourceChange {
  readonly address: string;
  readonly module_address?: string;
  readonly mode: "managed" | "data";
  readonly type: string;
  readonly name: string;
  readonly index?: string | number;
  readonly provider_name: string;
  readonly change: Change;
  readonly action_reason?: string;
}

export interface StackPlan {
  /** The prepared copy the plan ran in. */
  readonly dir: string;
  /** The saved plan (`plan -out`). */
  readonly planFile: string;
  /** `terraform show -json` of it. */
  readonly json: PlanJson;
  /** Terraform's human-readable plan output (no colour). */
  readonly text: string;
}

export interface PrepareOptions {
  /** Folder name of the copy (made unique). @default the stack folder's name */
  readonly label?: string;
  /** A terraform.tfstate to put in the copy as its local state. */
  readonly state?: object;
}

export interface HarnessOptions {
  /** Each terraform command is stopped after this long. @default 300 s */
  readonly commandTimeoutMs?: number;
  /** The binary and its version, when the caller has found them already. @default findTerraform() */
  readonly terraform?: { readonly binary: string; readonly version: string };
}

export interface PlanOptions {
  /** @default true; day-2 tests against a synthetic state pass false. */
  readonly refresh?: boolean;
  /** Run `terraform validate` first. @default true */
  readonly validate?: boolean;
}

/**
 * One harness per test file (or per tool run): the found tools, a CLI config, the running stub and
 * a work folder. All methods are async: the stub answers from this process's event loop.
 */
export class TerraformHarness {
  private readonly inits = new Map<string, Promise<string>>();
  /** TF_DATA_DIR of each prepared copy. */
  private readonly dataDirs = new Map<string, string>();
  private schemaPromise?: Promise<ProviderSchemas>;
  private running = 0;
  private readonly queue: (() => void)[] = [];
  private readonly children = new Set<ChildProcess>();
  private copies = 0;

  private constructor(
    public readonly terraform: { binary: string; version: string },
    public readonly mirror: ProviderMirror | undefined,
    public readonly stub: AwsStub,
    public readonly workDir: string,
    private readonly cliConfigFile: string,
    private readonly pluginCacheDir: string,
    private readonly commandTimeoutMs: number,
  ) {}

  static async start(options: HarnessOptions = {}): Promise<TerraformHarness> {
    const terraform = options.terraform ?? findTerraform();
    const mirror = findProviderMirror();
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "terraform-"));
    const pluginCacheDir = path.join(workDir, "plugin-cache");
    fs.mkdirSync(pluginCacheDir);
    const cliConfigFile = path.join(workDir, "cli.tfrc");
    fs.writeFileSync(cliConfigFile, cliConfig(mirror, pluginCacheDir));
    const stub = await startAwsStub();
    return new TerraformHarness(terraform, mirror, stub, workDir, cliConfigFile, pluginCacheDir, options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS);
  }

  /** The provider version the copies use: the mirror's, or undefined (the stack's own pin). */
  get awsVersion(): string | undefined {
    return this.mirror?.awsVersion;
  }

  /**
   * Copies a synthesized stack folder (cdk.tf.json or cdk.tf) into the work folder, adds the override
   * file and, when given, a state; returns the copy's path, initialized and ready to plan.
   */
  async prepare(stackDir: string, options: PrepareOptions = {}): Promise<string> {
    const sources = fs.readdirSync(stackDir).filter((file) => /\.tf(\.json)?$/.test(file));
    if (sources.length === 0) throw new Error(`${stackDir}: no Terraform configuration (*.tf, *.tf.json) to plan`);
    const label = (options.label ?? path.basename(path.resolve(stackDir))).replace(/[^\w.-]/g, "_");
    const dir = path.join(this.workDir, "stacks", `${label}-${++this.copies}`);
    fs.mkdirSync(dir, { recursive: true });
    for (const file of sources) fs.copyFileSync(path.join(stackDir, file), path.join(dir, file));
    const providers = requiredProviders(dir, this.awsVersion);
    fs.writeFileSync(path.join(dir, PLAN_OVERRIDE_FILE), JSON.stringify(this.overrideFor(providers), null, 2));
    if (options.state) fs.writeFileSync(path.join(dir, "terraform.tfstate"), JSON.stringify(options.state, null, 2));
    const dataDir = await this.sharedInit(providers);
    fs.copyFileSync(path.join(dataDir, "..", ".terraform.lock.hcl"), path.join(dir, ".terraform.lock.hcl"));
    this.dataDirs.set(dir, dataDir);
    return dir;
  }

  /** `terraform validate`; throws TerraformError with the diagnostics. */
  async validate(dir: string): Promise<void> {
    await this.run(dir, ["validate", "-no-color"]);
  }

  /** Runs `steps` holding one of the MAX_PARALLEL slots, so a started pipeline finishes first. */
  private async limited<T>(steps: () => Promise<T>): Promise<T> {
    await this.slot();
    try {
      return await steps();
    } finally {
      this.release();
    }
  }

  /**
   * `terraform plan -out` (and `validate` first unless told otherwise) plus `show -json` in a
   * prepared copy. Throws TerraformError with Terraform's message on any error.
   */
  plan(dir: string, options: PlanOptions = {}): Promise<StackPlan> {
    return this.limited(async () => {
      const dataDir = this.dataDirs.get(dir);
      if (options.validate !== false) await this.exec(dir, ["validate", "-no-color"], dataDir);
      const planFile = path.join(dir, "plan.tfplan");
      const args = ["plan", "-input=false", "-lock=false", "-no-color", `-out=${planFile}`];
      if (options.refresh === false) args.push("-refresh=false");
      const text = await this.exec(dir, args, dataDir);
      const json = JSON.parse(await this.exec(dir, ["show", "-json", planFile], dataDir)) as PlanJson;
      return { dir, planFile, json, text };
    });
  }

  /** prepare + plan, for a synthesized stack folder. */
  async planStack(stackDir: string, options: PrepareOptions & PlanOptions = {}): Promise<StackPlan> {
    return this.plan(await this.prepare(stackDir, options), options);
  }

  /** `terraform providers schema -json` (once per harness: ~14 MB, several seconds). */
  providerSchemas(dir: string): Promise<ProviderSchemas> {
    this.schemaPromise ??= this.run(dir, ["providers", "schema", "-json"]).then((text) => JSON.parse(text) as ProviderSchemas);
    return this.schemaPromise;
  }

  /** Runs terraform in a prepared copy; resolves to stdout, throws TerraformError. */
  run(dir: string, args: readonly string[]): Promise<string> {
    return this.limited(() => this.exec(dir, args, this.dataDirs.get(dir)));
  }

  /** Stops every terraform still running, the stub, and removes the work folder. */
  async close(): Promise<void> {
    for (const child of this.children) child.kill("SIGKILL");
    await this.stub.close();
    if (process.env.KUBEADM_HA_KEEP_TF !== "1") fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  private overrideFor(providers: Record<string, ProviderRequirement>): object {
    const endpoints = Object.fromEntries(STUB_SERVICES.map((service) => [service, this.stub.url]));
    return {
      terraform: {
        backend: { local: { path: "terraform.tfstate" } },
        ...(this.awsVersion ? { required_providers: providers } : {}),
      },
      provider: {
        aws: {
          access_key: STUB_ACCESS_KEY,
          secret_key: STUB_SECRET_KEY,
          skip_credentials_validation: true,
          skip_requesting_account_id: true,
          skip_metadata_api_check: true,
          skip_region_validation: true,
          max_retries: 1,
          endpoints: [endpoints],
        },
      },
    };
  }

  /** One `terraform init` per provider set: returns its data folder (TF_DATA_DIR for the copies). */
  private sharedInit(providers: Record<string, ProviderRequirement>): Promise<string> {
    const key = createHash("sha256").update(JSON.stringify(providers)).digest("hex").slice(0, 12);
    let init = this.inits.get(key);
    if (!init) {
      init = (async () => {
        const dir = path.join(this.workDir, `init-${key}`);
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, "main.tf.json"), JSON.stringify({ terraform: { required_providers: providers } }));
        fs.writeFileSync(path.join(dir, PLAN_OVERRIDE_FILE), JSON.stringify(this.overrideFor(providers)));
        const dataDir = path.join(dir, ".terraform");
        await this.limited(() => this.exec(dir, ["init", "-input=false", "-no-color"], dataDir, { network: !this.mirror }));
        return dataDir;
      })();
      this.inits.set(key, init);
    }
    return init;
  }

  /** One terraform command (no slot: callers hold one). */
  private exec(cwd: string, args: readonly string[], dataDir: string | undefined, options: { network?: boolean } = {}): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TF_CLI_CONFIG_FILE: this.cliConfigFile,
        TF_PLUGIN_CACHE_DIR: this.pluginCacheDir,
        CHECKPOINT_DISABLE: "1",
        TF_IN_AUTOMATION: "1",
        TF_INPUT: "0",
        ...(dataDir ? { TF_DATA_DIR: dataDir } : {}),
      };
      for (const name of ["TF_LOG", "TF_WORKSPACE", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) delete env[name];
      if (!options.network) {
        // Nothing answers on port 9: any request that is not for the loopback stub fails at once.
        Object.assign(env, { HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9", NO_PROXY: "127.0.0.1,localhost" });
        for (const name of ["https_proxy", "http_proxy", "no_proxy", "ALL_PROXY", "all_proxy"]) delete env[name];
      }
      const child = spawn(this.terraform.binary, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
      this.children.add(child);
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      const timer = setTimeout(() => {
        stderr += `\n(stopped after ${this.commandTimeoutMs / 1000} s)`;
        // SIGTERM first: terraform then stops its provider process too.
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
      }, this.commandTimeoutMs);
      child.on("error", (error) => {
        clearTimeout(timer);
        this.children.delete(child);
        reject(new TerraformError(args.join(" "), cwd, null, error.message));
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        this.children.delete(child);
        if (code === 0) resolve(stdout);
        else reject(new TerraformError(args.join(" "), cwd, code, `${stderr}\n${stdout.length < 20_000 ? stdout : stdout.slice(-20_000)}`, stderr));
      });
    });
  }

  private slot(): Promise<void> {
    if (this.running < MAX_PARALLEL) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.running--;
  }
}

/** Starts a harness; close() it when done. */
export function startTerraform(options: HarnessOptions = {}): Promise<TerraformHarness> {
  return TerraformHarness.start(options);
}

interface ProviderRequirement {
  source: string;
  version?: string;
}

/**
 * The copy's required providers, with hashicorp/aws set to the mirror's version. Read from the
 * JSON configuration; an HCL stack (cdk.tf) is read with a small pattern, enough for what cdktf writes.
 */
function requiredProviders(dir: string, awsVersion: string | undefined): Record<string, ProviderRequirement> {
  const providers: Record<string, ProviderRequirement> = {};
  for (const file of fs.readdirSync(dir)) {
    if (file === PLAN_OVERRIDE_FILE) continue;
    const text = fs.readFileSync(path.join(dir, file), "utf8");
    if (file.endsWith(".tf.json")) {
      const required = (JSON.parse(text) as { terraform?: { required_providers?: Record<string, ProviderRequirement> } }).terraform?.required_providers;
      Object.assign(providers, required);
    } else if (file.endsWith(".tf")) {
      const block = bracedBlockAfter(text, /required_providers\s*\{/);
      for (const match of block.matchAll(/([\w-]+)\s*=\s*\{([^{}]*)\}/g)) {
        const source = /source\s*=\s*"([^"]+)"/.exec(match[2])?.[1];
        const version = /version\s*=\s*"([^"]+)"/.exec(match[2])?.[1];
        if (source) providers[match[1]] = { source, ...(version ? { version } : {}) };
      }
    }
  }
  for (const [name, requirement] of Object.entries(providers)) {
    const isAws = ["aws", "hashicorp/aws", AWS_PROVIDER].includes(requirement.source);
    if (isAws && awsVersion) providers[name] = { source: "hashicorp/aws", version: awsVersion };
  }
  return Object.fromEntries(Object.entries(providers).sort(([a], [b]) => a.localeCompare(b)));
}

/** The text inside the braces that `opening` (ending in "{") opens; "" when absent. */
function bracedBlockAfter(text: string, opening: RegExp): string {
  const match = opening.exec(text);
  if (!match) return "";
  const start = match.index + match[0].length;
  let depth = 1;
  for (let i = start; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return text.slice(start, i);
  }
  return "";
}

function cliConfig(mirror: ProviderMirror | undefined, pluginCacheDir: string): string {
  const lines = [`plugin_cache_dir = ${JSON.stringify(pluginCacheDir)}`];
  if (mirror) {
    lines.push(
      "provider_installation {",
      "  filesystem_mirror {",
      `    path    = ${JSON.stringify(mirror.dir)}`,
      `    include = [${JSON.stringify(AWS_PROVIDER)}]`,
      "  }",
      // Only what the mirror holds: any other provider fails to install instead of reaching out.
      "  direct {",
      `    exclude = [${JSON.stringify(AWS_PROVIDER)}]`,
      "  }",
      "}",
    );
  }
  return `${lines.join("\n")}\n`;
}

/** The part of `terraform providers schema -json` a synthetic state needs. */
export interface ProviderSchemas {
  readonly provider_schemas: Record<string, {
    readonly resource_schemas?: Record<string, { readonly version: number; readonly block: SchemaBlock }>;
    readonly data_source_schemas?: Record<string, { readonly version: number; readonly block: SchemaBlock }>;
  }>;
}

export interface SchemaBlock {
  readonly attributes?: Record<string, { readonly type?: unknown; readonly nested_type?: unknown; readonly computed?: boolean; readonly optional?: boolean; readonly sensitive?: boolean }>;
  readonly block_types?: Record<string, { readonly nesting_mode: "single" | "list" | "set" | "map" | "group"; readonly block: SchemaBlock; readonly max_items?: number }>;
}
