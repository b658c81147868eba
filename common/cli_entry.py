"""`python -m common.cli_entry` runs the `lianfu` command (used to start child processes)."""
from common.cli import main

if __name__ == "__main__":
    main()
