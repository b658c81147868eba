"""Run a command confined as the units confine it, for the tests: `python hardened_exec.py [--mdwe] [--syscalls FILE]
COMMAND...`.

--mdwe: the kernel's memory-deny-write-execute (PR_SET_MDWE, Linux 6.3+), the check MemoryDenyWriteExecute= makes.
--syscalls FILE: a seccomp filter allowing only the system calls named in FILE (one a line) and refusing every
other with EPERM, as SystemCallFilter= with SystemCallErrorNumber=EPERM does. Both are inherited by every process
the command starts (uvicorn's workers included) and cannot be undone by it.
"""
from __future__ import annotations

import ctypes
import errno
import os
import sys

PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


def main(argv: list[str]) -> None:
    mdwe, syscalls = False, None
    while argv and argv[0].startswith("--"):
        flag = argv.pop(0)
        if flag == "--mdwe":
            mdwe = True
        elif flag == "--syscalls":
            syscalls = argv.pop(0)
        else:
            sys.exit(f"hardened_exec: unknown flag {flag}")
    if not argv:
        sys.exit("hardened_exec: no command")
    if mdwe:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
            sys.exit(f"hardened_exec: PR_SET_MDWE: errno {ctypes.get_errno()}")
    if syscalls:
        import pyseccomp

        names = [line.strip() for line in open(syscalls, encoding="utf-8") if line.strip()]
        confinement = pyseccomp.SyscallFilter(defaction=pyseccomp.ERRNO(errno.EPERM))
        for name in names:
            try:
                confinement.add_rule(pyseccomp.ALLOW, name)
            except (RuntimeError, ValueError, OSError):
                pass  # a call this architecture does not have (systemd's lists span them all)
        confinement.load()
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
