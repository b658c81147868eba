"""Validators for Chinese identifiers: credit codes, resident ID numbers, mobile numbers, region codes.

Each `validate_*` function takes what a person typed, returns the normalized form to store, or
raises `InvalidField` naming the field with an English msgid (translated in
`common/locale/*/LC_MESSAGES/validation.po`). The `make_*` and `*_check_*` helpers compute the
check characters so demo data and tests can produce codes that pass.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from common import regions
from common.errors import InvalidField
from common.i18n import N_

# --- messages ---------------------------------------------------------------------------------

MSG_CREDIT_LENGTH = N_("Unified social credit code must be 18 characters")
MSG_CREDIT_CHAR = N_("Unified social credit code contains an illegal character: {char}")
MSG_CREDIT_CATEGORY = N_("Unified social credit code has an unknown registration authority or organisation category")
MSG_CREDIT_REGION = N_("Unified social credit code has an unknown region code")
MSG_CREDIT_ORG_CHECK = N_("Unified social credit code has a wrong organisation code check character")
MSG_CREDIT_CHECK = N_("Unified social credit code has a wrong check character")

MSG_ID_FORMAT = N_("Resident ID number must be 18 characters: 17 digits and a final digit or X")
MSG_ID_REGION = N_("Resident ID number has an unknown region code")
MSG_ID_BIRTH = N_("Resident ID number has an invalid date of birth")
MSG_ID_CHECK = N_("Resident ID number has a wrong check digit")

MSG_MOBILE = N_("Mobile number must be 11 digits starting with 13 to 19")

MSG_REGION_FORMAT = N_("Region code must be 6 digits")
MSG_REGION_UNKNOWN = N_("Region code is not a known administrative division")

# Of the bounds below (not in MESSAGES: they take {max}, not {char}).
MSG_TOO_MANY = N_("At most {max} items")
MSG_TOO_BIG = N_("Too large: at most {max} KB")
MSG_TOO_DEEP = N_("Nested too deeply")

MESSAGES = (
    MSG_CREDIT_LENGTH, MSG_CREDIT_CHAR, MSG_CREDIT_CATEGORY, MSG_CREDIT_REGION, MSG_CREDIT_ORG_CHECK,
    MSG_CREDIT_CHECK, MSG_ID_FORMAT, MSG_ID_REGION, MSG_ID_BIRTH, MSG_ID_CHECK, MSG_MOBILE,
    MSG_REGION_FORMAT, MSG_REGION_UNKNOWN,
)

# --- bounds of what comes in --------------------------------------------------------------------------
# One set of numbers for the JSON API's schemas (common/api/schemas.py), the services behind the pages and the sync
# push: a list or a text refused at one door is refused at every other. Texts follow their columns (or, for Text
# columns, what the service has always taken).
MAX_SHORT = 64        # ids, codes and choices: node ids, units, kinds, statuses
MAX_NAME = 200        # names and titles
MAX_PERSON_NAME = 100
MAX_ADDRESS = 300
MAX_NOTE = 4000       # a case event's note, a decision's comment, an enterprise's notes
MAX_LONG_TEXT = 8000  # a visit's findings and guidance, an application's reason
MAX_BODY = 20000      # a case's description, a bulletin's body
MAX_DETAIL_TEXT = 2000
MAX_DETAILS = 40      # fields of a case's details (every category has fewer)
MAX_HAZARDS = 100
MAX_HAZARD_TEXT = 500
MAX_CHECKLIST_ANSWERS = 100  # an office checklist has at most 40 items; answers to items since removed are kept
MAX_CHECK_ANSWER = 200
MAX_TARGETS = 500     # nodes, regions or industries a bulletin is addressed to
MAX_ATTENDANCE = 100_000
# What a JSON column takes from any door (a sync push included), whatever its shape.
MAX_JSON_BYTES = 256 * 1024
MAX_JSON_DEPTH = 8


def check_json_size(value: Any, field: str, max_items: int, max_bytes: int = MAX_JSON_BYTES,
                    max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Refuse a JSON value (list or object) of more than `max_items` entries, nested deeper than `max_depth` or taking
    more than `max_bytes` as JSON: for a JSON column, whichever door it came in by (API, page or sync push).
    True when it fits (so `Problems.check(check_json_size, …)` tells whether to go on).

    Walks the value without recursion and stops at the first bound passed, so a hostile value costs no more than
    the bound to refuse."""
    if isinstance(value, (list, dict)) and len(value) > max_items:
        raise InvalidField(field, MSG_TOO_MANY, max=max_items)
    size = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= max_depth:
                raise InvalidField(field, MSG_TOO_DEEP)
            size += 2 + len(item)
            for key, inner in item.items():
                size += len(str(key).encode()) + 3
                stack.append((inner, depth + 1))
        elif isinstance(item, (list, tuple)):
            if depth >= max_depth:
                raise InvalidField(field, MSG_TOO_DEEP)
            size += 2 + len(item)
            stack.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, str):
            size += len(item.encode()) + 2
        else:
            size += 24  # a number, true/false/null: at most this many characters
        if size > max_bytes:
            raise InvalidField(field, MSG_TOO_BIG, max=max_bytes // 1024)
    return True

_SPACES = re.compile(r"\s+")


def _clean(value: str | None) -> str:
    # NFKC turns the full-width digits, letters and spaces a Chinese input method produces into ASCII.
    return _SPACES.sub("", unicodedata.normalize("NFKC", value or ""))


def _is_digits(text: str, length: int) -> bool:
    # str.isdigit() would also accept digits of other scripts, which no code here may contain.
    return len(text) == length and all("0" <= ch <= "9" for ch in text)


# --- unified social credit code (GB 32100-2015) ------------------------------------------------

# I, O, Z, S, V are left out because they are easily misread as 1, 0, 2, 5, U.
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUE = {ch: i for i, ch in enumerate(CREDIT_ALPHABET)}
# 3^i mod 31 for i = 0..16, as tabulated in GB 32100-2015.
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# Registration authority (position 1) -> organisation categories it may issue (position 2).
# GB 32100-2015 table 1, plus "A" (military) and "N" (rural collectives), which were assigned
# after the standard was published. Any other pair is refused.
CREDIT_CATEGORIES: dict[str, str] = {
    "1": "1239",    # 机构编制: 机关, 事业单位, 群众团体, 其他
    "2": "19",      # 外交: 外国常驻新闻机构, 其他
    "3": "123459",  # 司法行政: 律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    "4": "19",      # 文化: 外国在华文化中心, 其他
    "5": "1239",    # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",     # 旅游: 外国旅游部门常驻代表机构, 港澳台旅游部门常驻代表机构, 其他
    "7": "129",     # 宗教: 宗教活动场所, 宗教院校, 其他
    "8": "19",      # 工会: 基层工会, 其他
    "9": "123",     # 工商: 企业, 个体工商户, 农民专业合作社
    "A": "19",      # 中央军委改革和编制办公室: 军队事业单位, 其他
    "N": "1239",    # 农业: 组级, 村级, 乡镇级集体经济组织, 其他
    "Y": "1",       # 其他: not subdivided
}

# Codes issued by national-level authorities (e.g. the Ministry of Civil Affairs for national
# associations) carry 100000, which is not a GB/T 2260 division.
_NATIONAL_REGION = "100000"

# GB 11714 weights for the eight body characters of an organisation code.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_value(ch: str) -> int:
    # GB 11714 values letters by their place in the full Latin alphabet (A=10 .. Z=35), unlike
    # GB 32100, which counts only its own 31 characters.
    if "0" <= ch <= "9":
        return int(ch)
    if "A" <= ch <= "Z":
        return ord(ch) - ord("A") + 10
    raise ValueError(f"not an organisation code character: {ch!r}")


def organisation_code_check_char(first8: str) -> str:
    """The ninth (check) character of a GB 11714 organisation code from its first eight."""
    if len(first8) != 8:
        raise ValueError("an organisation code body has 8 characters")
    remainder = 11 - sum(w * _org_value(ch) for w, ch in zip(_ORG_WEIGHTS, first8.upper())) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def credit_code_check_char(first17: str) -> str:
    """The eighteenth (check) character of a unified social credit code from its first seventeen."""
    if len(first17) != 17:
        raise ValueError("a credit code without its check character has 17 characters")
    try:
        total = sum(w * _CREDIT_VALUE[ch] for w, ch in zip(_CREDIT_WEIGHTS, first17.upper()))
    except KeyError as exc:
        raise ValueError(f"not a credit code character: {exc.args[0]!r}") from None
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def make_credit_code(authority: str, category: str, region: str, org_body8: str) -> str:
    """A credit code with both check characters computed; for demo data and tests.

    Raises ValueError (a programming error, not a user's) when a part cannot appear in a code.
    """
    authority, org_body8 = authority.upper(), org_body8.upper()
    if len(category) != 1 or category not in CREDIT_CATEGORIES.get(authority, ""):
        raise ValueError(f"no organisation category {category!r} under authority {authority!r}")
    if not _is_digits(region, 6):
        raise ValueError("a region code has 6 digits")
    if len(org_body8) != 8 or any(ch not in _CREDIT_VALUE for ch in org_body8):
        raise ValueError("an organisation code body has 8 credit code characters")
    org_code = org_body8 + organisation_code_check_char(org_body8)
    first17 = authority + category + region + org_code
    return first17 + credit_code_check_char(first17)


def validate_credit_code(value: str | None, field: str = "credit_code") -> str:
    """A unified social credit code, spaces removed and upper-cased.

    The region part is only checked for a real province prefix (or the national 100000):
    a code keeps the region of its first registration for life, so old codes carry divisions
    that have since been merged or renamed and are no longer in the table.
    """
    code = _clean(value).upper()
    if len(code) != 18:
        raise InvalidField(field, MSG_CREDIT_LENGTH)
    for ch in code:
        if ch not in _CREDIT_VALUE:
            raise InvalidField(field, MSG_CREDIT_CHAR, char=ch)
    if code[1] not in CREDIT_CATEGORIES.get(code[0], ""):
        raise InvalidField(field, MSG_CREDIT_CATEGORY)
    region = code[2:8]
    if not _is_digits(region, 6) or not (region == _NATIONAL_REGION or regions.is_province_prefix(region)):
        raise InvalidField(field, MSG_CREDIT_REGION)
    # The organisation code is checked first because its failure pins the typo to positions
    # 9-17; the final check character below covers every position.
    if organisation_code_check_char(code[8:16]) != code[16]:
        raise InvalidField(field, MSG_CREDIT_ORG_CHECK)
    if credit_code_check_char(code[:17]) != code[17]:
        raise InvalidField(field, MSG_CREDIT_CHECK)
    return code


# --- resident ID number (GB 11643-1999) ---------------------------------------------------------

# ISO 7064 MOD 11-2: weight of position i is 2^(17-i) mod 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_PATTERN = re.compile(r"[0-9]{17}[0-9X]")
_EARLIEST_BIRTH = date(1900, 1, 1)


def id_number_check_digit(first17: str) -> str:
    """The eighteenth character (0-9 or X) of a resident ID number from its first seventeen digits."""
    if not _is_digits(first17, 17):
        raise ValueError("an ID number without its check digit has 17 digits")
    return _ID_CHECK[sum(w * int(d) for w, d in zip(_ID_WEIGHTS, first17)) % 11]


def make_id_number(region6: str, birth: date, seq3: int) -> str:
    """An ID number with its check digit computed; seq3 is odd for men, even for women."""
    if not _is_digits(region6, 6):
        raise ValueError("a region code has 6 digits")
    if not 0 <= seq3 <= 999:
        raise ValueError("the sequence number has 3 digits")
    first17 = f"{region6}{birth:%Y%m%d}{seq3:03d}"
    return first17 + id_number_check_digit(first17)


def validate_id_number(value: str | None, field: str = "id_number") -> str:
    """A resident ID number, spaces removed and a final x upper-cased.

    Like credit codes, ID numbers keep the address code of first issue, so only the province
    prefix is required to exist.
    """
    number = _clean(value).upper()
    if not _ID_PATTERN.fullmatch(number):
        raise InvalidField(field, MSG_ID_FORMAT)
    if not regions.is_province_prefix(number[:2]):
        raise InvalidField(field, MSG_ID_REGION)
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidField(field, MSG_ID_BIRTH) from None
    if not _EARLIEST_BIRTH <= birth <= date.today():
        raise InvalidField(field, MSG_ID_BIRTH)
    if id_number_check_digit(number[:17]) != number[17]:
        raise InvalidField(field, MSG_ID_CHECK)
    return number


def mask_id_number(value: str) -> str:
    """The ID number with all but the first 6 and last 4 characters hidden, for lists and logs.

    Never raises: whatever was stored is shown masked, and a value too short to keep both ends
    without revealing most of it is hidden entirely.
    """
    number = _clean(value).upper()
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


# --- mobile numbers -------------------------------------------------------------------------------

_MOBILE_PATTERN = re.compile(r"1[3-9][0-9]{9}")


def _strip_mobile(value: str) -> str:
    digits = re.sub(r"[-()]", "", _clean(value))
    if digits.startswith("+86"):
        return digits[3:]
    if digits.startswith("0086"):
        return digits[4:]
    # A bare 86 is only a country code when it leaves exactly 11 digits behind.
    if digits.startswith("86") and len(digits) == 13:
        return digits[2:]
    return digits


def validate_mobile(value: str | None, field: str = "phone") -> str:
    """A mainland mobile number as 11 digits, without country code, spaces or dashes."""
    number = _strip_mobile(value or "")
    if not _MOBILE_PATTERN.fullmatch(number):
        raise InvalidField(field, MSG_MOBILE)
    return number


def mask_phone(value: str) -> str:
    """The phone number with its middle four digits hidden, e.g. 138****5678; never raises."""
    number = _strip_mobile(value or "")
    if len(number) < 8:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


# --- region codes ---------------------------------------------------------------------------------


def validate_region_code(value: str | None, field: str = "region_code") -> str:
    """A six-digit administrative division code that exists in the current table."""
    code = _clean(value)
    if not _is_digits(code, 6):
        raise InvalidField(field, MSG_REGION_FORMAT)
    if not regions.is_known(code):
        raise InvalidField(field, MSG_REGION_UNKNOWN)
    return code
