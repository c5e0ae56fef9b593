"""What a subcommand is to ``agentcomm``: a name, its help, its arguments and what it runs.

Each module of ``agentcomm.cli`` lists its commands in ``COMMANDS``; other packages name
theirs in the entry-point group ``agentcomm.commands``.  ``agentcomm`` builds the argparse
parser of the one command that runs, so the others cost nothing at start-up.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import NoReturn, TypedDict

    from agentcomm.cli.common import Session

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[["Session", argparse.Namespace], "int | None"]

MAX_WIDTH = 100
"""Help is wrapped at the terminal's width, but no wider than this."""
_LEAF = "_command_and_parser"
"""The Namespace attribute a group's subcommand parser sets: what to run, and its parser."""


class UsageError(Exception):
    """A command was called wrongly (exit 2): reported as argparse reports its own, after
    the command's usage line, so the message names the argument or option at fault."""


class Command:
    """One subcommand: ``agentcomm NAME [ARGS]``.

    ``help`` is shown by ``agentcomm NAME --help``, its first line by ``agentcomm --help``;
    ``configure`` adds the arguments to the parser; ``run`` does the work and returns the
    exit code (None: 0).  With ``passes_on``, options the parser does not know and
    everything after ``--`` are left, as a tuple, in that attribute of the arguments.
    """

    # A plain class, as Session and values.Number: defining a dataclass runs exec, some
    # 3-5M instructions each, 1-2% of a whole ``agentcomm send``.
    __slots__ = ("configure", "help", "name", "passes_on", "run", "subcommands")

    def __init__(
        self,
        name: str,
        help: str,
        configure: Configure,
        run: Run,
        passes_on: str | None = None,
        subcommands: tuple[Command, ...] = (),
    ) -> None:
        self.name, self.help, self.configure, self.run = name, help, configure, run
        self.passes_on, self.subcommands = passes_on, subcommands

    def __repr__(self) -> str:
        return f"<Command {self.name!r}>"

    @property
    def summary(self) -> str:
        return self.help.partition("\n")[0]


def command(
    configure: Configure | None = None, *, name: str | None = None, passes_on: str | None = None
) -> Callable[[Run], Command]:
    """Make ``run(session, args)`` a Command: its docstring is the help, and its name (with
    ``-`` for ``_``) the command's, unless ``name`` says otherwise."""

    def make(run: Run) -> Command:
        return Command(
            name or run.__name__.replace("_", "-"),
            cleandoc(run.__doc__ or ""),
            configure or _no_arguments,
            run,
            passes_on,
        )

    return make


def group(name: str, help: str, *subcommands: Command) -> Command:
    """A command of subcommands, e.g. ``agentcomm dead-letters list``."""

    def configure(parser: argparse.ArgumentParser) -> None:
        chooser = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
        for sub in subcommands:
            subparser = chooser.add_parser(sub.name, help=sub.summary, **_parser_options(sub))
            sub.configure(subparser)
            subparser.set_defaults(**{_LEAF: (sub, subparser)})

    return Command(name, help, configure, _unreachable, subcommands=subcommands)


def invoke(command: Command, session: Session, argv: list[str], prog: str) -> int:
    """Parse ``argv`` for ``command`` and run it; its exit code.  A usage error (from the
    parser, or a UsageError the command raises) exits 2 through SystemExit, as argparse's."""
    parser = parser_for(command, prog)
    args = _parse(command, parser, argv)
    leaf: Command
    leaf_parser: argparse.ArgumentParser
    leaf, leaf_parser = getattr(args, _LEAF, (command, parser))
    try:
        code = leaf.run(session, args)
    except UsageError as exc:
        leaf_parser.error(str(exc))
    return code or 0


@functools.cache  # a shell session runs thousands of calls in one process: build each once
def parser_for(command: Command, prog: str) -> argparse.ArgumentParser:
    """The parser of ``command``, named ``prog`` in its messages."""
    parser = argparse.ArgumentParser(prog=prog, **_parser_options(command))
    command.configure(parser)
    usage = parser.format_usage().removeprefix("usage: ").rstrip().replace("%", "%%")
    if command.passes_on:  # not an argument of the parser: see _parse
        usage = f"{usage} [-- {command.passes_on.upper()} ...]"
    # Set once: parse_intermixed_args formats the usage on every call otherwise, which
    # was a third of a shell session's call (with gettext's file lookups for "usage: ").
    parser.usage = usage
    return parser


def _parse(
    command: Command, parser: argparse.ArgumentParser, argv: list[str]
) -> argparse.Namespace:
    if command.passes_on:
        # split here: argparse would take what follows `--` as the command's own arguments
        cut = argv.index("--") if "--" in argv else len(argv)
        args, unknown = parser.parse_known_args(argv[:cut])
        setattr(args, command.passes_on, (*unknown, *argv[cut + 1 :]))
        return args
    if command.subcommands:
        return parser.parse_args(argv)
    # Intermixed: `send @b --priority high t -` fills every positional, options between.
    return parser.parse_intermixed_args(argv)


if TYPE_CHECKING:

    class _ParserOptions(TypedDict):
        description: str
        formatter_class: type[HelpFormatter]
        allow_abbrev: bool


def _parser_options(command: Command) -> _ParserOptions:
    return {
        "description": command.help,
        "formatter_class": HelpFormatter,
        "allow_abbrev": False,  # `--prio` is not --priority: names stay exact
    }


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help as written (paragraphs and examples keep their lines), metavars by type."""

    def __init__(self, prog: str) -> None:
        width = min(_columns(), MAX_WIDTH) - 2
        super().__init__(prog, width=width, max_help_position=30)

    def _get_default_metavar_for_optional(self, action: argparse.Action) -> str:
        named: str | None = getattr(action.type, "metavar", None)  # values.Number's
        if named:
            return named
        return "INTEGER" if action.type is int else "FLOAT" if action.type is float else "TEXT"

    def _get_default_metavar_for_positional(self, action: argparse.Action) -> str:
        return action.dest.upper()


_COLUMNS: list[int] = []


def _columns() -> int:
    """The terminal's width, as shutil.get_terminal_size() says it, looked up once.
    argparse makes a formatter for every argument added: importing shutil for it (with
    bz2 and lzma) cost a ``send`` 2% of its instructions."""
    if not _COLUMNS:
        _COLUMNS.append(_terminal_columns())
    return _COLUMNS[0]


def _terminal_columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def cleandoc(doc: str) -> str:
    """A docstring without its indentation (as inspect.cleandoc; inspect is slow to import)."""
    first, *rest = doc.strip().splitlines() or [""]
    indent = min((len(line) - len(line.lstrip()) for line in rest if line.strip()), default=0)
    return "\n".join([first.strip(), *(line[indent:].rstrip() for line in rest)])


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command that takes none (but --help)."""


def _unreachable(session: Session, args: argparse.Namespace) -> NoReturn:
    raise AssertionError("a group runs its subcommand")  # the parser requires one
