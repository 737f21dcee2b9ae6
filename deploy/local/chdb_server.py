#!/usr/bin/env python3
"""A local server speaking the ClickHouse HTTP interface, backed by chDB (in-process ClickHouse).

For development and tests on machines without a ClickHouse server binary or Docker. One process,
one chDB session, every engine call serialized under one lock. See deploy/local/README.md.

    deploy/local/venv.sh && .venv/bin/python deploy/local/chdb_server.py --port 8123
"""

import argparse
import bz2
import email.parser
import email.policy
import fcntl
import gzip
import json
import logging
import lzma
import os
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import lz4.block
import lz4.frame
from clickhouse_cityhash.cityhash import CityHash128

try:  # optional: only used when installed (not part of requirements.txt)
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DATA_PATH = os.path.join(REPO_ROOT, ".data", "clickhouse")

log = logging.getLogger("chdb-server")

KEEP_ALIVE_TIMEOUT = 30  # seconds an idle keep-alive connection is kept open
INSERT_CHUNK = 1 << 20  # bytes handed to chDB per streaming-insert append
NATIVE_BLOCK = 1 << 20  # uncompressed bytes per block of the compress=1 response format
MAX_NATIVE_BLOCK = 1 << 30  # refuse absurd sizes in compressed request blocks

# HTTP-interface parameters that are not settings (ClickHouse's HTTPHandler reserved names).
RESERVED_PARAMS = {
    "query", "compress", "decompress", "user", "password", "quota_key", "query_id", "stacktrace",
    "role", "buffer_size", "wait_end_of_query", "session_id", "session_timeout", "session_check",
    "client_protocol_version", "close_session", "database", "default_format",
}

# How ClickHouse maps exception codes to HTTP statuses (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp).
STATUS_BY_ERROR = {}
for _names, _status in (
    (("REQUIRED_PASSWORD",), 401),
    (("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE",
      "ACCESS_DENIED"), 403),
    (("BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE",
      "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME",
      "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", "CANNOT_PARSE_IPV4",
      "CANNOT_PARSE_IPV6", "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "CANNOT_PARSE_UUID",
      "DUPLICATE_COLUMN", "ILLEGAL_COLUMN", "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE",
      "THERE_IS_NO_COLUMN", "TOO_DEEP_AST", "TOO_BIG_AST", "UNEXPECTED_AST_STRUCTURE",
      "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH", "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"), 400),
    (("UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE", "UNKNOWN_STORAGE",
      "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING",
      "UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE",
      "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE"), 404),
    (("QUERY_IS_TOO_LARGE",), 413),
    (("NOT_IMPLEMENTED",), 501),
    (("SOCKET_TIMEOUT", "CANNOT_OPEN_FILE", "CANNOT_SCHEDULE_TASK"), 503),
    (("HTTP_LENGTH_REQUIRED",), 411),
    (("TIMEOUT_EXCEEDED",), 408),
    (("UNSUPPORTED_MEDIA_TYPE",), 415),
):
    for _name in _names:
        STATUS_BY_ERROR[_name] = _status

# Codes for the errors this server raises itself; completed from the engine at start-up.
ERROR_CODES = {
    "BAD_ARGUMENTS": 36, "CHECKSUM_DOESNT_MATCH": 40, "NOT_IMPLEMENTED": 48, "SYNTAX_ERROR": 62,
    "UNKNOWN_TYPE_OF_QUERY": 78, "UNKNOWN_COMPRESSION_METHOD": 89, "UNKNOWN_SETTING": 115,
    "READONLY": 164, "CANNOT_READ_ALL_DATA": 33, "TOO_LARGE_SIZE_COMPRESSED": 270,
    "CANNOT_DECOMPRESS": 271, "INTO_OUTFILE_NOT_ALLOWED": 358, "STD_EXCEPTION": 1001,
}


class CHError(Exception):
    """An error in ClickHouse's own shape: `Code: N. DB::Exception: message. (NAME)`."""

    def __init__(self, code, name, text):
        super().__init__(text)
        self.code = code
        self.name = name
        self.text = text

    @classmethod
    def make(cls, name, message):
        code = ERROR_CODES.get(name, 1001)
        return cls(code, name, f"Code: {code}. DB::Exception: {message}. ({name})")

    @property
    def http_status(self):
        return STATUS_BY_ERROR.get(self.name, 500)


_NESTED_CODE = re.compile(r"Code: (\d+)\. DB::Exception: (Code: \1\. DB::Exception: .*)\Z", re.S)
_VERSION_TAIL = re.compile(r"\s*\(version [^()]*(?:\([^()]*\)[^()]*)*\)\s*\Z")
_NAME_TAIL = re.compile(r"\(([A-Z][A-Z0-9_]*)\)\s*\Z")


def engine_error(exc):
    """Turns an exception raised by chDB into a CHError, normalizing chDB's wrapping of messages."""
    text = str(exc).strip()
    pos = text.find("Code: ")
    if pos < 0:
        return CHError.make("STD_EXCEPTION", text or type(exc).__name__)
    text = text[pos:]
    while True:  # chDB sometimes nests the same exception: Code: N. DB::Exception: Code: N. ...
        m = _NESTED_CODE.match(text)
        if not m:
            break
        inner = m.group(2)
        inner = re.sub(r"\. \([A-Z][A-Z0-9_]*\)\s*\Z", "", inner, count=1)
        text = _VERSION_TAIL.sub("", inner)
    text = _VERSION_TAIL.sub("", text)
    code = int(re.match(r"Code: (\d+)", text).group(1))
    m = _NAME_TAIL.search(text)
    name = m.group(1) if m else next((n for n, c in ERROR_CODES.items() if c == code), "")
    return CHError(code, name, text)


# --------------------------------------------------------------------------------------------
# A small lexer for ClickHouse SQL: enough to find statement boundaries, FORMAT clauses and where
# the inline data of an INSERT begins, without ever looking into the data itself.

_WS = re.compile(r"[ \t\n\r\f\v]+")
_WORD = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_NUMBER = re.compile(r"\d[\w.]*(?:(?<=[eE])[+-]\d+)?")
_HEREDOC = re.compile(r"\$([A-Za-z0-9_]*)\$")


class Tok:
    __slots__ = ("kind", "start", "end", "text")

    def __init__(self, kind, start, end, text):
        self.kind, self.start, self.end, self.text = kind, start, end, text

    def word(self):
        return self.text.upper() if self.kind == "word" else None

    def __repr__(self):
        return f"Tok({self.kind},{self.text!r})"


def lex(text, pos=0):
    """Yields the significant tokens of text (comments and whitespace skipped)."""
    n = len(text)
    while pos < n:
        c = text[pos]
        m = _WS.match(text, pos)
        if m:
            pos = m.end()
            continue
        if text.startswith("--", pos) or (c == "#" and text[pos + 1:pos + 2] in (" ", "!")):
            nl = text.find("\n", pos)
            pos = n if nl < 0 else nl + 1
            continue
        if text.startswith("/*", pos):
            depth, i = 1, pos + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            pos = i
            continue
        if c in "'\"`":
            i = pos + 1
            while i < n:
                ch = text[i]
                if ch == "\\":
                    i += 2
                    continue
                if ch == c:
                    if text[i + 1:i + 2] == c:  # doubled quote
                        i += 2
                        continue
                    break
                i += 1
            end = min(i + 1, n)
            kind = "string" if c == "'" else "qident"
            if i >= n:
                kind = "error"
            yield Tok(kind, pos, end, text[pos:end])
            pos = end
            continue
        if c == "$":
            m = _HEREDOC.match(text, pos)
            if m:
                close = text.find(m.group(0), m.end())
                end = n if close < 0 else close + len(m.group(0))
                yield Tok("string", pos, end, text[pos:end])
                pos = end
                continue
        m = _WORD.match(text, pos)
        if m:
            yield Tok("word", pos, m.end(), m.group(0))
            pos = m.end()
            continue
        m = _NUMBER.match(text, pos)
        if m:
            yield Tok("number", pos, m.end(), m.group(0))
            pos = m.end()
            continue
        yield Tok("punct", pos, pos + 1, c)
        pos += 1


OPEN, CLOSE = "([{", ")]}"
READ_ONLY_KINDS = {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "USE", "SET",
                   "(", "FROM", "VALUES", "CHECK", "WATCH"}


class Statement:
    def __init__(self):
        self.kind = ""  # first keyword, upper case ("(" for a parenthesized query)
        self.end = None  # end of the statement text (a trailing ';' and what follows excluded)
        self.multi_at = None  # index of the ';' that starts a second statement
        self.out_format = None  # FORMAT clause of a query
        self.into_outfile = False
        self.insert_format = None  # INSERT with inline data: its format ("Values" for VALUES)
        self.insert_head_end = None  # where FORMAT/VALUES begins: text[:this] is the INSERT head
        self.insert_settings_at = None  # start of the INSERT's own SETTINGS clause (in the head)
        self.data_start = None  # where the inline data begins
        self.has_infile = False
        self.excessive_semicolon = False  # INSERT ... FORMAT X;data


def analyze(text):
    st = Statement()
    toks = lex(text)
    first = next(toks, None)
    if first is None:
        return st
    st.kind = first.word() or first.text
    if st.kind == "INSERT":
        if _analyze_insert(text, toks, st):
            return st
    _scan_rest(text, toks, st)
    return st


def _analyze_insert(text, toks, st):
    """Finds the inline data of an INSERT. Returns True when the statement has data (FORMAT/VALUES)."""
    tok = next(toks, None)
    if tok is not None and tok.word() == "INTO":
        tok = next(toks, None)
    if tok is not None and tok.word() == "TABLE":
        tok = next(toks, None)
    if tok is not None and tok.word() == "FUNCTION":
        tok = next(toks, None)  # the function's name; its arguments are skipped below as a group
    elif tok is not None and tok.kind in ("word", "qident"):
        tok = next(toks, None)  # the table (possibly db.table): skip so `format`/`values` as names work
        while tok is not None and tok.text == "." :
            next(toks, None)
            tok = next(toks, None)
    depth, prev = 0, None
    while tok is not None:
        if tok.kind == "punct" and tok.text in OPEN:
            depth += 1
        elif tok.kind == "punct" and tok.text in CLOSE:
            depth -= 1
        elif depth == 0 and tok.kind == "punct" and tok.text == ";":
            _check_multi(text, toks, st, tok)
            return True
        elif depth == 0 and tok.kind == "word":
            w = tok.word()
            if w in ("SELECT", "WITH"):
                return False
            if w == "INFILE" and prev is not None and prev.word() == "FROM":
                st.has_infile = True
            elif w == "SETTINGS" and st.insert_settings_at is None:
                st.insert_settings_at = tok.start
            elif w == "VALUES":
                st.insert_format = "Values"
                st.insert_head_end = tok.start
                st.data_start = tok.end
                return True
            elif w == "FORMAT":
                name = next(toks, None)
                if name is None or name.kind not in ("word", "qident"):
                    return True  # let the engine report the syntax error
                st.insert_format = name.text.strip("`\"")
                st.insert_head_end = tok.start
                i, n = name.end, len(text)
                if i < n and text[i] == ";":
                    st.excessive_semicolon = True
                # ClickHouse: data starts after spaces and at most one line feed after the name.
                while i < n and text[i] in " \t\f":
                    i += 1
                if i < n and text[i] == "\r":
                    i += 1
                if i < n and text[i] == "\n":
                    i += 1
                st.data_start = i
                return True
        prev = tok
        tok = next(toks, None)
    return True


def _check_multi(text, toks, st, semi):
    st.end = semi.start
    if next(toks, None) is not None:
        st.multi_at = semi.start


def _scan_rest(text, toks, st):
    depth, prev, pending_format = 0, None, None
    for tok in toks:
        if pending_format is not None:
            # A FORMAT clause ends the query (SETTINGS may follow it).
            if tok.word() == "SETTINGS" or (tok.kind == "punct" and tok.text == ";"):
                st.out_format = pending_format
            pending_format = None
        if tok.kind == "punct":
            if tok.text in OPEN:
                depth += 1
            elif tok.text in CLOSE:
                depth -= 1
            elif tok.text == ";" and depth <= 0:
                _check_multi(text, toks, st, tok)
                return
        elif depth == 0 and tok.kind in ("word", "qident"):
            pw = prev.word() if prev is not None else None
            if pw == "FORMAT" and prev is not None and (tok.kind == "qident" or tok.word() != "SETTINGS"):
                pending_format = tok.text.strip("`\"")
            elif pw == "INTO" and tok.word() == "OUTFILE":
                st.into_outfile = True
        prev = tok
    if pending_format is not None:
        st.out_format = pending_format


def quote_string(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_ident(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


# --------------------------------------------------------------------------------------------
# ClickHouse's compressed-block format (compress=1 / decompress=1):
#   16 bytes CityHash128 (v1.0.2) of the rest | 1 byte method | u32 LE size of header + payload
#   | u32 LE uncompressed size | payload

METHOD_NONE, METHOD_LZ4, METHOD_ZSTD = 0x02, 0x82, 0x90
_MASK64 = (1 << 64) - 1


def block_checksum(data):
    h = CityHash128(bytes(data))
    # The package returns (first << 64) | second; ClickHouse stores first, then second, each LE.
    return (h >> 64).to_bytes(8, "little") + (h & _MASK64).to_bytes(8, "little")


def compress_blocks(data, method=METHOD_LZ4, block_size=NATIVE_BLOCK):
    out = []
    view = memoryview(data)
    for off in range(0, len(data), block_size):
        chunk = bytes(view[off:off + block_size])
        if method == METHOD_LZ4:
            payload = lz4.block.compress(chunk, store_size=False)
        elif method == METHOD_ZSTD and zstandard is not None:
            payload = zstandard.ZstdCompressor(level=1).compress(chunk)
        else:
            method, payload = METHOD_NONE, chunk
        header = struct.pack("<BII", method, 9 + len(payload), len(chunk))
        out.append(block_checksum(header + payload))
        out.append(header)
        out.append(payload)
    return b"".join(out)


def decompress_blocks(data, verify=True):
    out = []
    pos, n = 0, len(data)
    view = memoryview(data)
    while pos < n:
        if n - pos < 25:
            raise CHError.make("CANNOT_READ_ALL_DATA",
                               f"Cannot read all data. Bytes read: {n - pos}. Bytes expected: 25")
        method, csize, usize = struct.unpack_from("<BII", data, pos + 16)
        if csize < 9 or csize > MAX_NATIVE_BLOCK:
            raise CHError.make("TOO_LARGE_SIZE_COMPRESSED",
                               f"Too large size_compressed_without_checksum: {csize}. "
                               "Most likely corrupted data")
        if usize > MAX_NATIVE_BLOCK:
            raise CHError.make("TOO_LARGE_SIZE_COMPRESSED",
                               f"Too large size_decompressed: {usize}. Most likely corrupted data")
        if n - pos - 16 < csize:
            raise CHError.make("CANNOT_READ_ALL_DATA",
                               f"Cannot read all data. Bytes read: {n - pos - 16}. "
                               f"Bytes expected: {csize}")
        block = view[pos + 16:pos + 16 + csize]
        if verify:
            expected = bytes(view[pos:pos + 16])
            actual = block_checksum(block)
            if expected != actual:
                raise CHError.make(
                    "CHECKSUM_DOESNT_MATCH",
                    f"Checksum doesn't match: corrupted data. Reference: 0x{expected.hex()}. "
                    f"Actual: 0x{actual.hex()}. Size of compressed block: {csize}")
        payload = block[9:]
        if method == METHOD_LZ4:
            try:
                chunk = lz4.block.decompress(bytes(payload), uncompressed_size=usize)
            except Exception as e:
                raise CHError.make("CANNOT_DECOMPRESS", f"Cannot decompress LZ4-encoded data: {e}")
        elif method == METHOD_ZSTD and zstandard is not None:
            try:
                chunk = zstandard.ZstdDecompressor().decompress(bytes(payload), max_output_size=usize)
            except Exception as e:
                raise CHError.make("CANNOT_DECOMPRESS", f"Cannot decompress ZSTD-encoded data: {e}")
        elif method == METHOD_NONE:
            chunk = bytes(payload)
        else:
            raise CHError.make("UNKNOWN_COMPRESSION_METHOD",
                               f"Unknown compression method: 0x{method:02x}")
        if len(chunk) != usize:
            raise CHError.make("CANNOT_DECOMPRESS",
                               f"Cannot decompress: expected {usize} bytes, got {len(chunk)}")
        out.append(chunk)
        pos += 16 + csize
    return b"".join(out)


# HTTP Content-Encoding (ClickHouse's preference order, restricted to what we can encode).
def _lz4_frames_decompress(data):
    out = []
    while data:
        d = lz4.frame.LZ4FrameDecompressor()
        out.append(d.decompress(data))
        if not d.eof:
            raise ValueError("truncated LZ4 frame")
        data = d.unused_data
    return b"".join(out)


def _zstd_decompress(data):
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def _deflate_decompress(data):
    try:
        return zlib.decompress(data)
    except zlib.error:
        return zlib.decompress(data, -zlib.MAX_WBITS)


REQUEST_DECODERS = {
    "gzip": gzip.decompress, "x-gzip": gzip.decompress, "deflate": _deflate_decompress,
    "lz4": _lz4_frames_decompress, "xz": lzma.decompress, "bz2": bz2.decompress,
}
if zstandard is not None:
    REQUEST_DECODERS["zstd"] = _zstd_decompress

RESPONSE_ENCODERS = [  # (name, encoder(data, level))
    # Framed like ClickHouse's own lz4 responses: independent 1 MiB blocks, content checksum.
    ("lz4", lambda d, lvl: lz4.frame.compress(d, block_size=lz4.frame.BLOCKSIZE_MAX1MB,
                                              block_linked=False, content_checksum=True,
                                              store_size=False)),
    ("gzip", lambda d, lvl: gzip.compress(d, compresslevel=max(1, min(lvl, 9)))),
    ("deflate", lambda d, lvl: zlib.compress(d, max(1, min(lvl, 9)))),
    ("xz", lambda d, lvl: lzma.compress(d)),
    ("bz2", lambda d, lvl: bz2.compress(d)),
]
if zstandard is not None:
    RESPONSE_ENCODERS.insert(
        0, ("zstd", lambda d, lvl: zstandard.ZstdCompressor(level=lvl).compress(d)))


def choose_response_encoding(accept):
    accept = accept.lower()
    for name, enc in RESPONSE_ENCODERS:
        if name in accept:
            return name, enc
    return None, None


def content_type_for(fmt):
    f = fmt.lower()
    if f.startswith("tabseparated") or f.startswith("tsv"):
        return "text/tab-separated-values; charset=UTF-8"
    if f.startswith("csv"):
        return "text/csv; charset=UTF-8; header=" + ("present" if "withnames" in f else "absent")
    if f.startswith("json") or f == "ndjson":
        return "application/json; charset=UTF-8"
    if f == "xml":
        return "application/xml; charset=UTF-8"
    if f.startswith(("rowbinary", "native", "parquet", "arrow", "orc", "avro", "protobuf",
                     "msgpack", "capnproto", "bson", "npy")):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


def truthy(value):
    v = str(value).strip().lower()
    if v in ("", "0", "false", "no", "off"):
        return False
    if v in ("1", "true", "yes", "on"):
        return True
    try:
        return float(v) != 0
    except ValueError:
        return True


# --------------------------------------------------------------------------------------------

class Engine:
    """The chDB session, every use serialized under one lock."""

    def __init__(self, path, insert_mode="stream"):
        self.path = path
        self.insert_mode = insert_mode
        self.lock = threading.Lock()
        self.sess = None
        self.current_db = None
        self.closed = False
        self.tmpdir = tempfile.mkdtemp(prefix="chdb-server-")
        self._open()
        self.version = self._rows("SELECT version()")[0][0]
        self.timezone = self._rows("SELECT timezone()")[0][0]
        self.settings_canonical = {}  # setting name (or alias) -> canonical name
        for name, alias_for in self._rows("SELECT name, alias_for FROM system.settings"):
            self.settings_canonical[name] = alias_for or name
        self.baseline = dict(self._rows("SELECT name, value FROM system.settings WHERE changed"))
        self.http_compression_default = truthy(self._rows(
            "SELECT getSetting('enable_http_compression')")[0][0])
        for code, name in self._rows(
                "SELECT number, errorCodeToName(number) AS n FROM numbers(2000) WHERE n != ''"):
            ERROR_CODES[name] = int(code)

    def _open(self):
        from chdb import session as chdb_session  # imported late: TZ must be set first

        self.sess = chdb_session.Session(self.path)
        self.current_db = None
        # clickhouse-local evaluates `1 + 1` as `SELECT 1 + 1`; a server does not.
        self.sess.query("SET implicit_select = 0", "TabSeparated")

    def _reset(self):
        log.warning("resetting the chDB session")
        try:
            self.sess.close()
        except Exception:  # pragma: no cover
            pass
        self._open()

    def _rows(self, sql):
        res = self.sess.query(sql, "JSONCompactEachRow")
        return [json.loads(line) for line in res.bytes().decode().splitlines() if line]

    def close(self, timeout=30):
        """Closes the session once the running statement (if any) is done. False on timeout."""
        if not self.lock.acquire(timeout=timeout):
            return False
        try:
            if self.sess is not None:
                self.sess.close()
                self.sess = None
            self.closed = True
        finally:
            self.lock.release()
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        return True

    def _use(self, database):
        if database != self.current_db:
            try:
                self.sess.query(f"USE {quote_ident(database)}", "TabSeparated")
            except Exception as e:
                raise engine_error(e)
            self.current_db = database

    def _restore(self, names):
        parts = []
        for name in dict.fromkeys(names):
            canon = self.settings_canonical.get(name, name)
            if canon in self.baseline:
                parts.append(f"{quote_ident(canon)} = {quote_string(self.baseline[canon])}")
            else:
                parts.append(f"{quote_ident(canon)} = DEFAULT")
        try:
            self.sess.query("SET " + ", ".join(parts), "TabSeparated")
        except Exception as e:  # e.g. a setting that breaks SET itself (max_query_size=1, dialect)
            log.warning("could not restore settings (%s): %s", ", ".join(names), e)
            self._reset()

    def execute(self, job):
        """Runs one request's statement. Returns (output bytes, summary dict)."""
        with self.lock:
            if self.closed:
                raise CHError.make("STD_EXCEPTION", "Server is shutting down")
            self._use(job.database)
            applied = []
            try:
                if job.settings:
                    applied = [n for n, _ in job.settings if n in self.settings_canonical]
                    assignments = ", ".join(f"{quote_ident(n)} = {quote_string(v)}"
                                            for n, v in job.settings)
                    try:
                        self.sess.query("SET " + assignments, "TabSeparated")
                    except Exception as e:
                        raise engine_error(e)
                if job.insert_head is not None:
                    return self._insert(job)
                return self._query(job)
            finally:
                if applied:
                    self._restore(applied)
                if job.statement_kind == "USE":
                    self.current_db = None  # the statement moved the session; USE again next time

    def _query(self, job):
        t0 = time.perf_counter_ns()
        try:
            res = self.sess.query(job.sql, job.default_format, params=job.params or None)
        except Exception as e:
            raise engine_error(e)
        elapsed = int(res.elapsed() * 1e9) if res.elapsed() else time.perf_counter_ns() - t0
        summary = {
            "read_rows": res.storage_rows_read(), "read_bytes": res.storage_bytes_read(),
            "written_rows": res.rows_written(), "written_bytes": res.bytes_written(),
            "total_rows_to_read": res.storage_rows_read(),
            "result_rows": res.rows_read(), "result_bytes": res.bytes_read(),
            "elapsed_ns": elapsed,
        }
        return res.bytes(), summary

    def _insert(self, job):
        t0 = time.perf_counter_ns()
        if self.insert_mode == "infile":
            rows, nbytes = self._insert_infile(job)
        else:
            rows, nbytes = self._insert_stream(job)
        summary = {
            "read_rows": rows, "read_bytes": nbytes, "written_rows": rows,
            "written_bytes": nbytes, "total_rows_to_read": 0, "result_rows": rows,
            "result_bytes": nbytes, "elapsed_ns": time.perf_counter_ns() - t0,
        }
        return b"", summary

    def _insert_stream(self, job):
        try:
            ins = self.sess.send_insert(job.insert_head, job.insert_format)
        except Exception as e:
            raise engine_error(e)
        try:
            for off in range(0, len(job.data), INSERT_CHUNK):
                ins.append(job.data[off:off + INSERT_CHUNK])
            res = ins.finish()
        except Exception as e:
            try:
                ins.cancel()
            except Exception as cancel_error:  # the session may still hold the open INSERT
                log.warning("could not cancel a failed streaming insert: %s", cancel_error)
                self._reset()
            raise engine_error(e)
        return res.rows_written, res.bytes_written

    def _insert_infile(self, job):
        # INSERT INTO t [(cols)] FROM INFILE 'file' [SETTINGS ...] FORMAT Name
        fd, tmp = tempfile.mkstemp(dir=self.tmpdir, suffix=".data")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(job.data)
            head, at = job.insert_head, job.insert_settings_at
            infile = f" FROM INFILE {quote_string(tmp)} COMPRESSION 'none' "
            if at is not None:
                sql = head[:at] + infile + head[at:]
            else:
                sql = head + infile
            sql += f" FORMAT {quote_ident(job.insert_format)}"
            try:
                res = self.sess.query(sql, "TabSeparated")
            except Exception as e:
                err = engine_error(e)
                err.text = err.text.replace(tmp, "stdin")
                raise err
            return res.rows_written(), res.bytes_written()
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass


class Job:
    """What one HTTP request asks the engine to do."""

    def __init__(self):
        self.database = "default"
        self.default_format = "TabSeparated"
        self.settings = []  # [(name, value)] applied for this statement only
        self.params = {}  # {name: value} for {name:Type} placeholders
        self.sql = ""
        self.settings_view = {}  # {name: value} of the URL settings
        self.first_params = {}  # {name: first value} of all URL/form parameters
        self.statement_kind = ""
        self.insert_head = None
        self.insert_format = None
        self.insert_settings_at = None
        self.data = b""


# --------------------------------------------------------------------------------------------

NO_HANDLER_TEXT = (
    "There is no handle {path}\n\nUse / or /ping for health checks.\n"
    "Or /replicas_status for more sophisticated health checks.\n\n"
    "Send queries from your program with POST method or GET /?query=...\n"
)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdb-server"
    timeout = KEEP_ALIVE_TIMEOUT
    engine = None  # set by main()
    display_name = socket.gethostname()

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover
            pass

    def log_message(self, fmt, *args):  # route http.server's own messages to logging
        log.debug("%s - %s", self.address_string(), fmt % args)

    def log_request(self, code="-", size="-"):
        pass  # one line per query is logged by handle_query

    # -- plumbing ------------------------------------------------------------------------

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("connection closed inside a chunked body")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ValueError(f"bad chunk size line {line[:40]!r}")
                if size == 0:
                    while True:  # trailers, up to the blank line
                        line = self.rfile.readline(65537)
                        if not line or line in (b"\r\n", b"\n"):
                            break
                    break
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise ConnectionError("connection closed inside a chunk")
                parts.append(chunk)
                if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise ValueError("missing CRLF after chunk")
            return b"".join(parts)
        length = self.headers.get("Content-Length")
        if length:
            n = int(length)
            data = self.rfile.read(n)
            if len(data) != n:
                raise ConnectionError("connection closed inside the body")
            return data
        return b""

    def send_bytes(self, status, body, headers):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        else:
            self.send_header("Connection", "Keep-Alive")
            self.send_header("Keep-Alive", f"timeout={KEEP_ALIVE_TIMEOUT}")
        # One write for headers and a small body: with a separate tiny write, Nagle's algorithm
        # and the client's delayed ACK cost ~40 ms per keep-alive request.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD" and body and len(body) <= 65536:
            self._headers_buffer.append(body)
            body = b""
        self.flush_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def common_headers(self, query_id):
        return [
            ("X-ClickHouse-Server-Display-Name", self.display_name),
            ("X-ClickHouse-Query-Id", query_id),
            ("X-ClickHouse-Timezone", self.engine.timezone),
        ]

    def send_error_text(self, err, query_id):
        body = f"{err.text} (version {self.engine.version})\n".encode("utf-8", "replace")
        headers = [("Content-Type", "text/plain; charset=UTF-8")] + self.common_headers(query_id)
        headers.append(("X-ClickHouse-Exception-Code", str(err.code)))
        self.send_bytes(err.http_status, body, headers)

    # -- methods -------------------------------------------------------------------------

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def dispatch(self):
        url = urlsplit(self.path)
        params = parse_qsl(url.query, keep_blank_values=True)
        query_id = next((v for k, v in params if k == "query_id" and v), "") or str(uuid.uuid4())
        try:
            body = self.read_body()  # always, so that the connection stays usable
        except Exception as e:
            self.close_connection = True
            err = CHError.make("CANNOT_READ_ALL_DATA", f"Cannot read the request body: {e}")
            return self.send_error_text(err, query_id)
        get = self.command in ("GET", "HEAD")
        plain = [("Content-Type", "text/html; charset=UTF-8")]
        if get and self.path == "/":
            return self.send_bytes(200, b"Ok.\n", plain)
        if get and url.path == "/ping":
            return self.send_bytes(200, b"Ok.\n", plain)
        if get and url.path == "/replicas_status":
            return self.send_bytes(200, b"Ok.\n", plain)
        if get and not (url.path in ("", "/", "/query") and (url.query or self.path.endswith("?"))):
            body = NO_HANDLER_TEXT.format(path=url.path).encode()
            text = NO_HANDLER_TEXT.format(path=url.path).encode()
            return self.send_bytes(404, text, [("Content-Type", "text/plain; charset=UTF-8")])
        self.handle_query(params, body, query_id)

    def handle_query(self, params, body, query_id):
        t0 = time.perf_counter()
        job = None
        try:
            job = self.build_job(params, body)
            out, summary = self.engine.execute(job)
            self.send_result(job, params, out, summary, query_id)
            status = 200
        except CHError as err:
            status = err.http_status
            self.send_error_text(err, query_id)
            log.info("query failed: %s", err.text.splitlines()[0][:300])
        except Exception as e:  # a bug here: still answer in ClickHouse's shape
            log.exception("internal error")
            status = 500
            self.send_error_text(CHError.make("STD_EXCEPTION", f"{type(e).__name__}: {e}"), query_id)
        if log.isEnabledFor(logging.DEBUG):
            sql = job.sql if job is not None and job.sql else (job.insert_head if job else "")
            log.debug("%s %s %d %.1fms %s", self.command, query_id, status,
                      (time.perf_counter() - t0) * 1000, (sql or "")[:200].replace("\n", " "))

    # -- request -> job ------------------------------------------------------------------

    def build_job(self, params, body):
        ctype = self.headers.get("Content-Type", "")
        if ctype.lower().startswith("multipart/form-data"):
            params = params + self.parse_multipart(ctype, body)
            body = b""

        job = Job()
        settings = []
        readonly = 0
        query_param = None
        for k, v in params:
            if k == "query":
                if query_param is None:
                    query_param = v
            elif k.startswith("param_"):
                job.params[k[len("param_"):]] = v
            elif k in RESERVED_PARAMS or not k:
                continue
            elif k == "readonly":
                try:
                    readonly = int(v)
                except ValueError:
                    readonly = 1 if truthy(v) else 0
            else:
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                    raise CHError.make("UNKNOWN_SETTING", f"Unknown setting '{k}'")
                settings.append((k, v))
        job.settings = settings
        job.settings_view = dict(settings)
        first = {}
        for k, v in params:
            first.setdefault(k, v)
        job.first_params = first

        job.database = self.headers.get("X-ClickHouse-Database") or first.get("database") or "default"
        job.default_format = (self.headers.get("X-ClickHouse-Format") or first.get("default_format")
                              or "TabSeparated")

        # Request body: HTTP Content-Encoding first, then ClickHouse's block format (decompress=1).
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if body and encoding and encoding not in ("identity", "none"):
            decoder = REQUEST_DECODERS.get(encoding)
            if decoder is None:
                raise CHError.make("NOT_IMPLEMENTED", f"Unknown compression method '{encoding}'")
            try:
                body = decoder(body)
            except Exception as e:
                raise CHError.make("CANNOT_DECOMPRESS",
                                   f"Cannot decompress request body ({encoding}): {e}")
        if body and truthy(first.get("decompress", "0")):
            verify = not truthy(job.settings_view.get(
                "http_native_compression_disable_checksumming_on_decompress", "0"))
            body = decompress_blocks(body, verify=verify)

        # The query: URL `query` (+ "\n" + body, as ClickHouse concatenates them) or the body.
        if query_param:
            prefix = query_param + "\n"
            st = analyze(prefix)
            if st.kind == "INSERT" and st.data_start is not None and st.multi_at is None:
                inline = prefix[st.data_start:].encode()
                text, data = prefix, (inline + body if inline else body)
            else:
                text = prefix + body.decode("utf-8", "surrogateescape")
                st = analyze(text)
                data = None
        else:
            text = body.decode("utf-8", "surrogateescape")
            st = analyze(text)
            data = None
        if st.kind == "INSERT" and st.data_start is not None and data is None:
            offset = len(text[:st.data_start].encode("utf-8", "surrogateescape"))
            data = (query_param + "\n").encode() + body if query_param else body
            data = data[offset:]

        if not st.kind:
            raise CHError.make("SYNTAX_ERROR", "Empty query")
        if st.multi_at is not None:
            raise CHError.make(
                "SYNTAX_ERROR",
                f"Syntax error (Multi-statements are not allowed): failed at position "
                f"{st.multi_at + 1} (end of query): {text[st.multi_at:st.multi_at + 60]}. ")
        if st.excessive_semicolon:
            raise CHError.make(
                "SYNTAX_ERROR",
                "You have excessive ';' symbol before data for INSERT.\nExample:\n\n"
                "INSERT INTO t (x, y) FORMAT TabSeparated\n;\tHello\n2\tWorld\n\n"
                "Note that there is no ';' just after format name, you need to put at least one "
                "whitespace symbol before the data")
        if st.into_outfile:
            raise CHError.make("INTO_OUTFILE_NOT_ALLOWED", "INTO OUTFILE is not allowed")
        if st.has_infile:
            raise CHError.make("UNKNOWN_TYPE_OF_QUERY",
                               "Query has infile and was send directly to server")
        if self.command in ("GET", "HEAD") and st.kind not in READ_ONLY_KINDS:
            raise CHError.make(
                "READONLY",
                "default: Cannot execute query in readonly mode. For queries over HTTP, method GET "
                "implies readonly. You should use method POST for modifying queries")
        if readonly and st.kind not in READ_ONLY_KINDS:
            raise CHError.make("READONLY", "default: Cannot execute query in readonly mode")
        if readonly == 1 and st.kind == "SET":
            raise CHError.make("READONLY", "default: Cannot modify settings in readonly mode")

        job.statement_kind = st.kind
        if st.out_format:
            job.default_format = st.out_format
        if st.kind == "INSERT" and st.data_start is not None and st.insert_format:
            job.insert_head = text[:st.insert_head_end].rstrip()
            job.insert_format = st.insert_format
            job.insert_settings_at = st.insert_settings_at
            job.data = data
            job.sql = ""
            return job
        sql = text[:st.end] if st.end is not None else text
        sql = sql.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if st.kind == "SET" and not re.match(r"\s*SET\s+(ROLE|DEFAULT\s+ROLE|TRANSACTION)\b", sql,
                                             re.I):
            # Over HTTP (no session) a SET only lasts for its own request: validate it, keep nothing.
            m = re.match(r"\s*SET\s+", sql, re.I | re.S)
            if m is None:
                raise CHError.make("SYNTAX_ERROR", "Syntax error: expected SET")
            sql = f"SELECT 1 FORMAT Null SETTINGS {sql[m.end():]}"
        job.sql = sql
        return job

    def parse_multipart(self, ctype, body):
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)
        fields = []
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            if part.get_param("filename", header="content-disposition") is not None:
                raise CHError.make("NOT_IMPLEMENTED",
                                   "External tables (multipart files) are not supported by "
                                   "chdb_server.py")
            payload = part.get_payload(decode=True) or b""
            fields.append((name, payload.decode("utf-8", "replace")))
        return fields

    # -- result -> response --------------------------------------------------------------

    def send_result(self, job, params, out, summary, query_id):
        headers = [("Content-Type", content_type_for(job.default_format))]
        headers += self.common_headers(query_id)
        headers.append(("X-ClickHouse-Format", job.default_format))
        headers.append(("X-ClickHouse-Summary",
                        json.dumps({k: str(int(v or 0)) for k, v in summary.items()},
                                   separators=(",", ":"))))
        if truthy(job.settings_view.get("add_http_cors_header", "0")):
            headers.append(("Access-Control-Allow-Origin", "*"))
        if truthy(job.first_params.get("compress", "0")):
            out = compress_blocks(out)
        enabled = job.settings_view.get("enable_http_compression")
        enabled = self.engine.http_compression_default if enabled is None else truthy(enabled)
        accept = self.headers.get("Accept-Encoding", "")
        if enabled and accept:
            name, enc = choose_response_encoding(accept)
            if name is not None:
                try:
                    level = int(job.settings_view.get("http_zlib_compression_level", "3"))
                except ValueError:
                    level = 3
                out = enc(out, level)
                headers.append(("Content-Encoding", name))
        self.send_bytes(200, out, headers)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8123, help="0 picks a free port")
    data = ap.add_mutually_exclusive_group()
    data.add_argument("--path", default=DEFAULT_DATA_PATH,
                      help="data directory (kept across restarts)")
    data.add_argument("--temporary", action="store_true",
                      help="keep the data in a fresh temporary directory, removed when the server "
                           "stops (tests)")
    ap.add_argument("--stop-on-stdin-eof", action="store_true",
                    help="stop as on SIGTERM when standard input reaches end of file: a parent "
                         "holding the other end of the pipe takes the server with it when it "
                         "exits, however it exits")
    ap.add_argument("--log-level", default="info",
                    choices=["debug", "info", "warning", "error", "critical"])
    ap.add_argument("--timezone", default="UTC",
                    help="server time zone (like <timezone> in ClickHouse's config); '' keeps the "
                         "machine's")
    ap.add_argument("--insert-mode", default="stream", choices=["stream", "infile"],
                    help="how INSERT data reaches chDB: its streaming insert API (default) or a "
                         "temporary file and INSERT ... FROM INFILE")
    args = ap.parse_args(argv)

    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.timezone:
        if "chdb" in sys.modules:
            log.warning("chdb was imported before the time zone was set; --timezone is ignored")
        os.environ["TZ"] = args.timezone  # read by ClickHouse when chdb is first imported
    if args.temporary:
        path = tempfile.mkdtemp(prefix="chdb-server-")
    else:
        path = os.path.abspath(args.path)
        os.makedirs(path, exist_ok=True)
    try:
        return serve(args, path)
    finally:
        if args.temporary:
            shutil.rmtree(path, ignore_errors=True)


def serve(args, path):
    lock_file = open(os.path.join(path, ".chdb-server.lock"), "w")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"chdb-server: {path} is in use by another chdb-server process", file=sys.stderr)
        return 1

    engine = Engine(path, insert_mode=args.insert_mode)
    Handler.engine = engine
    try:
        httpd = Server((args.host, args.port), Handler)
    except OSError as e:
        print(f"chdb-server: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        engine.close()
        return 1

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.stop_on_stdin_eof:
        def on_stdin_eof():
            while sys.stdin.buffer.read(1 << 16):
                pass
            stop.set()

        threading.Thread(target=on_stdin_eof, name="stdin", daemon=True).start()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                              name="http", daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    print(f"chdb-server listening on http://{host}:{port} (data: {path}, ClickHouse {engine.version})",
          flush=True)
    while not stop.wait(0.5):
        pass
    log.info("shutting down")
    httpd.shutdown()
    httpd.server_close()
    if not engine.close():
        log.warning("a statement is still running after 30 s; exiting without closing chDB")
        if args.temporary:
            shutil.rmtree(path, ignore_errors=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    lock_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
