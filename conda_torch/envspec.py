"""``conda env create -f team.yml --format conda-torch``: a team's file, specialized at create time.

conda's environment-specifier plugin API (``conda_environment_specifiers``, EXPERIMENTAL in
conda 25.5+). The team's ordinary environment.yml is specialized for this machine exactly as
``conda torch generate -f team.yml`` would do it (torch stack, CUDA packages, channels and
variables from the plan; everything else kept), then read by conda's own CEP-24 reader.
Detection is off: conda uses this format only when asked for (``--format conda-torch``), so
plain environment files are never touched.

conda builds the ``--format`` choices (and ``conda create``'s help) from the registered
specifiers on most commands, so this module imports nothing but the standard library and the
conda type it subclasses; the planning happens in :meth:`TorchEnvironmentSpec.env`.
"""

from __future__ import annotations

import os
from logging import getLogger

from conda.plugins.types import EnvironmentSpecBase

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from conda.models.environment import Environment

#: The format's name (``--format conda-torch``) and what ``--help`` says of it.
NAME = "conda-torch"
DESCRIPTION = (
    "an environment.yml whose torch stack conda-torch specializes for this machine "
    "(as `conda torch generate -f FILE` would)"
)

log = getLogger(__name__)


class TorchEnvironmentSpec(EnvironmentSpecBase):
    """A team's environment file, with the torch stack planned for this machine."""

    detection_supported = False  # only with --format conda-torch

    def __init__(self, filename: str | None = None, **kwargs: object) -> None:
        self.filename = filename
        self._environment: Environment | None = None

    def can_handle(self) -> bool:
        from . import envfile
        from .exceptions import CondaTorchValueError

        if not self.filename:
            raise CondaTorchValueError(
                "the conda-torch format needs an environment file",
                hints=["conda env create -f team.yml --format conda-torch"],
            )
        envfile.load(self.filename)  # EnvironmentFileError: one line naming the file
        return True

    @property
    def env(self) -> Environment:
        if self._environment is None:
            self._environment = self._specialized()
        return self._environment

    def _specialized(self) -> Environment:
        import tempfile

        from conda.env.specs.cep_24 import Cep24YamlFileSpec

        from . import settings
        from .detect import detect
        from .prepare import prepare

        assert self.filename is not None  # can_handle said so
        # Inside conda, detection takes the platform from conda's context (``--subdir``).
        prepared = prepare(
            detect(),
            file=self.filename,
            backend=settings.default_backend(),
            source=settings.default_source(),
            default_python=settings.default_python(),
        )
        log.info("conda-torch: %s; %s", prepared.summary, " ".join(prepared.why))
        handle, path = tempfile.mkstemp(prefix="conda-torch-", suffix=".yml")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(prepared.text)
            spec = Cep24YamlFileSpec(filename=path)
            spec.can_handle()
            return spec.env
        finally:
            os.unlink(path)
