"""Tests of the Chinese identifier validators, generators, masks, region table and their translations."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, strategies as st

from common import regions
from common.errors import InvalidField
from common.i18n import translate
from common.validation import (
    CREDIT_ALPHABET,
    CREDIT_CATEGORIES,
    MESSAGES,
    MSG_CREDIT_CATEGORY,
    MSG_CREDIT_CHAR,
    MSG_CREDIT_CHECK,
    MSG_CREDIT_LENGTH,
    MSG_CREDIT_ORG_CHECK,
    MSG_CREDIT_REGION,
    MSG_ID_BIRTH,
    MSG_ID_CHECK,
    MSG_ID_FORMAT,
    MSG_ID_REGION,
    MSG_MOBILE,
    MSG_REGION_FORMAT,
    MSG_REGION_UNKNOWN,
    credit_code_check_char,
    id_number_check_digit,
    make_credit_code,
    make_id_number,
    mask_id_number,
    mask_phone,
    organisation_code_check_char,
    validate_credit_code,
    validate_id_number,
    validate_mobile,
    validate_region_code,
)


def refusal(func, value, **kwargs):
    """The single FieldProblem `func` raises for `value`."""
    with pytest.raises(InvalidField) as info:
        func(value, **kwargs)
    (problem,) = info.value.problems
    return problem


# --- credit codes -------------------------------------------------------------------------------

VALID_CREDIT_CODES = [
    "91350100M000100Y43",  # the example most often cited in write-ups of GB 32100
    "914403001922038216",  # 华为技术有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "91110108551385082Q",  # 小米科技有限责任公司
    # Further codes as printed on published business licences; they pass both checks.
    "91330100716105852F",
    "91110000710926094P",
    "91110000802100433B",
    "9144030027939873X7",  # organisation code check character X
]


@pytest.mark.parametrize("code", VALID_CREDIT_CODES)
def test_published_credit_codes_pass(code):
    assert validate_credit_code(code) == code


def test_credit_code_is_normalized():
    assert validate_credit_code(" 9135 0100 m000 100y 43 ") == "91350100M000100Y43"
    # Full-width characters from a Chinese input method.
    assert validate_credit_code("９１３５０１００Ｍ０００１００Ｙ４３") == "91350100M000100Y43"


def test_check_characters_of_a_known_code():
    assert organisation_code_check_char("M000100Y") == "4"
    assert credit_code_check_char("91350100M000100Y4") == "3"
    assert make_credit_code("9", "1", "350100", "M000100Y") == "91350100M000100Y43"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", MSG_CREDIT_LENGTH),
        (None, MSG_CREDIT_LENGTH),
        ("91350100M000100Y4", MSG_CREDIT_LENGTH),
        ("91350100M000100Y433", MSG_CREDIT_LENGTH),
        ("91350100M000100I43", MSG_CREDIT_CHAR),
        ("91350100M000100O43", MSG_CREDIT_CHAR),
        ("91350100M000100-43", MSG_CREDIT_CHAR),
        ("94350100M000100Y43", MSG_CREDIT_CATEGORY),  # 工商 has no category 4
        ("Y2350100M000100Y43", MSG_CREDIT_CATEGORY),  # "other" is never subdivided
        ("B1350100M000100Y43", MSG_CREDIT_CATEGORY),  # no such authority
        ("91390100M000100Y43", MSG_CREDIT_REGION),  # there is no province 39
        ("91000000M000100Y43", MSG_CREDIT_REGION),
        ("91350100M000100Y53", MSG_CREDIT_ORG_CHECK),
        ("91350100M000200Y43", MSG_CREDIT_ORG_CHECK),
        ("91350100M000100Y44", MSG_CREDIT_CHECK),
        ("91350200M000100Y43", MSG_CREDIT_CHECK),  # another Fujian region: only the final check notices
    ],
)
def test_bad_credit_codes(value, message):
    problem = refusal(validate_credit_code, value)
    assert problem.field == "credit_code"
    assert problem.message == message


def test_illegal_character_is_named():
    problem = refusal(validate_credit_code, "91350100M000100S43")
    assert problem.params == {"char": "S"}


def test_field_name_is_passed_through():
    assert refusal(validate_credit_code, "x", field="supplier_code").field == "supplier_code"
    assert refusal(validate_id_number, "x", field="legal_rep_id").field == "legal_rep_id"
    assert refusal(validate_mobile, "x", field="contact_phone").field == "contact_phone"
    assert refusal(validate_region_code, "x", field="address_region").field == "address_region"


@pytest.mark.parametrize("code", VALID_CREDIT_CODES)
def test_every_digit_typo_in_the_organisation_code_is_caught_by_its_check(code):
    # A digit-for-digit change shifts the mod 11 sum by w*d with w, d < 11, never a multiple of 11.
    for position in range(8, 17):
        if not code[position].isdigit():
            continue
        for digit in "0123456789":
            if digit != code[position]:
                typo = code[:position] + digit + code[position + 1:]
                assert refusal(validate_credit_code, typo).message == MSG_CREDIT_ORG_CHECK


def test_old_region_codes_with_a_real_province_are_accepted():
    # 320683 was 通州市 before it became a district of Nantong; it is no longer in the table.
    assert not regions.is_known("320683")
    code = make_credit_code("9", "1", "320683", "12345678")
    assert validate_credit_code(code) == code
    national = make_credit_code("5", "1", "100000", "50000123")
    assert validate_credit_code(national) == national


def test_make_credit_code_refuses_impossible_parts():
    for args in [("9", "4", "320681", "12345678"), ("9", "", "320681", "12345678"), ("9", "1", "32068", "12345678"), ("9", "1", "320681", "1234567I")]:
        with pytest.raises(ValueError):
            make_credit_code(*args)


authority_and_category = st.sampled_from([(a, c) for a, cats in CREDIT_CATEGORIES.items() for c in cats])
credit_regions = st.one_of(
    st.sampled_from(sorted(regions._table())),
    st.sampled_from(["100000", "320683", "359999"]),
)
org_bodies = st.text(alphabet=CREDIT_ALPHABET, min_size=8, max_size=8)


@given(authority_and_category, credit_regions, org_bodies)
def test_generated_credit_codes_round_trip(pair, region, body):
    code = make_credit_code(pair[0], pair[1], region, body)
    assert len(code) == 18
    assert validate_credit_code(code) == code
    assert validate_credit_code(" ".join(code.lower())) == code


@given(authority_and_category, credit_regions, org_bodies, st.integers(0, 17), st.sampled_from(CREDIT_ALPHABET))
def test_any_single_substitution_is_refused(pair, region, body, position, replacement):
    # GB 32100's mod 31 check with weights coprime to 31 catches every single-character change.
    code = make_credit_code(pair[0], pair[1], region, body)
    typo = code[:position] + replacement + code[position + 1:]
    if typo == code:
        return
    with pytest.raises(InvalidField):
        validate_credit_code(typo)


# --- ID numbers --------------------------------------------------------------------------------


def test_standard_id_example_passes():
    # The example number printed in GB 11643-1999.
    assert validate_id_number("11010519491231002X") == "11010519491231002X"
    assert id_number_check_digit("11010519491231002") == "X"


def test_id_number_is_normalized():
    assert validate_id_number("11010519491231002x") == "11010519491231002X"
    assert validate_id_number(" 110105 19491231 002X ") == "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", MSG_ID_FORMAT),
        (None, MSG_ID_FORMAT),
        ("11010519491231002", MSG_ID_FORMAT),
        ("11010519491231002XX", MSG_ID_FORMAT),
        ("1101051949123100X2", MSG_ID_FORMAT),
        ("11010519491231002Y", MSG_ID_FORMAT),
        ("110105491231002", MSG_ID_FORMAT),  # the old 15-digit form is not accepted
        ("99010519491231002X", MSG_ID_REGION),
        ("11010519491231003X", MSG_ID_CHECK),
        ("110105194912310020", MSG_ID_CHECK),
        ("11010519491231002O", MSG_ID_FORMAT),
        # The other example in GB 11643 was born in 1880, before the earliest date we take.
        ("440524188001010014", MSG_ID_BIRTH),
        (make_id_number("320681", date(2099, 1, 1), 123), MSG_ID_BIRTH),
    ],
)
def test_bad_id_numbers(value, message):
    problem = refusal(validate_id_number, value)
    assert problem.field == "id_number"
    assert problem.message == message


@pytest.mark.parametrize("yyyymmdd", ["19900230", "19900431", "19000229", "19901301", "19900000", "20230229"])
def test_impossible_birth_dates(yyyymmdd):
    first17 = "320681" + yyyymmdd + "123"
    number = first17 + id_number_check_digit(first17)
    assert refusal(validate_id_number, number).message == MSG_ID_BIRTH


def test_birth_date_boundaries():
    assert validate_id_number(make_id_number("320681", date(1900, 1, 1), 1))
    assert validate_id_number(make_id_number("320681", date(2000, 2, 29), 2))
    assert validate_id_number(make_id_number("320681", date.today(), 3))
    tomorrow = make_id_number("320681", date.today() + timedelta(days=1), 3)
    assert refusal(validate_id_number, tomorrow).message == MSG_ID_BIRTH


def test_make_id_number_refuses_impossible_parts():
    with pytest.raises(ValueError):
        make_id_number("32068", date(1990, 1, 1), 1)
    with pytest.raises(ValueError):
        make_id_number("320681", date(1990, 1, 1), 1000)


id_regions = st.one_of(st.sampled_from(sorted(regions._table())), st.just("320683"))
births = st.dates(min_value=date(1900, 1, 1), max_value=date.today())


@given(id_regions, births, st.integers(0, 999))
def test_generated_id_numbers_round_trip(region, birth, seq):
    number = make_id_number(region, birth, seq)
    assert validate_id_number(number.lower()) == number
    assert number[6:14] == birth.strftime("%Y%m%d")


@given(id_regions, births, st.integers(0, 999), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_id_substitution_is_refused(region, birth, seq, position, replacement):
    number = make_id_number(region, birth, seq)
    typo = number[:position] + replacement + number[position + 1:]
    if typo == number:
        return
    with pytest.raises(InvalidField):
        validate_id_number(typo)


# --- masks -------------------------------------------------------------------------------------


def test_mask_id_number():
    assert mask_id_number("32068119900101123X") == "320681********123X"
    assert mask_id_number("32068119900101123x") == "320681********123X"
    assert mask_id_number("") == ""
    assert mask_id_number("1234567") == "*******"


def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_phone("123") == "***"
    assert mask_phone("") == ""


# --- mobile numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "+8613800138000",
        "8613800138000",
        "86 138 0013 8000",
        "0086 138 0013 8000",
        "１３８００１３８０００",
    ],
)
def test_mobile_forms(value):
    assert validate_mobile(value) == "13800138000"


@pytest.mark.parametrize(
    "value",
    [None, "", "1380013800", "138001380000", "12800138000", "10800138000", "23800138000", "1380013800a", "+85213800138000", "021-63211234"],
)
def test_bad_mobiles(value):
    problem = refusal(validate_mobile, value)
    assert (problem.field, problem.message) == ("phone", MSG_MOBILE)


@given(st.sampled_from("3456789"), st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_every_mainland_mobile_shape_passes(second, rest):
    number = "1" + second + rest
    assert validate_mobile(number) == number
    assert validate_mobile("+86 " + number) == number


# --- regions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["320681", "310115", "310101", "320500", "320508", "320576", "110000", "810000"])
def test_known_region_codes(code):
    assert validate_region_code(code) == code


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", MSG_REGION_FORMAT),
        ("32068", MSG_REGION_FORMAT),
        ("3206810", MSG_REGION_FORMAT),
        ("32068a", MSG_REGION_FORMAT),
        ("320683", MSG_REGION_UNKNOWN),  # historical: 通州市, now 南通市通州区
        ("390000", MSG_REGION_UNKNOWN),
        ("999999", MSG_REGION_UNKNOWN),
    ],
)
def test_bad_region_codes(value, message):
    problem = refusal(validate_region_code, value)
    assert (problem.field, problem.message) == ("region_code", message)


def test_region_names():
    assert regions.region_name("320681") == "江苏省 南通市 启东市"
    assert regions.region_name("310115") == "上海市 浦东新区"
    assert regions.region_name("320576") == "江苏省 苏州市 苏州工业园区"
    assert regions.region_name("441900") == "广东省 东莞市"
    assert regions.region_name("310100") == "上海市"
    assert regions.region_name("999999") is None


def test_region_table_covers_the_service_area():
    shanghai = [code for code in regions._table() if code.startswith("3101") and code != "310100"]
    suzhou = [code for code in regions._table() if code.startswith("3205") and code != "320500"]
    assert len(shanghai) >= 16
    assert len(suzhou) >= 9
    assert regions.is_known("320681")


def test_province_of():
    assert regions.province_of("320681") == "320000"
    assert regions.province_of("320683") == "320000"  # historical codes still have a province
    assert regions.province_of("390101") is None
    assert regions.province_of("") is None


def test_search_regions():
    assert [r.code for r in regions.search_regions("启东")] == ["320681"]
    by_code = regions.search_regions("3205", limit=3)
    assert [r.code for r in by_code] == ["320500", "320505", "320506"]
    by_name = regions.search_regions("苏州市", limit=5)
    assert by_name[0] == regions.Region("320500", "苏州市", "江苏省 苏州市")
    assert all(r.full_name.startswith("江苏省 苏州市") for r in by_name)
    assert regions.search_regions("") == []
    assert regions.search_regions("市辖区") == []


# --- translations ------------------------------------------------------------------------------


@pytest.mark.parametrize("msgid", MESSAGES)
def test_every_message_has_a_chinese_translation(msgid):
    translated = translate(msgid, "zh_Hans", char="I")
    assert translated != msgid.format(char="I")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in translated)


def test_translation_keeps_the_parameter():
    assert translate(MSG_CREDIT_CHAR, "zh_Hans", char="S") == "统一社会信用代码含有非法字符：S"
