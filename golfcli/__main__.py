"""`python -m golfcli ...` (and `torchrun -m golfcli train ...`)."""

from golfcli.cli import main

if __name__ == "__main__":
    main()
