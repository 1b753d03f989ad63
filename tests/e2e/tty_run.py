#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal, as a person at a terminal would, typing ANSWER at each
password prompt ("Password for ...:" and "Again, to confirm:"). Prints everything the terminal
showed (so a test can check the password was not echoed) and exits with the command's status.
usage: tty_run.py ANSWER -- CMD ARGS..."""
import os
import pty
import re
import sys
import time

answer = sys.argv[1]
cmd = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
seen = b""
answered = 0
deadline = time.time() + 30
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:  # the child closed the terminal
        break
    if not chunk:
        break
    seen += chunk
    prompts = len(re.findall(rb"Password for [^\n]*: |Again, to confirm: ", seen))
    while answered < prompts:
        time.sleep(0.05)  # the program has switched echo off before it printed the prompt
        os.write(fd, answer.encode() + b"\n")
        answered += 1
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
