"""Write the small hostile-input corpus (checked in) and its index CASES.md.

Run `uv run python tests/data/hostile/make_corpus.py` to regenerate; the output is deterministic.
Each file is small; the big cases (a 10 MB field, 100k columns, a gzip bomb, deep nesting) are
written at test time by `make_big.py`. The expected outcome of every file is in
`tests/reliability/test_hostile.py` (`CASES`), and CASES.md lists them for humans.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import random
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEADER = (
    "email,firstName,lastName,company,title,phone,linkedinUrl,website,notes,source,status,"
    "tags,customFields"
)
FIELDS = HEADER.split(",")


def csv_cell(value: str) -> str:
    """One CSV cell, quoted when it must be (RFC 4180)."""
    if any(ch in value for ch in ',"\r\n') or value != value.strip(" "):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_text(header: list[str], rows: list[list[str]], newline: str = "\n") -> str:
    lines = [",".join(csv_cell(h) for h in header)]
    lines += [",".join(csv_cell(c) for c in row) for row in rows]
    return newline.join(lines) + newline


def full_row(email: str, value: str) -> list[str]:
    """A valid row carrying `value` in every field that can hold it: the text fields, the URLs
    without whitespace, a tag and a customFields value (status left to its default)."""
    url = "".join(value.split())
    return [
        email,
        *([value] * 5),
        url,
        url,
        value,
        value,
        "",
        json.dumps([value]),
        json.dumps({"k": value, value: 1}),
    ]


def files() -> dict[str, bytes]:
    """Every corpus file: name -> bytes."""
    out: dict[str, bytes] = {}

    def text(name: str, body: str, encoding: str = "utf-8") -> None:
        out[name] = body.encode(encoding)

    # --- encodings ----------------------------------------------------------------------------
    latin = "email,first_name,company\nann@ex.com,Zoë,Café Crème\nbob@ex.com,Jürgen,Straße\n"
    text("enc_latin1.csv", latin + "cy@ex.com,Ā\x81,x\n".replace("Ā", "A"), "latin-1")
    text(
        "enc_cp1252.csv",
        "email,first_name,notes\nann@ex.com,\u201cAnn\u201d,costs 5\u20ac \u2013 ok\n",
        "cp1252",
    )
    out["enc_utf8_bom.csv"] = codecs.BOM_UTF8 + "email,first_name\nann@ex.com,Åsa\n".encode()
    out["enc_utf16le_bom.csv"] = codecs.BOM_UTF16_LE + (
        "email,first_name\nann@ex.com,Łucja\nbob@ex.com,日本\n".encode("utf-16-le")
    )
    out["enc_utf16be_bom.csv"] = codecs.BOM_UTF16_BE + (
        "email,first_name\nann@ex.com,Ørjan\n".encode("utf-16-be")
    )
    out["enc_utf16le_no_bom.csv"] = "email,first_name\nann@ex.com,Ann\n".encode("utf-16-le")
    out["enc_utf32_bom.csv"] = "email,first_name\nann@ex.com,Ann\n".encode("utf-32")
    out["enc_mixed_utf8_latin1.csv"] = (
        "email,first_name\nann@ex.com,Zoë\n".encode()
        + "bob@ex.com,Zoë\n".encode("latin-1")
        + "cy@ex.com,日本\n".encode()
    )
    out["enc_utf8_bom_then_invalid.csv"] = (
        codecs.BOM_UTF8 + b"email,first_name\nann@ex.com,A\xff\xfeB\nbob@ex.com,\xc0\xaf\n"
    )
    text("enc_shift_jis.csv", "email,company\nann@ex.com,株式会社テスト\n", "shift_jis")
    out["enc_overlong_utf8.csv"] = b"email,notes\nann@ex.com,\xc0\xaf\xe0\x80\xaf\xed\xa0\x80\n"

    # --- NUL characters ---------------------------------------------------------------------
    nul_rows = [["nul\x00@ex.com", *[""] * 12]]
    for position, name in enumerate(FIELDS[1:], start=1):
        row = [f"f{position}@ex.com", *[""] * 12]
        row[position] = (
            '["a\\u0000"]'
            if name == "tags"
            else '{"k":"v\\u0000"}'
            if name == "customFields"
            else f"x\x00{name}"
        )
        nul_rows.append(row)
    nul_rows.append(["all\x00@ex.com", *[f"v\x00{n}" for n in FIELDS[1:11]], "a\x00;b", "{}"])
    nul_rows.append(["ok@ex.com", *[""] * 12])
    text("nul_every_field.csv", csv_text(FIELDS, nul_rows))
    text("nul_in_header.csv", "email,first\x00name,comp\x00any\nann@ex.com,Ann,X\n")
    text("nul_in_email_header.csv", "em\x00ail\nann@ex.com\n")
    out["nul_only.csv"] = b"\x00" * 2048
    text("nul_quoted_multiline.csv", 'email,notes\nann@ex.com,"a\x00\nb"\nbob@ex.com,"ok"\n')
    text("nul_raw_email_formula.csv", "email,first_name\n=\x00HYPERLINK(1),A\n")

    # --- ragged rows, quotes ------------------------------------------------------------------
    text(
        "ragged_rows.csv",
        "email,first_name,company\nann@ex.com,Ann\nbob@ex.com,Bob,B,extra\n"
        "cy@ex.com,Cy,C\ndee@ex.com\n,,,,,,\n",
    )
    text("ragged_trailing_delimiters.csv", "email,first_name,\nann@ex.com,Ann,\nbob@ex.com,Bob,,\n")
    text("only_delimiters.csv", "email,first_name\n,\n,\n,,\n")
    text(
        "quote_unterminated_last.csv",
        'email,notes\nann@ex.com,fine\nbob@ex.com,"never closed\nstill open\n',
    )
    text(
        "quote_unterminated_middle.csv",
        'email,notes\nann@ex.com,"broken\nbob@ex.com,ok\ncy@ex.com,ok\n',
    )
    text("quote_text_after_close.csv", 'email,notes\nann@ex.com,"x"y\nbob@ex.com,"ok"\n')
    text("quote_in_unquoted.csv", 'email,notes\nann@ex.com,say "hi"\nbob@ex.com,5"\n')
    text("quote_header_unterminated.csv", 'email,"notes\nann@ex.com,x\n')
    text(
        "quote_multiline_valid.csv",
        'email,notes\nann@ex.com,"line1\nline2\r\n\\.\n""q"""\nbob@ex.com,"\\N"\n',
    )
    text("copy_markers.csv", 'email,notes,company\nann@ex.com,"\\.","\\N"\nbob@ex.com,\\,\\\\\n')

    # --- headers ------------------------------------------------------------------------------
    text(
        "header_duplicates.csv",
        "email,Email,first_name,First Name,email\nann@ex.com,bob@ex.com,Ann,Bob,cy@ex.com\n",
    )
    text("header_blank_names.csv", ",email,,\nx,ann@ex.com,y,z\n")
    text("header_variants.csv", " E-Mail , FIRST_NAME ,Company Name\nann@ex.com,Ann,Acme\n")
    text(
        "header_sql_injection.csv",
        'email,"name\'); DROP TABLE leads;--","customFields.\'; DELETE FROM leads; --",'
        '"""; TRUNCATE workspaces CASCADE; --"\n'
        'ann@ex.com,x,"1; DROP TABLE campaigns",y\n',
    )
    text(
        "header_customfield_keys_hostile.csv",
        'email,customFields.a"b,customFields.\\,customFields.$.x,customFields.\u202ekey\n'
        "ann@ex.com,1,2,3,4\n",
    )
    text("header_emoji_rtl.csv", "email,\U0001f600,\u05e9\u05dd,\u200b\nann@ex.com,a,b,c\n")

    # --- values: SQL, formulas ----------------------------------------------------------------
    sql = [
        "'; DROP TABLE leads; --",
        "Robert'); DROP TABLE students;--",
        "1 OR 1=1",
        "$$; DELETE FROM leads; $$",
        "\\'; SELECT pg_sleep(10); --",
        "E'\\x27'",
        '{"a"}',
    ]
    sql_rows = [full_row(f"s{i}@ex.com", v) for i, v in enumerate(sql)]
    sql_rows.append(["o'brien@ex.com", *[""] * 12])
    sql_rows.append(["x');drop table leads;--@ex.com", *[""] * 12])
    text("sql_injection_values.csv", csv_text(FIELDS, sql_rows))
    formulas = [
        "=1+2",
        "+1+2",
        "-1+2",
        "@SUM(1+1)",
        "=cmd|' /C calc'!A0",
        '=HYPERLINK("http://evil.example","x")',
        "\t=1+2",
        "\r=1+2",
    ]
    formula_rows = [full_row(f"fm{i}@ex.com", v) for i, v in enumerate(formulas)]
    formula_rows += [
        ["=1+2@ex.com", *[""] * 12],
        ["+tag@ex.com", *[""] * 12],
        ["-x@ex.com", *[""] * 12],
        ['=HYPERLINK("http://evil.example")', *[""] * 12],
        ["@evil", *[""] * 12],
        ["\t=1+2", *[""] * 12],
        ["\r=1+2@ex.com", *[""] * 12],
    ]
    text("formula_prefixes.csv", csv_text(FIELDS, formula_rows))

    # --- customFields and tags ----------------------------------------------------------------
    custom = [
        "{not json",
        "[1,2]",
        '"a string"',
        "123",
        "null",
        '{"a":',
        "{'single': 'quotes'}",
        '{"n": NaN}',
        '{"a":1,"a":2}',
        '{"big": 123456789012345678901234567890.5e300}',
        '{"x": "\\ud800"}',
        '{"\\ud83d\\ude00": "emoji key"}',
        '{"k\\u0000": 1}',
        '{"a": {"b": {"c": [1, {"d": null}]}}}',
        '{"sql": "\'; DROP TABLE leads; --"}',
    ]
    custom_rows = [[f"c{i}@ex.com", *[""] * 11, value] for i, value in enumerate(custom)]
    text("custom_fields_invalid.csv", csv_text(FIELDS, custom_rows))
    deep = "[" * 2000 + "]" * 2000
    text(
        "custom_fields_deep_nesting.csv",
        csv_text(
            ["email", "customFields"],
            [
                ["at100@ex.com", '{"a":' * 99 + "{}" + "}" * 99],
                ["at101@ex.com", '{"a":' * 100 + "{}" + "}" * 100],
                ["b@ex.com", '{"d":' + deep + "}"],
            ],
        ),
    )
    tags = [
        "[1,2]",
        '["a",{"b":1}]',
        "[",
        '["' + "t" * 101 + '"]',
        "a;b,,c; a",
        "[null]",
        '["\\ud800"]',
        "[]",
    ]
    tag_rows = [[f"t{i}@ex.com", *[""] * 10, value, ""] for i, value in enumerate(tags)]
    text("tags_invalid.csv", csv_text(FIELDS, tag_rows))

    # --- emails -------------------------------------------------------------------------------
    emails = {
        "emails_emoji.csv": ["\U0001f600@ex.com", "ann@ex\U0001f600.com", "ann@ex.com\U0001f600"],
        "emails_rtl.csv": [
            "\u202eann@ex.com",
            "ann@\u202eex.com",
            "\u05e9@ex.com",
            "ann\u200f@ex.com",
        ],
        "emails_zero_width.csv": [
            "ann\u200b@ex.com",
            "\ufeffann@ex.com",
            "ann@ex.com\u200d",
            "ann@ex\u2060.com",
        ],
        "emails_homoglyph.csv": ["\u0430nn@ex.com", "ann@\u0435x.com", "\uff41nn@ex.com"],
        "emails_control_chars.csv": [
            "ann\x01@ex.com",
            "ann@ex.com\x7f",
            "ann\x1c@ex.com",
            "\x1b[31m@ex.com",
        ],
        "emails_long.csv": [
            "a" * 64 + "@ex.com",
            "a" * 65 + "@ex.com",
            "a@" + ".".join(["b" * 63] * 3) + ".com",
            "a@" + ".".join(["b" * 63] * 4) + ".com",
            "x" * 5000,
        ],
        "emails_case_nfc.csv": ["ANN@EX.COM", "ann@ex.com", " Ann@Ex.Com ", "e\u0301@ex.com"],
    }
    for name, values in emails.items():
        text(name, csv_text(["email"], [[v] for v in values] + [["ok@ex.com"]]))

    # --- empty and header-only ----------------------------------------------------------------
    out["empty.csv"] = b""
    text("whitespace_only.csv", "\n\n\r\n\n")
    text("header_only.csv", "email,first_name\n")
    text("header_only_crlf_no_newline.csv", "email,first_name")
    text("header_then_blank_lines.csv", "email,first_name\n\n\r\n\n")
    out["bom_only.csv"] = codecs.BOM_UTF8
    text("no_email_column.csv", "name,company\nAnn,Acme\n")

    # --- binary and mislabelled files ---------------------------------------------------------
    rng = random.Random(6)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.randrange(256) for _ in range(2000))
    out["binary_png.csv"] = png
    out["binary_random.csv"] = bytes(rng.randrange(256) for _ in range(4096))
    out["binary_truncated.csv.gz"] = gzip.compress(b"email\nann@ex.com\n" * 100, mtime=0)[:40]
    out["binary_gzip_named_csv.csv"] = gzip.compress(b"email\nann@ex.com\n", mtime=0)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        info = zipfile.ZipInfo("email.csv", date_time=(2020, 1, 1, 0, 0, 0))
        archive.writestr(info, "email\nann@ex.com\n")
    out["binary_zip_named_csv.csv"] = zipped.getvalue()
    out["binary_elf.csv"] = b"\x7fELF\x02\x01\x01" + bytes(rng.randrange(256) for _ in range(1000))

    # --- line endings and delimiters ----------------------------------------------------------
    text("crlf.csv", "email,first_name\r\nann@ex.com,Ann\r\nbob@ex.com,Bob\r\n")
    text("cr_only.csv", "email,first_name\rann@ex.com,Ann\rbob@ex.com,Bob\r")
    text("mixed_line_endings.csv", "email,first_name\r\nann@ex.com,Ann\nbob@ex.com,Bob\r\n")
    text("semicolon.csv", "email;first_name;tags\nann@ex.com;Ann;a,b\n")
    text("pipe_with_commas.csv", "email|notes\nann@ex.com|a, b, c\n")

    # --- other formats ------------------------------------------------------------------------
    text("json_truncated.json", '[{"email": "ann@ex.com"}, {"email": ')
    text("json_not_array.json", '{"email": "ann@ex.com"}')
    text(
        "json_wrong_types.json",
        json.dumps(
            [
                {"email": 5, "firstName": "A"},
                {"email": "b@ex.com", "firstName": ["x"], "status": True},
                {"email": "c@ex.com", "customFields": "str", "tags": "a"},
                {"email": "d@ex.com", "customFields": {"k": [1, {"z": None}]}, "tags": [1]},
                "not an object",
                {"email": "e@ex.com"},
            ]
        ),
    )
    text("json_deep_nesting.json", "[" + '{"email":"a@ex.com","customFields":' + deep + "}]")
    text(
        "ndjson_garbage_lines.ndjson",
        '{"email": "ann@ex.com"}\nnot json\n[1,2]\n\n{"email": "bob@ex.com", "notes": "\\u0000"}\n'
        '{"email": "cy@ex.com", "firstName": "\\ud800"}\n{"email":\n',
    )
    text(
        "ndjson_lenient_json.ndjson",
        '{"email": "a@ex.com", "customFields": {"n": NaN}}\n'
        '{"email": "b@ex.com", "customFields": {"a": [1, 2,], }}\n'
        '{"email": "c@ex.com", "customFields": {"n": -Infinity}}\n'
        '{"email": "d@ex.com", "customFields": {"n": 1e400, "m": -0.5E-7}}\n',
    )
    text("fake.parquet", "email\nann@ex.com\n")
    text("fake.xlsx", "email\nann@ex.com\n")
    return out


def main() -> None:
    """Write the corpus next to this script."""
    for name, data in sorted(files().items()):
        (HERE / name).write_bytes(data)
    print(f"wrote {len(files())} files")


if __name__ == "__main__":
    main()
