/**
 * Runs a day-2 procedure: steps of actions, one at a time, with progress lines and a state file
 * so an interrupted run resumes where it stopped. The state file holds the plan as it was made
 * (not re-planned on resume: a half-rotated cluster would plan differently) and the actions done.
 * Each action is safe to run again (it checks before it acts), so the interrupted action simply
 * runs again.
 */
import * as fs from "fs";
import * as path from "path";
import { Day2Error } from "./cluster-ops";

export interface Action {
  readonly title: string;
  readonly run: () => Promise<void>;
}

export interface Step<Descriptor> {
  readonly descriptor: Descriptor;
  readonly title: string;
}

export interface ProcedureState<Descriptor> {
  readonly command: string;
  /** The arguments the procedure was planned with; a resume must give the same. */
  readonly args: string;
  readonly steps: readonly Descriptor[];
  /** "step.action" of every finished action. */
  readonly done: string[];
}

export interface ProcedureOptions<Descriptor> {
  readonly command: string;
  readonly args: string;
  readonly stateFile: string;
  /** Makes the plan (only when no state file exists). */
  readonly plan: () => Promise<Descriptor[]>;
  readonly title: (descriptor: Descriptor) => string;
  /** The actions of a step, built when the step runs (or for --dry-run). */
  readonly actions: (descriptor: Descriptor) => Action[];
  readonly dryRun?: boolean;
  readonly log: (line: string) => void;
}

export async function runProcedure<Descriptor>(options: ProcedureOptions<Descriptor>): Promise<ProcedureState<Descriptor>> {
  const { log } = options;
  let state = readState<Descriptor>(options.stateFile);
  if (state && (state.command !== options.command || state.args !== options.args)) {
    throw new Day2Error(
      `${options.stateFile}: an interrupted \`${state.command} ${state.args}\` is recorded here; run it again with the same arguments to finish it, ` +
        `or, once you have checked the cluster, delete the file`,
    );
  }
  if (state) {
    log(`resuming ${options.command} ${options.args}: ${state.done.length} action(s) already done`);
  } else {
    state = { command: options.command, args: options.args, steps: await options.plan(), done: [] };
  }
  if (state.steps.length === 0) {
    log("nothing to do");
    return state;
  }
  if (options.dryRun) {
    log(`dry run: ${state.steps.length} step(s); nothing is changed`);
    state.steps.forEach((descriptor, index) => {
      log(`step ${index + 1}/${state!.steps.length}: ${options.title(descriptor)}`);
      for (const action of options.actions(descriptor)) log(`  - ${action.title}`);
    });
    return state;
  }
  writeState(options.stateFile, state);
  for (const [index, descriptor] of state.steps.entries()) {
    const actions = options.actions(descriptor);
    if (actions.every((_, a) => state!.done.includes(`${index}.${a}`))) continue;
    log(`step ${index + 1}/${state.steps.length}: ${options.title(descriptor)}`);
    for (const [a, action] of actions.entries()) {
      const key = `${index}.${a}`;
      if (state.done.includes(key)) continue;
      log(`  - ${action.title}`);
      await action.run();
      state.done.push(key);
      writeState(options.stateFile, state);
    }
  }
  fs.rmSync(options.stateFile, { force: true });
  log(`${options.command} finished: ${state.steps.length} step(s)`);
  return state;
}

function readState<Descriptor>(file: string): ProcedureState<Descriptor> | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as ProcedureState<Descriptor>;
  } catch (error) {
    throw new Day2Error(`${file}: unreadable progress file (${(error as Error).message}); check the cluster, then delete it`);
  }
}

function writeState(file: string, state: ProcedureState<unknown>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.part`, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(`${file}.part`, file);
}
