"""A plugin whose CLI commands break the parser: one reuses a core command name, then it raises."""

from gencomp import hookimpl


@hookimpl
def gencomp_register_commands(subparsers):
    subparsers.add_parser("plugins", help="a second 'plugins' command")  # argparse refuses a reused name
    raise AssertionError("never reached")
