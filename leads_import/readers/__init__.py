"""Readers: files, URLs and SQL sources turned into raw lead frames, chunk by chunk.

`sources` opens a file by format (`open_source`); `chunks` streams delimited and NDJSON files
in record-aligned pieces, decoded by `encoding` and parsed by `csv_parser` or `ndjson`;
`formats` names the formats, `fetch` downloads URLs and `warehouse` reads SQL sources.
"""
