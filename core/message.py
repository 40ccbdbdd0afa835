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

from typing import Any

from .i18n import _


class Msg(str):
    """English text (the ``str`` value) that can be localized later."""

    msgid: str
    fields: dict[str, Any]

    def __new__(cls, msgid: str, /, **fields: Any) -> Msg:
        english = msgid.format(**{k: str(v) for k, v in fields.items()}) if fields else msgid
        obj = super().__new__(cls, english)
        obj.msgid = msgid
        obj.fields = fields
        return obj

    def localized(self) -> str:
        translated = _(self.msgid)
        if not self.fields:
            return translated
        return translated.format(**{k: localized(v) for k, v in self.fields.items()})


def localized(text: object) -> str:
    """*text* in the process language if it is a :class:`Msg`, else as it is."""
    if isinstance(text, Msg):
        return text.localized()
    return str(text)
