/**
 * The one place the day-2 commands start programs (terraform, aws, node for synth). Tests inject
 * a fake to see every command line without running anything.
 */
import { spawn } from "child_process";

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Stream output to the terminal as well (terraform apply). */
  readonly echo?: boolean;
}

export interface Runner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** argv only, never a shell: no value is ever re-parsed. */
export const processRunner: Runner = {
  run(command, args, options = {}) {
    return new Promise((resolve, reject) => {
      const child = spawn(command, [...args], {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk;
        if (options.echo) process.stdout.write(chunk);
      });
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk;
        if (options.echo) process.stderr.write(chunk);
      });
      child.on("error", (error) => reject(new Error(`${command}: ${error.message}`)));
      child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
  },
};

export async function mustRun(runner: Runner, command: string, args: readonly string[], options?: RunOptions): Promise<string> {
  const result = await runner.run(command, args, options);
  if (result.code !== 0) {
    const detail = (result.stderr || result.stdout).trim().split("\n").slice(-5).join("\n  ");
    throw new Error(`${command} ${args.slice(0, 3).join(" ")} ... exited ${result.code}:\n  ${detail}`);
  }
  return result.stdout;
}
