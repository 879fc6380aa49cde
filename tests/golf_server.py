"""A warm `golf` for tests that run many golf commands through a shell (the examples/ scripts).

`python golf_server.py SOCKET` imports torch once, then for each client forks a child that runs
`golf ARGV` with the client's working directory, environment and stdin/stdout/stderr, the way
`golf run` starts its stages (golfcli/stage_process.py; tests/test_stage_process.py checks that a
forked golf prints and exits as `python -m golfcli` does). `python golf_server.py --client
SOCKET ARGV...` is the command a script runs as `$GOLF`: it hands its three descriptors to the
server and exits with the command's exit code. It skips the ~2 s torch import each command.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys


def serve(path: str) -> None:
    """Accept clients one at a time; run each one's command in a forked child."""
    from golfcli import stage_process

    stage_process.warm_up()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(8)
        print("ready", flush=True)
        while True:
            conn, _ = server.accept()
            with conn:
                request, fds = _receive(conn)
                pid = os.fork()
                if pid == 0:
                    server.close()
                    os.chdir(request["cwd"])
                    os.dup2(fds[0], 0)
                    stage_process._run_child(request["argv"], request["env"], fds[1], fds[2])
                for fd in fds:
                    os.close(fd)
                _, status = os.waitpid(pid, 0)
                conn.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """A client's request (length-prefixed JSON, which a stream socket may deliver in pieces) and fds."""
    message, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    size = struct.unpack("!I", message[:4])[0]
    while len(message) < 4 + size:
        chunk = conn.recv(4 + size - len(message))
        if not chunk:
            raise ConnectionError("the client went away mid-request")
        message += chunk
    return json.loads(message[4:]), fds


def client(path: str, argv: list[str]) -> int:
    """Run `golf ARGV` in the server with this process's cwd, environment and descriptors."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
        socket.send_fds(conn, [struct.pack("!I", len(request)) + request], [0, 1, 2])
        reply = b""
        while len(reply) < 4:
            chunk = conn.recv(4 - len(reply))
            if not chunk:
                print("golf_server: the server went away", file=sys.stderr)
                return 1
            reply += chunk
    code = struct.unpack("!i", reply)[0]
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    if sys.argv[1] == "--client":
        sys.exit(client(sys.argv[2], sys.argv[3:]))
    serve(sys.argv[1])
