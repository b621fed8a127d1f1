"""Errors a user can cause. Each carries one sentence naming the thing and the fix."""


class RobotRLError(Exception):
    """Base class: the CLI prints `error: <message>` on one line, never a traceback."""


class ConfigError(RobotRLError, ValueError):
    """A configuration file or value is wrong: names the file, the key, what was expected and found."""

    def __init__(self, source: str, key: str, expected: str, found: object):
        self.source, self.key, self.expected, self.found = source, key, expected, found
        where = f"{source}: " if source else ""
        what = f"key '{key}': " if key else ""
        super().__init__(f"{where}{what}expected {expected}, found {_show(found)}")


class MissingDependencyError(RobotRLError, ImportError):
    """An optional dependency is not installed: names the extra that provides it."""

    def __init__(self, module: str, extra: str, purpose: str):
        self.module, self.extra = module, extra
        super().__init__(
            f"{purpose} needs '{module}', which is not installed: pip install 'robot_rl[{extra}]'"
        )


class Described(str):
    """A description of what was found (shown as is), rather than a value (shown quoted)."""


def _show(value: object) -> str:
    text = str(value) if isinstance(value, Described) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def require(module: str, extra: str, purpose: str, quiet: bool = False):
    """Import an optional dependency or raise MissingDependencyError naming the extra."""
    import importlib

    try:
        if quiet:
            with silenced_output():
                return importlib.import_module(module)
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module, extra, purpose) from exc


class silenced_output:
    """Silence C-level prints on stdout and stderr (pybullet prints its build time and
    "argv[0]=" banners, which would corrupt JSON output and one-line errors); flushes C stdio
    before restoring the descriptors."""

    def __enter__(self):
        import ctypes
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        self._libc = ctypes.CDLL(None)
        self._saved = [os.dup(1), os.dup(2)]
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        import os

        self._libc.fflush(None)
        for fd, saved in zip((1, 2), self._saved, strict=True):
            os.dup2(saved, fd)
            os.close(saved)
        return False
