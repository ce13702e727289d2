"""How the `ragft` CLI reports errors: one `error:` line on stderr, or under `--json` one JSON object on stdout
(`{"error": {"type", "message", "hint"}}`), with the exit code of DESIGN.md (2 usage/config, 1 partial failure,
130 interrupted). Used by `ragft/cli.py` as its click group class; also the help-text shim for flags.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from typer.core import TyperGroup

from ragft.cli_views import emit_json
from ragft.errors import RagftError


class FastHelpGroup(TyperGroup):
    """A typer group whose own `--help` option defaults to False instead of None.

    Why: typer >= 0.29 coerces every parameter value that is not already a bool through a pydantic TypeAdapter,
    built on first use (`typer._adapters`, which imports pydantic: ~0.17 s idle). A group's `--help` that was not
    given arrives as None, so `ragft ask --help` built one adapter for the root group's unused `--help` and paid
    the pydantic import, which a help call needs nowhere else (the subcommand's own `--help` is True, a bool, and
    skipped). With a False default the value is a bool and no adapter is built. Behaviour is unchanged: the option
    is an eager flag whose callback only acts on a true value. Every group of the CLI uses this class (the root
    through ErrorHandlingGroup, the sub-apps directly).
    """

    def get_help_option(self, ctx):  # type: ignore[no-untyped-def]
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option


class ErrorHandlingGroup(FastHelpGroup):
    """Turns an error raised by any (sub)command into the user's format and its exit code.

    Text mode: one `error: ...` line on stderr. Under `--json` (anywhere on the command line): one JSON object on
    stdout, `{"error": {"type", "message", "hint"}}`, so a script reading stdout always gets JSON. Usage errors
    (unknown option, missing argument, bad value) exit 2 in both modes, as click does. Done in the click group
    (not in `main`) so that `CliRunner` tests see the same behaviour as users.
    """

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        ctx.meta["ragft_json"] = "--json" in args
        ctx.meta["ragft_argv"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        click = _click_exceptions()
        json_mode = bool(ctx.meta.get("ragft_json"))
        try:
            return super().invoke(ctx)
        except RagftError as exc:
            _report_error(json_mode, type(exc).__name__, str(exc), _hint_for(exc, ctx), exc.exit_code)
            ctx.exit(exc.exit_code)
        except click.ClickException as exc:
            if not json_mode or isinstance(exc, getattr(click, "NoArgsIsHelpError", ())):
                raise  # click prints usage + the error and exits 2 (or the help, for a bare command group)
            _report_error(True, type(exc).__name__, exc.format_message(), _usage_hint(ctx, exc), exc.exit_code)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            _report_error(json_mode, "Interrupted", "interrupted (Ctrl-C)", "nothing after the last completed step "
                          "was saved; run the command again", 130)
            ctx.exit(130)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug or an environment problem (disk full, permissions)
            if not json_mode:
                raise  # the traceback is what a bug report needs
            import traceback

            traceback.print_exc(file=sys.stderr)
            _report_error(True, type(exc).__name__, str(exc) or type(exc).__name__,
                          "unexpected error (traceback on stderr); please report it if the cause is not clear", 1)
            ctx.exit(1)


def _click_exceptions():  # type: ignore[no-untyped-def]
    """The exception classes typer raises: typer >= 0.20 carries its own copy of click (`typer._click`)."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer: plain click
        from click import exceptions
    return exceptions


def _report_error(json_mode: bool, kind: str, message: str, hint: str, code: int) -> None:
    """One error in the user's format: a JSON object on stdout under --json, else one line on stderr."""
    if json_mode:
        emit_json({"error": {"type": kind, "message": message, "hint": hint, "exit_code": code}})
    else:
        Console(stderr=True).print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)


def _command_path(ctx) -> str:  # type: ignore[no-untyped-def]
    """`ragft sources add-sql` for the arguments given (best effort, for hints)."""
    words, group = ["ragft"], ctx.command
    for arg in ctx.meta.get("ragft_argv", []):
        sub = getattr(group, "commands", {}).get(arg)
        if sub is None:
            break
        words.append(arg)
        group = sub
    return " ".join(words)


def _usage_hint(ctx, exc) -> str:  # type: ignore[no-untyped-def]
    path = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else _command_path(ctx)
    return f"`{path} --help` shows the options and arguments"


def _hint_for(exc: RagftError, ctx) -> str:  # type: ignore[no-untyped-def]
    """What to do next: the error's own `hint` when it has one, else one line by kind (the message itself
    already says what was given and what is allowed, errors.py)."""
    own = getattr(exc, "hint", None)
    if own:
        return str(own)
    from ragft import errors

    path = _command_path(ctx)
    if isinstance(exc, errors.NotFoundError):
        return "check the name; the `list` commands (`ragft documents`, `ragft adapters list`, `ragft sources list`, `ragft users list`) show what exists"
    if isinstance(exc, errors.ModelError):
        return "`ragft models list` shows the configured and installed models"
    if isinstance(exc, errors.DataError):
        return "fix the listed lines of the data file and run the command again"
    if isinstance(exc, errors.AccessDenied):
        return "check the user name and its groups (`ragft users list`)"
    return f"`{path} --help` shows the options; the message above says what to change"


def flags_without_type_label() -> None:
    """typer's help prints a type label for every option, `<bool>` included, even for an on/off flag such as
    `--json` or `--help`, which takes no value: show none for flags (what click itself does). A small shim over
    `typer.core.TyperOption.display_type_rich` (typer >= 0.20); other typer versions are left as they are."""
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_ragft_shim", False):
        return

    def display_type_rich(self, ctx):  # type: ignore[no-untyped-def]
        return None if getattr(self, "is_flag", False) and self.metavar is None else original(self, ctx)

    display_type_rich._ragft_shim = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def arguments_in_capitals() -> None:
    """typer 0.29 names a positional argument in lower case, in braces when required: `ragft search [OPTIONS]
    {query}`. Show click's (and docs/cli.md's, and every man page's) form instead: `QUERY`, `[QUESTION]`,
    `PATHS...`, in the usage line and the Arguments list. A shim over `typer.core.TyperArgument`'s two display
    methods; other typer versions are left as they are."""
    from typer.core import TyperArgument

    usage = getattr(TyperArgument, "_usage_display_name", None)
    listed = getattr(TyperArgument, "_rich_display_name", None)
    if usage is None or listed is None or getattr(usage, "_ragft_shim", False):
        return

    def _name(self) -> str:  # type: ignore[no-untyped-def]
        return self.metavar if self.metavar is not None else self.name.upper()

    def _usage_display_name(self) -> str:  # type: ignore[no-untyped-def]
        if self.metavar is not None:  # as written (click does the same): "[NAME]... DIR"
            return self.metavar
        name = _name(self) + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"

    def _rich_display_name(self) -> str:  # type: ignore[no-untyped-def]
        return _name(self) + ("..." if self.metavar is None and self.nargs != 1 else "")

    _usage_display_name._ragft_shim = True  # type: ignore[attr-defined]
    TyperArgument._usage_display_name = _usage_display_name  # type: ignore[method-assign]
    TyperArgument._rich_display_name = _rich_display_name  # type: ignore[method-assign]



class Interrupted(RagftError):
    """Ctrl-C during a long command: exit 130 (128 + SIGINT, the shell convention) with what to run next."""

    exit_code = 130
    hint = "the message names the command that continues the work"


def notices_to_stderr() -> None:
    """Say on stderr, TTY or not, what the library logs at INFO: the one-time work of a first start (the
    GGUF conversion of the bundled generator, ~30 s; the embedder's ONNX export) and the server's "models ready".
    Why: Python's default shows only warnings, so a first `ragft ask` in a script or CI sat silent for half a
    minute. Library callers keep their own logging setup: this runs for the console script only."""
    import logging

    logger = logging.getLogger("ragft")
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("ragft: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
