"""conda-torch's ``.condarc`` settings, read the way conda reads them.

Inside conda (``conda torch ...``) the values come from ``context.plugins.<name>``, so every
source conda supports applies: a ``plugins:`` key in any ``.condarc``, ``conda config --set
plugins.<name> VALUE``, or the ``CONDA_PLUGINS_<NAME>`` variable. Stand-alone (``conda-torch``),
only the variable can be read, since reading ``.condarc`` files is conda's job.

conda's own ``default_python`` is honoured too (:func:`default_python`), where the user set it:
conda's default for it is the Python conda itself runs on, which says nothing about the user's
wish, so only an explicit value (a ``.condarc`` key or ``CONDA_DEFAULT_PYTHON``) counts.
"""

from __future__ import annotations

import os
import re
import sys

from .constants import SETTINGS
from .exceptions import CondaTorchValueError

#: Accepted values per setting (the backend setting is checked by ``models.Backend``).
CHOICES: dict[str, tuple[str, ...]] = {"torch_source": ("auto", "conda-forge", "pytorch", "pip")}


def get(name: str) -> str:
    """The effective value of setting ``name`` (see ``constants.SETTINGS``)."""
    default, _ = SETTINGS[name]
    value = None
    if "conda.base.context" in sys.modules:  # running inside conda: use conda's configuration
        from conda.base.context import context

        value = getattr(context.plugins, name, None)
    if value is None:
        value = os.environ.get(f"CONDA_PLUGINS_{name.upper()}")
    value = (value if value is not None else default).strip()
    allowed = CHOICES.get(name)
    if allowed and value not in allowed:
        raise CondaTorchValueError(
            f"setting plugins.{name}={value!r} is not valid: expected one of {', '.join(allowed)}",
            hints=[f"Fix it with: conda config --set plugins.{name} {allowed[0]}"],
        )
    return value


def default_source() -> str | None:
    """The source to use when ``--source`` is not given (None: conda-forge, else pip)."""
    value = get("torch_source")
    return None if value == "auto" else value


def default_python() -> str | None:
    """conda's ``default_python`` when the user configured it (``X.Y``), else None.

    Inside conda: the value of ``context.default_python`` when some configuration source
    (a ``.condarc``, ``CONDA_DEFAULT_PYTHON``, the command line) names it; conda's built-in
    default (conda's own Python) is no request. Stand-alone: ``CONDA_DEFAULT_PYTHON``. An empty
    value means "no default", as in conda.
    """
    value: str | None = None
    if "conda.base.context" in sys.modules:
        from conda.base.context import context

        sources = getattr(context, "raw_data", {}) or {}
        if any("default_python" in (data or {}) for data in sources.values()):
            value = context.default_python
    else:
        value = os.environ.get("CONDA_DEFAULT_PYTHON")
    value = (value or "").strip()
    if not value:
        return None
    if not re.fullmatch(r"[23]\.\d{1,2}", value):
        raise CondaTorchValueError(
            f"setting default_python={value!r} is not valid: expected X.Y (e.g. 3.12)",
            hints=["Fix it with: conda config --set default_python 3.12"],
        )
    return value


def default_backend() -> str:
    """The backend to use when ``--backend`` is not given."""
    return get("torch_backend") or "auto"
