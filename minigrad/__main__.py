"""`python -m minigrad`: the `minigrad` command (viz.cli), imported only when run."""

import sys


def _run() -> int:
    from viz.cli import main  # lazily: `import minigrad` never pulls in viz or rich

    return main()


if __name__ == "__main__":
    sys.exit(_run())
