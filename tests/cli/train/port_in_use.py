"""Rank 0 of `autosp train` whose rendezvous port is taken: one clear line, exit 3.

    port_in_use.py AUTOSP_BIN CONFIG
"""
import socket
import subprocess
import sys

autosp, config = sys.argv[1], sys.argv[2]
holder = socket.socket()
holder.bind(("127.0.0.1", 0))
holder.listen()
port = holder.getsockname()[1]
env = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
       "MASTER_PORT": str(port), "PATH": "/usr/bin:/bin"}
run = subprocess.run([autosp, "train", "--config", config, "--steps", "1", "--timeout", "5"],
                     env=env, capture_output=True, text=True, timeout=120)
print(run.stderr, end="")
print(f"exit={run.returncode} stderr_lines={len(run.stderr.splitlines())}")
