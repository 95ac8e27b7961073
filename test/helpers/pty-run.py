# Runs a command under a real pseudo-terminal, answers the first prompt, prints what the
# terminal showed, and exits with the command's exit code.
#   python3 pty-run.py ANSWER CMD [ARGS...]
import os, pty, select, sys, time

answer, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)

out = b""
answered = False
deadline = time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if fd in r:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    if not answered and b"?" in out and (b"(y/N)" in out or b"(Y/n)" in out):
        time.sleep(0.2)
        os.write(fd, answer.encode() + b"\r")
        answered = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
