"""A text for a person that is ALSO machine output: English where a machine reads it, the
user's language where a person does.

An error's ``brief`` goes into ``--json`` and logs (English, never translated) and onto a
terminal or a screen (the process language). ``Msg`` is that English text (a ``str``, so
everything that stores, compares, logs or JSON-encodes it sees plain English) which also
remembers its message id and fields, so :func:`localized` can say it again in the process
language when it is shown::

    raise InputError("pin", Msg(N_("{field}: wrong check digit"), field=name))
    print(localized(exc.brief))      # Russian under LANG=ru_RU.UTF-8
    json.dumps(exc.as_dict())        # English, always

A field that is itself a ``Msg`` is localized with it; anything else is inserted as is.
"""

from __future__ import annotations

from collections.abc import Iterable
from gettext import NullTranslations
from typing import Any

from .i18n import _, ngettext


class Msg(str):
    """English text (the ``str`` value) that can be localized later."""

    msgid: str
    fields: dict[str, Any]

    def __new__(cls, msgid: str, /, **fields: Any) -> Msg:
        english = msgid.format(**fields) if fields else msgid
        obj = super().__new__(cls, english)
        obj.msgid = msgid
        obj.fields = fields
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        # copy, deepcopy (dataclasses.asdict) and pickle: the same text, the same words
        return _restore, (type(self), str(self), dict(self.__dict__))

    def localized(self, using: NullTranslations | None = None) -> str:
        translated = using.gettext(self.msgid) if using is not None else _(self.msgid)
        if not self.fields:
            return translated
        return translated.format(**self._shown(using))

    def _shown(self, using: NullTranslations | None) -> dict[str, Any]:
        return {k: v.localized(using) if isinstance(v, Msg) else v for k, v in self.fields.items()}


class Plural(Msg):
    """A text with a count: the form for *n* (Russian has three) chosen when shown.
    Both forms are marked with ``N_``; ``{n}`` is the count, other fields as in Msg."""

    plural: str
    n: int

    def __new__(cls, singular: str, plural: str, n: int, /, **fields: Any) -> Plural:
        obj = str.__new__(cls, (singular if n == 1 else plural).format(n=n, **fields))
        obj.msgid, obj.plural, obj.n, obj.fields = singular, plural, n, fields
        return obj

    def localized(self, using: NullTranslations | None = None) -> str:
        form = (using.ngettext if using is not None else ngettext)(self.msgid, self.plural, self.n)
        return form.format(n=self.n, **self._shown(using))


class Joined(Msg):
    """Texts joined by *sep* (``"; ".join`` of Msgs), each localized when shown."""

    parts: list[str]
    sep: str

    def __new__(cls, sep: str, parts: Iterable[str]) -> Joined:
        items = list(parts)
        obj = str.__new__(cls, sep.join(items))
        obj.msgid, obj.fields, obj.parts, obj.sep = sep.join(items), {}, items, sep
        return obj

    def localized(self, using: NullTranslations | None = None) -> str:
        return self.sep.join(localized(p, using) for p in self.parts)


class Trimmed(Msg):
    """*text* without a leading *prefix* (a file name said elsewhere), in any language."""

    inner: str
    prefix: str

    def __new__(cls, text: str, prefix: str) -> Trimmed:
        obj = str.__new__(cls, text.removeprefix(prefix))
        obj.msgid, obj.fields, obj.inner, obj.prefix = str(obj), {}, text, prefix
        return obj

    def localized(self, using: NullTranslations | None = None) -> str:
        return localized(self.inner, using).removeprefix(self.prefix)


class Said(Msg):
    """A text someone else already put in the user's language (argparse's errors), with its
    English for machine output."""

    shown: str

    def __new__(cls, english: str, shown: str) -> Said:
        obj = str.__new__(cls, english)
        obj.msgid, obj.fields, obj.shown = english, {}, shown
        return obj

    def localized(self, using: NullTranslations | None = None) -> str:
        return self.shown


def _restore(cls: type[Msg], text: str, state: dict[str, Any]) -> Msg:
    obj = str.__new__(cls, text)
    obj.__dict__.update(state)
    return obj


def localized(text: object, using: NullTranslations | None = None) -> str:
    """*text* in the process language (or in *using*, a service's per-request
    translation) if it is a :class:`Msg`, else as it is."""
    if isinstance(text, Msg):
        return text.localized(using)
    return str(text)
