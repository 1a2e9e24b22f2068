"""Entry point: ``trtbench <command>``. Exit codes: 0 ok, 1 regression (gate), 2 usage or input error
(a one-line message, no traceback), 3 internal error (traceback), 130 interrupted."""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import List, Optional

from trtbench import __version__
from trtbench.errors import EXIT_INTERNAL, EXIT_REGRESSION, EXIT_USAGE, RegressionFound, UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: one line, exit 2
        raise UserError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    from trtbench.cli import build_cmd, gate_cmd, info_cmd, report_cmd, run_cmd

    parser = _Parser(prog="trtbench", description="Benchmark TensorRT engines and their baselines as a matrix "
                                                   "of model x backend x batch x profile x precision x build mode.")
    parser.add_argument("--version", action="version", version=f"trtbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (run_cmd, info_cmd, build_cmd, report_cmd, gate_cmd):
        module.register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"trtbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RegressionFound as exc:
        print(f"trtbench: {exc}", file=sys.stderr)
        return EXIT_REGRESSION
    except KeyboardInterrupt:
        print("trtbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception:
        traceback.print_exc()
        print("trtbench: internal error (a bug in trtbench): please report it with the traceback above",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
