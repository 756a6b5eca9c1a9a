"""Entry point: builds settings and logging once, then dispatches to a subcommand.

Exit codes scripts can trust (``ExitCode``): 0 succeeded (or running), 1 failed or
cancelled, 2 usage or configuration (a bad variable, credentials the store refused, a
Temporal namespace or bucket that does not exist), 3 not found, 4 the stack or store is
unreachable or failing. Errors are one line
on stderr saying what is wrong and what to run; never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import click
from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError
from temporalio.service import RPCError, RPCStatusCode

from pipeline.cli import (
    comfyui,
    cost,
    doctor,
    drop,
    gc,
    models,
    reprocess,
    rerender,
    schedule,
    services,
    sessions,
    setup,
    stack,
    status,
    verify,
    workers,
)
from pipeline.cli.context import App, ExitCode
from pipeline.cli.terminal import Terminal, guard_streams
from pipeline.config import Settings, load_settings
from pipeline.domain.controls import printable
from pipeline.domain.errors import ConfigError, PipelineError, StorageError
from pipeline.logging import configure_logging
from pipeline.storage import NO_BUCKET_CODES, REFUSED_CODES, failure_code
from workflows_comfy.preset_file import install_presets_file


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Bucket drops in, Wan videos out: a Temporal pipeline around ComfyUI."""
    # A ConfigError goes up to ``_run``: one "error:" line, exit code 2 (usage).
    settings = load_settings()
    if settings.presets_file is not None:
        install_presets_file(settings.presets_file)
    configure_logging(settings.log_format, settings.log_level)
    guard_streams()  # from here every write to stdout/stderr shows control sequences as text
    ctx.obj = App(settings, Terminal(sys.stderr))


COMMAND_MODULES = (
    comfyui,
    cost,
    doctor,
    drop,
    gc,
    models,
    reprocess,
    rerender,
    schedule,
    services,
    sessions,
    setup,
    stack,
    status,
    verify,
    workers,
)
"""The modules of ``pipeline.cli`` whose ``COMMANDS`` the ``pipeline`` group runs."""
for _module in COMMAND_MODULES:
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    code = _run()
    # temporalio/sdk-python#300: the Temporal client's Rust threads can abort interpreter
    # teardown ("PyGILState_Release", exit 134) after the command is done. Every command
    # has closed what it opened by now, so flush and skip the teardown.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def _run() -> int:
    try:
        # Not standalone: click's own errors come here too, to be one "error:" line.
        returned = cli.main(prog_name="pipeline", standalone_mode=False)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else ExitCode.FAILED
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "pipeline"
        return _fail(f"{exc.format_message().rstrip('.')} (see '{where} --help')", ExitCode.USAGE)
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except click.Abort:  # Ctrl-C outside a command's own handling
        return _fail("interrupted", ExitCode.INTERRUPTED)
    except ConfigError as exc:
        return _fail(str(exc), ExitCode.USAGE)
    except (StorageError, BotoCoreError, ClientError, Boto3Error) as exc:
        return _store_failed(exc)
    except PipelineError as exc:
        return _fail(exc.message, ExitCode.USAGE if exc.retryable is False else ExitCode.FAILED)
    except RPCError as exc:
        if exc.status is RPCStatusCode.UNAVAILABLE:  # lost while the command ran
            return _fail(_temporal_unreachable(), ExitCode.UNREACHABLE)
        problem = f"Temporal answered: {exc.message}"
        if "search attribute" in exc.message:
            problem += " (run: pipeline setup temporal)"
        return _fail(problem, ExitCode.FAILED)
    except RuntimeError as exc:
        if "client connect" in str(exc).lower():
            return _fail(_temporal_unreachable(), ExitCode.UNREACHABLE)
        return _fail(f"{type(exc).__name__}: {exc}", ExitCode.FAILED)
    except Exception as exc:  # one line, never a traceback
        return _fail(f"{type(exc).__name__}: {exc}", ExitCode.FAILED)
    # ``--help`` and the like end in click's ``Exit``, whose code ``main`` returns.
    return returned if isinstance(returned, int) else ExitCode.OK


def _fail(message: str, code: int) -> int:
    line = message.splitlines()[0] if message else "failed"
    click.echo(f"error: {printable(line)}", err=True)  # stderr may not be guarded yet
    return code


def _settings() -> Settings | None:
    try:
        return load_settings()
    except ConfigError:
        return None


def _store_failed(exc: Exception) -> int:
    """One line for a failure of the object store, by what it answered (if it did):
    credentials refused or no such bucket are configuration (exit 2), no answer is
    unreachable (exit 4), any other answer is the store failing (exit 4)."""
    settings = _settings()
    endpoint = settings.s3_endpoint if settings else "R2_ENDPOINT_URL"
    bucket = settings.r2_bucket_name if settings else "R2_BUCKET_NAME"
    code = failure_code(exc)
    if code in REFUSED_CODES:
        return _fail(
            f"the object store at {endpoint} refused the credentials ({code}) for bucket "
            f"{bucket}: check R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY, and that the key "
            "may read and write the bucket ('pipeline doctor' checks them)",
            ExitCode.USAGE,
        )
    if code in NO_BUCKET_CODES:
        return _fail(
            f"the object store at {endpoint} has no bucket {bucket}: create it "
            "(deploy/r2/setup.sh) or fix R2_BUCKET_NAME ('pipeline doctor' checks it)",
            ExitCode.USAGE,
        )
    if code is not None:
        return _fail(
            f"the object store at {endpoint} (bucket {bucket}) failed: it answered {code}; "
            "see its logs ('pipeline doctor' checks it)",
            ExitCode.UNREACHABLE,
        )
    reason = (exc.detail.get("code") if isinstance(exc, StorageError) else None) or type(
        exc
    ).__name__
    return _fail(
        f"the object store is unreachable ({endpoint} bucket {bucket}: {reason}); start "
        "the embedded stack with 'pipeline up --detach', or check R2_ENDPOINT_URL and "
        "R2_BUCKET_NAME ('pipeline doctor' checks each)",
        ExitCode.UNREACHABLE,
    )


def _temporal_unreachable() -> str:
    settings = _settings()
    where = settings.temporal_address if settings else "TEMPORAL_ADDRESS"
    return (
        f"Temporal at {where} is unreachable; start the embedded stack with "
        "'pipeline up --detach', or check TEMPORAL_ADDRESS ('pipeline doctor' checks it)"
    )
