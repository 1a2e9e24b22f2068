"""Entry point: ``trtbench <command>``. Exit codes: 0 ok, 1 regression (gate, ab), 2 usage or input error
(a one-line message, no traceback), 3 internal error (traceback), 130 interrupted.

A reader that closes the pipe early (``trtbench gate ... | head -1``) does not change the exit code: the
command runs to its end, its further output is dropped, and the code it would have returned stands."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import List, Optional

from trtbench import __version__
from trtbench.cli import build_cmd, gate_cmd, info_cmd, report_cmd, run_cmd
from trtbench.errors import EXIT_INTERNAL, EXIT_REGRESSION, EXIT_USAGE, RegressionFound, UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: one line, exit 2
        raise UserError(f"{message} (see '{self.prog} --help')")


class _Output:
    """stdout that survives a closed pipe: writes after EPIPE go nowhere instead of raising."""

    def __init__(self, stream) -> None:
        self._s = stream
        self.closed_pipe = False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self._s.write(text)
            except BrokenPipeError:
                self._closed()
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self._s.flush()
            except BrokenPipeError:
                self._closed()

    def _closed(self) -> None:
        self.closed_pipe = True
        try:  # later flushes (at exit too) must not raise again
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._s.fileno())
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self._s, name)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="trtbench", description="Benchmark TensorRT engines and their baselines as a matrix "
                                                   "of model x backend x batch x profile x precision x build mode.")
    parser.add_argument("--version", action="version", version=f"trtbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (run_cmd, info_cmd, build_cmd, report_cmd, gate_cmd):
        module.register(sub)
    return parser


def attach_values(argv: List[str], flags=("--a", "--b")) -> List[str]:
    """``ab --a "-m x.onnx"``: argparse would read the value's leading '-' as an option; join it to its flag."""
    out: List[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in flags and i + 1 < len(argv):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ab"]:
        argv = attach_values(argv)
    out = _Output(sys.stdout)
    sys.stdout = out
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"trtbench: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except RegressionFound as exc:
        print(f"trtbench: {exc}", file=sys.stderr)
        return EXIT_REGRESSION
    except KeyboardInterrupt:
        print("trtbench: interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("trtbench: internal error (a bug in trtbench): please report it with the traceback above",
              file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        try:
            out.flush()
        finally:
            sys.stdout = out._s


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
