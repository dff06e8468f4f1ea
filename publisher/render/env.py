"""The sandboxed Jinja2 environment posts are rendered in.

Templates are editors' files (``<dir>/<channel-type>/<name>.j2``, partials
start with ``_``), so they run in Jinja's immutable sandbox: no access to
private attributes, no mutation of the context, bounded ranges and
repetitions. Whatever goes wrong in a template comes out as one
:class:`~publisher.exceptions.RenderError` line naming the file and line.
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import missing

from publisher.exceptions import RenderError
from publisher.render import filters

__all__ = ["BUNDLED_TEMPLATES", "Renderer"]

#: The default templates, shipped inside the package (package data), so a
#: plain ``pip install`` has them: ``<channel-type>/<name>.j2`` and ``_partials/``.
BUNDLED_TEMPLATES = Path(__file__).resolve().parent / "templates"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")
_SUFFIX = ".j2"
#: The longest string or sequence a template may build with ``*``.
_MAX_REPEAT = 100_000
#: The largest exponent a template may use with ``**``.
_MAX_EXPONENT = 64


class _Undefined(jinja2.StrictUndefined):
    """StrictUndefined that names our context objects as templates see them.

    ``'article' has no attribute 'titel'`` reads better than the Python class name.
    """

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint is None and self._undefined_obj is not missing:
            label = getattr(self._undefined_obj, "__render_name__", None)
            if isinstance(label, str):
                return f"{label!r} has no attribute {self._undefined_name!r}"
        return super()._undefined_message


class _Environment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with ``*`` and ``**`` kept from exhausting memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > _MAX_REPEAT
                ):
                    raise SecurityError(f"repetition longer than {_MAX_REPEAT} is not allowed")
            return operator.mul(left, right)
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
                raise SecurityError(f"exponents above {_MAX_EXPONENT} are not allowed")
            return operator.pow(left, right)
        return super().call_binop(context, operator_, left, right)


class Renderer:
    """Renders post templates found under ``template_dirs``, then the bundled ones.

    The site's templates layer over the bundled defaults (``BUNDLED_TEMPLATES``,
    shipped inside the package): a template ``x/default.j2`` (or a partial) in
    the first directory that has it wins, and a channel type or template the
    site did not write is the bundled one. ``bundled=False`` leaves the
    defaults out. ``hashtag_map`` and ``hashtag_limit`` configure the
    ``hashtags`` filter.
    """

    def __init__(
        self,
        template_dirs: Sequence[Path],
        *,
        hashtag_map: Mapping[str, str] | None = None,
        hashtag_limit: int = 3,
        bundled: bool = True,
    ):
        dirs = [Path(d) for d in template_dirs]
        self._site_dirs = len(dirs)  # the folders the site named; the bundled one after
        if bundled and not any(_same_dir(d, BUNDLED_TEMPLATES) for d in dirs):
            dirs.append(BUNDLED_TEMPLATES)
        self.template_dirs = tuple(dirs)
        self.hashtag_limit = hashtag_limit
        self._hashtag_map = dict(hashtag_map or {})
        env = _Environment(
            # One file-system loader per directory, asked in order: the site's
            # folder first, the bundled defaults last.
            loader=jinja2.ChoiceLoader(
                [jinja2.FileSystemLoader(str(d)) for d in self.template_dirs]),
            undefined=_Undefined,
            autoescape=False,  # plain text, not HTML
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        # Rendering must be a pure function of the article: nothing random.
        env.filters.pop("random", None)
        env.globals.pop("lipsum", None)
        env.filters.update(
            hashtags=self._hashtags,
            utm=filters.utm,
            plain=filters.plain,
            truncate_words=filters.truncate_words,
        )
        self._env = env

    def _hashtags(self, categories: Any, limit: int | None = None) -> str:
        return filters.hashtags(
            categories,
            self.hashtag_limit if limit is None else limit,
            mapping=self._hashtag_map,
        )

    def template_names(self, channel_type: str) -> list[str]:
        """The templates there are for ``channel_type`` (partials left out), sorted."""
        if not _NAME.match(channel_type):
            return []
        names = {
            path.name[: -len(_SUFFIX)]
            for directory in self.template_dirs
            for path in (directory / channel_type).glob("*" + _SUFFIX)
            if path.is_file() and not path.name.startswith("_")
        }
        return sorted(names)

    def has_template(self, channel_type: str, name: str) -> bool:
        """Whether a template ``name`` exists for ``channel_type``."""
        if not (_NAME.match(channel_type) and _NAME.match(name)):
            return False
        return any(
            (directory / channel_type / (name + _SUFFIX)).is_file()
            for directory in self.template_dirs
        )

    def render(self, channel_type: str, template: str, context: Mapping[str, Any]) -> str:
        """Render ``<channel_type>/<template>.j2`` with ``context``, stripped of outer blanks.

        Raises :class:`RenderError` (one line: ``file:line: message``) on any failure.
        """
        if not (_NAME.match(channel_type) and _NAME.match(template)):
            raise RenderError(f"invalid template name {channel_type!r}/{template!r}")
        name = f"{channel_type}/{template}{_SUFFIX}"
        try:
            compiled = self._env.get_template(name)
            text = compiled.render(dict(context))
        except jinja2.TemplateNotFound as exc:
            dirs = ", ".join(str(d) for d in self.template_dirs) or "no directory"
            missing_name = exc.name if isinstance(exc.name, str) else name
            raise RenderError(f"template {missing_name} not found in {dirs}") from exc
        except jinja2.TemplateSyntaxError as exc:
            where = self._where(exc.filename, exc.lineno) or name
            raise RenderError(f"{where}: {_one_line(exc.message or str(exc))}") from exc
        except Exception as exc:
            # An editor's template may fail in any way Python code can (a filter given
            # the wrong type, a division by zero): report where, keep the cause chained.
            where = self._where(*_template_frame(exc.__traceback__, self.template_dirs)) or name
            message = str(exc) if isinstance(exc, jinja2.TemplateError) else _describe(exc)
            raise RenderError(f"{where}: {_one_line(message)}") from exc
        return text.strip()

    def _where(self, filename: str | None, lineno: int | None) -> str | None:
        if not filename:
            return None
        shown = filename
        path = Path(filename)
        for index, directory in enumerate(self.template_dirs):
            try:
                relative = path.resolve().relative_to(directory.resolve())
            except ValueError:
                continue
            # A folder the site named is shown as named, even when it is the
            # bundled one (a clone's templates/ is the package's).
            if index >= self._site_dirs:
                shown = f"(bundled) {relative}"
                break
            base = directory if not directory.is_absolute() else Path(directory.name)
            shown = str(base / relative)
            break
        return f"{shown}:{lineno}" if lineno else shown


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _template_frame(
    tb: TracebackType | None, template_dirs: Sequence[Path]
) -> tuple[str | None, int | None]:
    """The innermost traceback frame that is a line of a template (Jinja rewrites them)."""
    roots = [os.path.realpath(d) + os.sep for d in template_dirs]
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(_SUFFIX) and any(
            os.path.realpath(filename).startswith(root) for root in roots
        ):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _one_line(message: str) -> str:
    return " ".join(message.split())
