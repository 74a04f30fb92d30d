#!/usr/bin/env python3
"""A stand-in for systemd's file descriptor store, for namespace test 45.

Runs mgmd as a notify service would be run (NOTIFY_SOCKET, INVOCATION_ID),
keeps the descriptors mgmd hands over with FDSTORE=1, and on SIGUSR1
"restarts the unit": SIGTERM to mgmd, wait for it, start it again with the
stored descriptors passed as LISTEN_FDS (from fd 3) and LISTEN_FDNAMES,
LISTEN_PID naming the new process. SIGUSR2 is a crash and
Restart=on-failure: SIGKILL, then the same start. Every notification received is
appended to --log as one line; after each READY=1 the file --ready-N
(N = start count) is created. SIGTERM stops mgmd and closes the store.

  fdstore.py --log FILE --ready PREFIX -- MGMD ARGS...
"""
import argparse
import array
import os
import signal
import socket
import subprocess
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    name = "mgmd-fdstore-%d" % os.getpid()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(0.1)
    store = {}  # name -> fd
    state = {"restart": False, "crash": False, "stop": False}
    signal.signal(signal.SIGUSR1, lambda *_: state.update(restart=True))
    signal.signal(signal.SIGUSR2, lambda *_: state.update(crash=True))
    signal.signal(signal.SIGTERM, lambda *_: state.update(stop=True))
    log = open(a.log, "a", buffering=1)
    starts = 0

    def start():
        nonlocal starts
        starts += 1
        env = dict(os.environ, NOTIFY_SOCKET="@" + name, INVOCATION_ID="fdstore%d" % starts)
        names = list(store)
        fds = [store[n] for n in names]

        def child():
            # The stored descriptors at 3, 4, ... as the manager passes them.
            for i, fd in enumerate(fds):
                os.dup2(fd, 3 + i)
                os.set_inheritable(3 + i, True)

        if fds:
            env.update(LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=":".join(names))
            argv = ["sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"'] + cmd
        else:
            argv = cmd
        proc = subprocess.Popen(argv, env=env, preexec_fn=child, pass_fds=list(range(3, 3 + len(fds))))
        log.write("started %d pid %d with %s\n" % (starts, proc.pid, names))
        return proc

    proc = start()
    while True:
        try:
            msg, anc, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
            fds = []
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    arr = array.array("i")
                    arr.frombytes(data[: len(data) - len(data) % arr.itemsize])
                    fds.extend(arr)
            text = msg.decode(errors="replace")
            fields = dict(l.split("=", 1) for l in text.splitlines() if "=" in l)
            log.write(text.replace("\n", " ") + (" fds=%d" % len(fds) if fds else "") + "\n")
            if fields.get("FDSTORE") == "1" and fds:
                n = fields.get("FDNAME", "stored")
                old = store.get(n)
                if old is not None and os.path.sameopenfile(old, fds[0]):
                    os.close(fds[0])  # the same socket again: kept once
                else:
                    if old is not None:
                        os.close(old)
                    store[n] = fds[0]
                for fd in fds[1:]:
                    os.close(fd)
            elif fds:
                for fd in fds:
                    os.close(fd)
            if fields.get("READY") == "1":
                open("%s-%d" % (a.ready, starts), "w").write("ready\n")
        except socket.timeout:
            pass
        if state["restart"] or state["crash"]:
            if state["crash"]:
                proc.kill()
            else:
                proc.terminate()
            state.update(restart=False, crash=False)
            proc.wait()
            log.write("stopped with %d; restarting\n" % proc.returncode)
            proc = start()
        if state["stop"]:
            proc.terminate()
            proc.wait()
            log.write("stopped with %d\n" % proc.returncode)
            for fd in store.values():
                os.close(fd)
            return 0


if __name__ == "__main__":
    sys.exit(main())
