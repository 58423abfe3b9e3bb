"""Reading a user's YAML file as nodes, so that every later error can name its line.

Shared by the scenario loader (lab/scenario/spec.py) and weblab.yaml's
(lab/ownservice/spec.py): a file that does not parse, or cannot be read, is
one UsageError naming the file and line. PyYAML itself would call the text
"<unicode string>".
"""

from __future__ import annotations

from pathlib import Path

import yaml

from lab.errors import UsageError


def compose(path: Path, what: str = "") -> yaml.Node | None:
    """The file's YAML node tree (None for an empty file); WHAT names it in a read error."""
    try:
        node: yaml.Node | None = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else 1
        found = ", ".join(str(x) for x in (e.context, e.problem) if x)
        raise UsageError(f"{path}:{line}: not valid YAML: {found}") from e
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: not valid YAML: {e}") from e
    except OSError as e:
        raise UsageError(f"cannot read {what + ' ' if what else ''}{path}: {e.strerror}") from e
    return node
