"""The domain's texts: English where a machine reads them, the user's language where a person does.

core.message.Msg is the English ``str`` (JSON, logs, the center's API) that remembers how to
say itself in the process language; the client words the center's refusals from their code.
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Iterator

import pytest
from licwiz.core import i18n
from licwiz.core.errors import CenterError, InputError, PhoneCodeError
from licwiz.core.i18n import N_
from licwiz.core.identifiers import parse_pin, parse_regnum
from licwiz.core.message import Joined, Msg, Plural, localized
from licwiz.core.phonecodes import decode, encode
from licwiz.core.refusal_words import refusal_brief


@pytest.fixture
def russian() -> Iterator[None]:
    i18n.set_language("ru")
    try:
        yield
    finally:
        i18n.set_language("en")


def test_an_input_error_is_english_for_json_and_russian_on_screen(russian: None) -> None:
    with pytest.raises(InputError) as info:
        parse_regnum("1234567891")
    err = info.value
    assert err.brief == "Registration number: check digit does not match, a digit is probably mistyped"
    assert json.loads(json.dumps(err.as_dict()))["brief"] == err.brief
    assert err.localized_brief() == ("Регистрационный номер: контрольная цифра не совпадает, вероятно, "
                                     "одна цифра введена с ошибкой")
    # a label already in the user's language (the wizard's) is used as it is
    with pytest.raises(InputError) as extra:
        parse_pin("12", i18n._("Extra PIN code"))
    assert extra.value.localized_brief() == "Дополнительный пин-код: нужно 15 цифр, введено 2"


@pytest.mark.parametrize(("bad", "form"), [(1, "строке"), (2, "строках"), (5, "строках")])
def test_phone_row_errors_agree_with_the_count(russian: None, bad: int, form: str) -> None:
    rows = encode(bytes(range(60)), width=9)
    typed = [r if i >= bad else r[:-1] + str((int(r[-1]) + 1) % 10) for i, r in enumerate(rows)]
    with pytest.raises(PhoneCodeError) as info:
        decode(typed)
    assert info.value.rows == list(range(1, bad + 1))
    said = info.value.localized_brief()
    assert said.startswith(f"Неверная контрольная цифра в {form} ")
    assert ("перепроверьте её" if bad == 1 else "перепроверьте их") in said


def test_plural_forms_of_russian(russian: None) -> None:
    forms = {n: localized(Plural(N_("{n} row"), N_("{n} rows"), n)) for n in (1, 2, 5, 11, 21, 22)}
    assert forms == {1: "1 строка", 2: "2 строки", 5: "5 строк", 11: "11 строк", 21: "21 строка",
                     22: "22 строки"}
    assert Plural(N_("{n} row"), N_("{n} rows"), 2) == "2 rows"


def test_msg_survives_copy_pickle_and_joining(russian: None) -> None:
    msg = Joined("; ", [Msg(N_("tolerated change: {names}"), names="mac"), "plain text"])
    for clone in (copy.deepcopy(msg), pickle.loads(pickle.dumps(msg)), copy.copy(msg)):
        assert clone == "tolerated change: mac; plain text"
        assert localized(clone) == "допустимое изменение: mac; plain text"


def test_the_center_refusal_is_worded_from_its_code(russian: None) -> None:
    refused = CenterError("pin_used", "This PIN code has already been used", status=409)
    assert refused.localized_brief() == "Этот пин-код уже использован"
    assert refused.as_dict()["brief"] == "This PIN code has already been used"
    extra = refusal_brief("pin_used", "The extra PIN code has already been used")
    assert extra == "Дополнительный пин-код уже использован"
    # a code this client does not know: the center's own words
    assert refusal_brief("brand_new_code", "Something new happened") == "Something new happened"
    # the client's own transport failures are its words, not a refusal's
    assert CenterError("unreachable", Msg(N_("The Licensing Center cannot be reached"))).localized_brief() \
        == "Нет связи с Центром лицензирования"


def test_english_is_untouched_in_english() -> None:
    i18n.set_language("en")
    with pytest.raises(InputError) as info:
        parse_pin("abc")
    said = "PIN code: only digits are allowed, found 'a' 'b' 'c'"
    assert info.value.localized_brief() == info.value.brief == said
