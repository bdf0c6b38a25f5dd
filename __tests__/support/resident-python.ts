/**
 * A python fake run by one resident interpreter instead of a new one per call. A simulated
 * cluster boot calls its fake `aws` about 1,300 times; python's start-up (some 25 ms of CPU each)
 * was half of the bootstrap simulation's CPU time. The fake on PATH is a small bash client that
 * hands its working directory, environment and arguments to the resident python over loopback
 * TCP (bash's /dev/tcp); the python runs the unchanged script with them (sys.exit and all) and
 * answers with the exit status, stderr and stdout. Calls are served one at a time, so each call
 * is atomic, as the parameter store's operations are. Without FAKE_RESIDENT_PORT in its
 * environment the client runs the script itself (one python per call, as before).
 */
import { spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";

const SERVER = `
import io, os, socket, sys, threading, traceback
script = sys.argv[1]
code = compile(open(script).read(), script, "exec")
# Ends with the test run: the test process holds this interpreter's stdin.
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(128)
sys.stdout.write("%d\\n" % server.getsockname()[1]); sys.stdout.flush()
def request(conn):
    data = b""
    while True:
        fields = data.split(b"\\0")[:-1]
        if len(fields) >= 2:
            envs = int(fields[1])
            if len(fields) >= 3 + envs:
                args = int(fields[2 + envs])
                if len(fields) >= 3 + envs + args: break
        chunk = conn.recv(65536)
        if not chunk: raise EOFError("short request")
        data += chunk
    text = [field.decode() for field in fields]
    return text[0], dict(entry.split("=", 1) for entry in text[2:2 + envs]), text[3 + envs:3 + envs + args]
while True:
    conn, _ = server.accept()
    with conn:
        try:
            cwd, env, args = request(conn)
        except Exception:
            continue
        out, err = io.StringIO(), io.StringIO()
        os.chdir(cwd); os.environ.clear(); os.environ.update(env); sys.argv = [script] + args
        sys.stdout, sys.stderr = out, err
        status = 0
        try:
            exec(code, {"__name__": "__main__", "__file__": script})
        except SystemExit as exit:
            if exit.code is None: status = 0
            elif isinstance(exit.code, int): status = exit.code
            else: err.write("%s\\n" % exit.code); status = 1
        except BaseException:
            traceback.print_exc(); status = 1
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        o, e = out.getvalue().encode(), err.getvalue().encode()
        conn.sendall(b"%d\\n%d\\n%d\\n" % (status, len(e), len(o)) + e + o)
`;

/** The bash client installed as the fake (its script beside it, as <name>.py). */
function client(): string {
  return `#!/bin/bash
# A fake served by a resident python (__tests__/support/resident-python.ts); without one, runs it directly.
[[ -n \${FAKE_RESIDENT_PORT:-} ]] || exec python3 "$0.py" "$@"
exec 3<>"/dev/tcp/127.0.0.1/$FAKE_RESIDENT_PORT"
mapfile -t names < <(compgen -e)
{
  printf '%s\\0' "$PWD" "\${#names[@]}"
  for name in "\${names[@]}"; do printf '%s=%s\\0' "$name" "\${!name}"; done
  printf '%s\\0' "$#" "$@"
} >&3
read -r status <&3 && read -r errors <&3 && read -r output <&3 || { echo "fake: no answer from the resident python" >&2; exit 255; }
if ((errors)); then IFS= read -r -N "$errors" text <&3; printf '%s' "$text" >&2; fi
if ((output)); then IFS= read -r -N "$output" text <&3; printf '%s' "$text"; fi
exit "$status"
`;
}

export interface ResidentPython {
  /** For the fakes' environment: FAKE_RESIDENT_PORT. */
  readonly env: { readonly FAKE_RESIDENT_PORT: string };
  /** Stops the interpreter (by its PID). */
  stop(): void;
}

/** Installs `file` as a fake served by a resident python running `script`, and starts it. */
export async function installResidentPython(file: string, script: string): Promise<ResidentPython> {
  fs.writeFileSync(`${file}.py`, script, { mode: 0o755 });
  fs.writeFileSync(file, client(), { mode: 0o755 });
  const serverFile = path.join(path.dirname(file), `.${path.basename(file)}-server.py`);
  fs.writeFileSync(serverFile, SERVER);
  // The interpreter the fakes find on their PATH.
  const child: ChildProcess = spawn("python3", [serverFile, `${file}.py`], { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, PATH: "/usr/bin:/bin" } });
  const port = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`resident python for ${file} exited ${code}`)));
    child.stdout!.on("data", (chunk) => {
      text += chunk;
      if (text.includes("\n")) resolve(text.trim());
    });
  });
  return {
    env: { FAKE_RESIDENT_PORT: port },
    stop: () => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    },
  };
}
