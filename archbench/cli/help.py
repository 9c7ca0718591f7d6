"""Readable ``--help``: metavars people read instead of Typer's type placeholders.

Typer renders every option's Python type (``--aux <bool>``, ``--input <str>``) and a required
argument as ``{target}``. Help reads better as ``--input INPUT``, a flag with nothing after it,
and ``TARGET``. Applied once to the click command the entry point runs (``archbench.cli.app.main``).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption


def readable(command: Any) -> Any:
    """Set plain metavars on every parameter of ``command`` and of its subcommands; returns it."""
    for sub in getattr(command, "commands", {}).values():
        readable(sub)
    help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:  # made per context, so set its metavar as it is made
        option = help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for param in command.params:
        if isinstance(param, TyperArgument):
            name = (param.metavar or param.name or "arg").upper()
            more = "..." if param.nargs != 1 else ""
            param.metavar = name
            # Typer's usage line writes a required argument as {name}; the name alone is the convention.
            param._usage_display_name = lambda n=name + more: n  # type: ignore[attr-defined]
            param.display_type_rich = _no_type  # type: ignore[attr-defined]
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag or param.count else (param.name or "value").upper()
    return command


def _no_type(ctx: Any = None) -> None:
    return None
