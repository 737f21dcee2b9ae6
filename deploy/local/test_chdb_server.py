#!/usr/bin/env python3
"""Tests for chdb_server.py over real HTTP.

    deploy/local/venv.sh && .venv/bin/python deploy/local/test_chdb_server.py -v

Starts the server as a subprocess on a free 127.0.0.1 port with a temporary data directory and
stops it (only the processes it started) at the end. The compressed-block helpers here are written
independently of the server's and checked against the Rust `clickhouse` crate's test vector.
"""

import base64
import glob
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import unittest
import uuid
from urllib.parse import urlencode

import lz4.block
import lz4.frame
from clickhouse_cityhash.cityhash import CityHash128

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "chdb_server.py")
TIMEOUT = 60  # seconds: per HTTP request, and for the server to start/stop

ERROR_BODY = re.compile(
    r"\ACode: (\d+)\. DB::Exception: .*\. \(([A-Z_0-9]+)\) \(version 26\.9\.[0-9.]+\)\n\Z", re.S)


# ---- ClickHouse compressed blocks, written independently of the server ---------------------

def ch_checksum(data):
    h = CityHash128(data)
    return struct.pack("<QQ", h >> 64, h & (2**64 - 1))


def ch_compress(data, block=1 << 16, method=0x82):
    out = b""
    for off in range(0, max(len(data), 1), block):
        raw = data[off:off + block]
        payload = lz4.block.compress(raw, store_size=False) if method == 0x82 else raw
        header = struct.pack("<BII", method, 9 + len(payload), len(raw))
        out += ch_checksum(header + payload) + header + payload
    return out


def ch_decompress(data):
    out, pos = b"", 0
    while pos < len(data):
        checksum = data[pos:pos + 16]
        method, csize, usize = struct.unpack_from("<BII", data, pos + 16)
        block = data[pos + 16:pos + 16 + csize]
        assert ch_checksum(block) == checksum, "checksum mismatch in server response"
        assert method == 0x82, hex(method)
        out += lz4.block.decompress(block[9:], uncompressed_size=usize)
        pos += 16 + csize
    return out


def row_binary(rows):
    """RowBinary for (UInt64, String) rows."""
    out = bytearray()
    for a, b in rows:
        out += struct.pack("<Q", a)
        b = b.encode()
        n = len(b)
        while True:  # LEB128 length
            byte = n & 0x7F
            n >>= 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                break
        out += b
    return bytes(out)


# ---- server process ------------------------------------------------------------------------

class ServerProcess:
    def __init__(self, path, *extra):
        self.path = path
        self.log = open(os.path.join(os.path.dirname(path), f"server-{uuid.uuid4().hex[:6]}.log"), "w+")
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--host", "127.0.0.1", "--port", "0", "--path", path,
             "--log-level", "warning", *extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self._readline(TIMEOUT)
        m = re.match(r"chdb-server listening on http://127\.0\.0\.1:(\d+) \(data: (.*), "
                     r"ClickHouse (26\.9\.[0-9.]+)\)$", line or "")
        if not m:
            self.stop()
            raise RuntimeError(f"server did not start: {line!r}; log: {self.read_log()}")
        self.port = int(m.group(1))
        self.ready_line = line

    def _readline(self, timeout):
        box = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        return box[0].rstrip("\n") if box else None

    def read_log(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        """SIGTERM, then SIGKILL after TIMEOUT. Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)
        self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def __repr__(self):
        return f"Response({self.status}, {self.body[:300]!r})"


class ServerTestCase(unittest.TestCase):
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="chdb-server-test-")
        cls.server = ServerProcess(os.path.join(cls.tmp, "data"), *cls.server_args)

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert status == 0, f"server exited with {status}"

    def request(self, method="POST", params=None, body=None, headers=None, chunked=False,
                path="/", conn=None):
        own = conn is None
        if own:
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=TIMEOUT)
        url = path + ("?" + urlencode(params) if params else "")
        headers = dict(headers or {})
        try:
            if chunked:
                def chunks(data=body or b"", sizes=(1, 7, 1000, 65536)):
                    pos, i = 0, 0
                    while pos < len(data):
                        n = sizes[i % len(sizes)]
                        yield data[pos:pos + n]
                        pos, i = pos + n, i + 1
                headers["Transfer-Encoding"] = "chunked"
                conn.request(method, url, body=chunks(), headers=headers, encode_chunked=True)
            else:
                conn.request(method, url, body=body, headers=headers)
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            if own:
                conn.close()

    def query(self, sql, **params):
        r = self.request(params={"query": sql, **params})
        self.assertEqual(r.status, 200, r)
        return r.body

    def assertError(self, r, status, code, name, message=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers.get("x-clickhouse-exception-code"), str(code), r)
        m = ERROR_BODY.match(r.body.decode())
        self.assertIsNotNone(m, r.body)
        self.assertEqual((int(m.group(1)), m.group(2)), (code, name))
        if message is not None:
            self.assertIn(message, r.body.decode())


class InsertTests(ServerTestCase):
    """INSERT paths; run again against --insert-mode infile below."""

    def setUp(self):
        self.table = "t_" + uuid.uuid4().hex[:8]
        self.query(f"CREATE TABLE {self.table} (a UInt64, b String) ENGINE = MergeTree ORDER BY a")

    def rows(self):
        return self.query(f"SELECT a, b FROM {self.table} ORDER BY a, b FORMAT TSV")

    def test_row_binary_plain_and_chunked(self):
        rows = [(i, f"s{i}" * (i % 50)) for i in range(5000)]
        data = row_binary(rows)
        q = {"query": f"INSERT INTO {self.table} (a, b) FORMAT RowBinary"}
        r = self.request(params=q, body=data)
        self.assertEqual((r.status, r.body), (200, b""), r)
        summary = json.loads(r.headers["x-clickhouse-summary"])
        self.assertEqual(summary["written_rows"], "5000")
        r = self.request(params=q, body=data, chunked=True)
        self.assertEqual((r.status, r.body), (200, b""), r)
        self.assertEqual(self.query(f"SELECT count(), sum(a), sum(length(b)) FROM {self.table}"),
                         f"10000\t{2 * sum(a for a, _ in rows)}\t"
                         f"{2 * sum(len(b) for _, b in rows)}\n".encode())

    def test_text_formats_and_inline_data(self):
        t = self.table
        cases = [
            ({"query": f"INSERT INTO {t} FORMAT TabSeparated"}, b"1\tone\n"),
            ({"query": f"INSERT INTO {t} (a, b) FORMAT CSV"}, b'2,"two"\n'),
            ({"query": f"INSERT INTO {t} FORMAT JSONEachRow"}, b'{"a": 3, "b": "three"}\n'),
            ({"query": f"INSERT INTO {t} VALUES"}, b"(4, 'four;')"),
            ({}, f"INSERT INTO {t} VALUES (5, 'fi''ve'), (6, 'six')".encode()),
            ({}, f'INSERT INTO {t} FORMAT JSONEachRow\n{{"a": 7, "b": "seven"}}'.encode()),
            ({}, f"INSERT INTO {t} FORMAT CSV 8,eight".encode()),
            ({"query": f"INSERT INTO {t} FORMAT CSV 9,nine"}, b""),
            ({"query": f"INSERT INTO {t}"}, b"FORMAT TSV\n10\tten\n"),
        ]
        for params, body in cases:
            r = self.request(params=params, body=body)
            self.assertEqual((r.status, r.body), (200, b""), (params, body, r))
        self.assertEqual(self.rows(), b"1\tone\n2\ttwo\n3\tthree\n4\tfour;\n5\tfi\\'ve\n6\tsix\n"
                                      b"7\tseven\n8\teight\n9\tnine\n10\tten\n")

    def test_binary_formats_round_trip(self):
        self.query(f"INSERT INTO {self.table} SELECT number, toString(number) FROM numbers(3)")
        for fmt in ("RowBinaryWithNamesAndTypes", "Native", "RowBinary"):
            data = self.query("SELECT number AS a, toString(number) AS b FROM numbers(3)",
                              default_format=fmt)
            r = self.request(params={"query": f"INSERT INTO {self.table} FORMAT {fmt}"}, body=data)
            self.assertEqual(r.status, 200, (fmt, r))
        self.assertEqual(self.query(f"SELECT count(), uniqExact(a, b) FROM {self.table}"), b"12\t3\n")

    def test_insert_deduplication_token(self):
        self.table += "_dedup"
        self.query(f"CREATE TABLE {self.table} (a UInt64, b String) ENGINE = MergeTree ORDER BY a "
                   "SETTINGS non_replicated_deduplication_window = 100")
        data = row_binary([(1, "x"), (2, "y")])
        q = {"query": f"INSERT INTO {self.table} FORMAT RowBinary", "insert_deduplication_token": "tok-1"}
        for _ in range(2):
            self.assertEqual(self.request(params=q, body=data).status, 200)
        self.assertEqual(self.query(f"SELECT count() FROM {self.table}"), b"2\n")
        q["insert_deduplication_token"] = "tok-2"
        self.assertEqual(self.request(params=q, body=data).status, 200)
        self.assertEqual(self.query(f"SELECT count() FROM {self.table}"), b"4\n")
        q["insert_deduplication_token"] = "tok-1"
        self.assertEqual(self.request(params=q, body=row_binary([(3, "z")])).status, 200)
        self.assertEqual(self.query(f"SELECT count() FROM {self.table}"), b"4\n")
        # The token applied to those INSERTs only.
        self.assertEqual(self.query("SELECT getSetting('insert_deduplication_token')"), b"\n")

    def test_lz4_compressed_insert(self):
        rows = [(i, "v" * (i % 300)) for i in range(3000)]
        data = row_binary(rows)
        body = ch_compress(data, block=100_000)
        self.assertGreater(body.count(b"\x82"), 1)
        q = {"query": f"INSERT INTO {self.table} FORMAT RowBinary", "decompress": "1"}
        r = self.request(params=q, body=body, chunked=True)
        self.assertEqual((r.status, r.body), (200, b""), r)
        self.assertEqual(self.query(f"SELECT count(), sum(length(b)) FROM {self.table}"),
                         f"3000\t{sum(len(b) for _, b in rows)}\n".encode())
        # One flipped bit in the second block's payload: CHECKSUM_DOESNT_MATCH, nothing inserted.
        first = 16 + struct.unpack_from("<I", body, 17)[0]
        bad = bytearray(body)
        bad[first + 40] ^= 0x01
        r = self.request(params=q, body=bytes(bad))
        self.assertError(r, 500, 40, "CHECKSUM_DOESNT_MATCH", "Checksum doesn't match")
        r = self.request(params=q, body=body[:-10])  # truncated last block
        self.assertError(r, 500, 33, "CANNOT_READ_ALL_DATA")
        self.assertEqual(self.query(f"SELECT count() FROM {self.table}"), b"3000\n")

    def test_gzip_request_body(self):
        body = gzip.compress(b"1\ta\n2\tb\n")
        r = self.request(params={"query": f"INSERT INTO {self.table} FORMAT TSV"}, body=body,
                         headers={"Content-Encoding": "gzip"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.rows(), b"1\ta\n2\tb\n")

    def test_lz4_request_body(self):
        """`Content-Encoding: lz4` (the collector's compressed inserts): LZ4 frames, one or several
        concatenated, content checksum checked."""
        rows = [(i, "v" * (i % 300)) for i in range(3000)]
        data = row_binary(rows)
        def frame(d):
            return lz4.frame.compress(d, block_size=lz4.frame.BLOCKSIZE_MAX64KB,
                                      content_checksum=True)

        q = {"query": f"INSERT INTO {self.table} FORMAT RowBinary"}
        lz4_header = {"Content-Encoding": "lz4"}
        half = len(row_binary(rows[:1500]))
        for body in (frame(data), frame(data[:half]) + frame(data[half:])):
            r = self.request(params=q, body=body, headers=lz4_header, chunked=True)
            self.assertEqual((r.status, r.body), (200, b""), r)
        self.assertEqual(self.query(f"SELECT count(), sum(length(b)) FROM {self.table}"),
                         f"6000\t{2 * sum(len(b) for _, b in rows)}\n".encode())
        # One flipped bit in a literal: the content checksum fails, nothing inserted.
        bad = bytearray(frame(data))
        bad[len(bad) // 2] ^= 0x01
        r = self.request(params=q, body=bytes(bad), headers=lz4_header)
        self.assertError(r, 500, 271, "CANNOT_DECOMPRESS")
        self.assertEqual(self.query(f"SELECT count() FROM {self.table}"), b"6000\n")

    def test_bad_data_is_rejected_atomically(self):
        r = self.request(params={"query": f"INSERT INTO {self.table} FORMAT TSV"},
                         body=b"1\ta\nnot-a-number\tb\n")
        self.assertError(r, 400, 27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED")
        r = self.request(params={"query": f"INSERT INTO {self.table} FORMAT RowBinary"},
                         body=row_binary([(1, "abc")])[:-1])
        self.assertError(r, 500, 33, "CANNOT_READ_ALL_DATA")
        self.assertEqual(self.query(f"SELECT count() FROM {self.table}"), b"0\n")

    def test_insert_into_missing_table(self):
        r = self.request(params={"query": "INSERT INTO no_such_table FORMAT TSV"}, body=b"1\n")
        self.assertError(r, 404, 60, "UNKNOWN_TABLE")


class InsertTestsInfileMode(InsertTests):
    server_args = ("--insert-mode", "infile")


class ServerTests(ServerTestCase):

    def test_ping_and_root(self):
        for method, path in (("GET", "/ping"), ("GET", "/"), ("GET", "/replicas_status")):
            r = self.request(method, path=path)
            self.assertEqual((r.status, r.body), (200, b"Ok.\n"), path)
        r = self.request("HEAD", path="/ping")
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEqual(self.request("GET", path="/nothing-here").status, 404)

    def test_query_in_url_body_and_both(self):
        self.assertEqual(self.request("GET", params={"query": "SELECT 1"}).body, b"1\n")
        self.assertEqual(self.request("POST", params={"query": "SELECT 1"}).body, b"1\n")
        self.assertEqual(self.request(body=b"SELECT 'body'").body, b"body\n")
        # ClickHouse concatenates the URL query, a line feed and the body.
        self.assertEqual(self.request(params={"query": "SELECT 2 +"}, body=b"3").body, b"5\n")
        self.assertEqual(self.request(body=b"SELECT 1;").body, b"1\n")
        self.assertEqual(self.request("GET", path="/query", params={"query": "SELECT 3"}).body,
                         b"3\n")
        self.assertEqual(self.request(body=b"SELECT ';' AS s; -- comment\n").body, b";\n")

    def test_response_headers(self):
        r = self.request(params={"query": "SELECT number FROM numbers(10)", "query_id": "my-id"})
        self.assertEqual(r.body, b"".join(b"%d\n" % i for i in range(10)))
        h = r.headers
        self.assertEqual(h["x-clickhouse-query-id"], "my-id")
        self.assertEqual(h["x-clickhouse-format"], "TabSeparated")
        self.assertEqual(h["x-clickhouse-timezone"], "UTC")
        self.assertEqual(h["content-type"], "text/tab-separated-values; charset=UTF-8")
        self.assertTrue(h["x-clickhouse-server-display-name"])
        self.assertEqual(h["content-length"], str(len(r.body)))
        summary = json.loads(h["x-clickhouse-summary"])
        self.assertTrue(all(isinstance(v, str) for v in summary.values()), summary)
        self.assertEqual(summary["result_rows"], "10")
        self.assertEqual(summary["read_rows"], "10")
        self.assertEqual(summary["written_rows"], "0")
        self.assertGreater(int(summary["elapsed_ns"]), 0)
        generated = self.request(params={"query": "SELECT 1"}).headers["x-clickhouse-query-id"]
        self.assertEqual(str(uuid.UUID(generated)), generated)

    def test_output_format_choice(self):
        sql = "SELECT 1 AS x"
        self.assertEqual(self.request(params={"query": sql, "default_format": "JSONEachRow"}).body,
                         b'{"x":1}\n')
        r = self.request(params={"query": sql}, headers={"X-ClickHouse-Format": "CSVWithNames"})
        self.assertEqual((r.body, r.headers["x-clickhouse-format"]), (b'"x"\n1\n', "CSVWithNames"))
        r = self.request(params={"query": sql + " FORMAT JSONCompactEachRow",
                                 "default_format": "CSV"})
        self.assertEqual((r.body, r.headers["x-clickhouse-format"]), (b"[1]\n", "JSONCompactEachRow"))
        r = self.request(params={"query": sql, "default_format": "NoSuchFormat"})
        self.assertError(r, 404, 73, "UNKNOWN_FORMAT")

    def test_database_param_and_header(self):
        self.query("CREATE DATABASE IF NOT EXISTS db_a")
        self.query("CREATE TABLE IF NOT EXISTS db_a.only_here (x UInt8) ENGINE = Memory")
        self.assertEqual(self.query("SELECT currentDatabase()", database="db_a"), b"db_a\n")
        self.assertEqual(self.query("EXISTS TABLE only_here", database="db_a"), b"1\n")
        r = self.request(params={"query": "SELECT currentDatabase()"},
                         headers={"X-ClickHouse-Database": "db_a"})
        self.assertEqual(r.body, b"db_a\n")
        self.assertEqual(self.query("SELECT currentDatabase()"), b"default\n")
        # A USE statement lasts for its own request only.
        self.assertEqual(self.request(body=b"USE db_a").status, 200)
        self.assertEqual(self.query("SELECT currentDatabase()"), b"default\n")
        r = self.request(params={"query": "SELECT 1", "database": "no_such_db"})
        self.assertError(r, 404, 81, "UNKNOWN_DATABASE")

    def test_settings_apply_to_one_query_only(self):
        base_threads = self.query("SELECT getSetting('max_threads')")
        self.assertEqual(self.query("SELECT getSetting('max_threads')", max_threads="7"), b"7\n")
        self.assertEqual(self.query("SELECT getSetting('max_threads')"), base_threads)
        self.assertEqual(self.query("SELECT toDateTime(0)", date_time_output_format="iso"),
                         b"1970-01-01T00:00:00Z\n")
        self.assertEqual(self.query("SELECT toDateTime(0)"), b"1970-01-01 00:00:00\n")
        sql = "SELECT toUInt64(1) AS n FORMAT JSONEachRow"
        self.assertEqual(self.query(sql, output_format_json_quote_64bit_integers="1"), b'{"n":"1"}\n')
        self.assertEqual(self.query(sql, output_format_json_quote_64bit_integers="0"), b'{"n":1}\n')
        # A setting chDB starts with a non-default value comes back to that value.
        sql = "SELECT getSetting('allow_introspection_functions')"
        before = self.query(sql)
        self.assertEqual(self.query(sql, allow_introspection_functions="0"), b"false\n")
        self.assertEqual(self.query(sql), before)
        # A SET statement is checked and then forgotten, as without an HTTP session.
        r = self.request(body=b"SET max_threads = 5")
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEqual(self.query("SELECT getSetting('max_threads')"), base_threads)
        self.assertError(self.request(body=b"SET no_such_setting = 1"), 404, 115, "UNKNOWN_SETTING")
        # Settings given with a failing query are undone as well.
        r = self.request(params={"query": "SELECT * FROM no_such_table", "max_threads": "9"})
        self.assertEqual(r.status, 404)
        self.assertEqual(self.query("SELECT getSetting('max_threads')"), base_threads)

    def test_unknown_setting(self):
        r = self.request(params={"query": "SELECT 1", "no_such_setting": "1"})
        self.assertError(r, 404, 115, "UNKNOWN_SETTING", "Unknown setting 'no_such_setting'")
        r = self.request(params={"query": "SELECT 1", "bad name": "1"})
        self.assertError(r, 404, 115, "UNKNOWN_SETTING")

    def test_error_shapes(self):
        r = self.request(body=b"SELECT * FROM no_such_table")
        self.assertError(r, 404, 60, "UNKNOWN_TABLE", "no_such_table")
        self.assertEqual(r.headers["content-type"], "text/plain; charset=UTF-8")
        self.assertError(self.request(body=b"SELEC 1"), 400, 62, "SYNTAX_ERROR")
        self.assertError(self.request(body=b"1 + 1"), 400, 62, "SYNTAX_ERROR")  # no implicit SELECT
        self.assertError(self.request(body=b"INSERT INTO t FORMAT CSV;1\n"), 400, 62,
                         "SYNTAX_ERROR", "excessive ';'")
        self.assertError(self.request(body=b""), 400, 62, "SYNTAX_ERROR", "Empty query")
        self.assertError(self.request(body=b"SELECT 1; SELECT 2"), 400, 62, "SYNTAX_ERROR",
                         "Multi-statements are not allowed")
        self.assertError(self.request(body=b"SELECT no_such_column"), 404, 47, "UNKNOWN_IDENTIFIER")
        self.assertError(self.request(body=b"SELECT toUInt8('x')"), 400, 6, "CANNOT_PARSE_TEXT")
        self.assertError(self.request(body=b"SELECT 1 INTO OUTFILE '/tmp/x'"), 500, 358,
                         "INTO_OUTFILE_NOT_ALLOWED")
        self.assertError(self.request(body=b"INSERT INTO t FROM INFILE '/etc/passwd' FORMAT CSV"),
                         404, 78, "UNKNOWN_TYPE_OF_QUERY")

    def test_get_is_readonly(self):
        r = self.request("GET", params={"query": "CREATE TABLE ro_t (x UInt8) ENGINE = Memory"})
        self.assertError(r, 500, 164, "READONLY", "method GET implies readonly")
        self.assertEqual(self.query("EXISTS TABLE ro_t"), b"0\n")
        r = self.request("POST", params={"query": "CREATE TABLE ro_t (x UInt8) ENGINE = Memory",
                                         "readonly": "1"})
        self.assertError(r, 500, 164, "READONLY")
        self.assertEqual(self.request("GET", params={"query": "SELECT 1", "readonly": "1"}).body,
                         b"1\n")

    def test_query_parameters(self):
        params = {"query": "SELECT {x:UInt8} + 1, {s:String}, {a:Array(String)}, {n:Nullable(Int8)}",
                  "param_x": "41", "param_s": "it's a\\ttab", "param_a": "['p','q']",
                  "param_n": "\\N"}
        self.assertEqual(self.request(params=params).body, b"42\tit\\'s a\\ttab\t['p','q']\t\\N\n")
        r = self.request(params={"query": "SELECT {missing:UInt8}"})
        self.assertEqual(r.headers["x-clickhouse-exception-code"], "456")
        self.assertEqual(self.request(params={"query": "SELECT {t:Identifier} FROM system.one",
                                              "param_t": "dummy"}).body, b"0\n")

    def test_multipart_query_with_parameters(self):
        # What the Rust clickhouse crate sends for queries with server-side parameters.
        boundary = "------------------------clickhouse-rs-" + uuid.uuid4().hex[:16]
        fields = [("query", "SELECT {a:String} || '!', {b:UInt32} * 2"), ("param_a", "hi"),
                  ("param_b", "21")]
        body = b""
        for name, value in fields:
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                     f"{value}\r\n").encode()
        body += f"--{boundary}--\r\n".encode()
        r = self.request(params={"default_format": "TSV"}, body=body,
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        self.assertEqual((r.status, r.body), (200, b"hi!\t42\n"), r)

    def test_authentication_is_accepted_and_ignored(self):
        basic = "Basic " + base64.b64encode(b"someone:secret").decode()
        for headers, params in (({"Authorization": basic}, {}),
                                ({"X-ClickHouse-User": "u", "X-ClickHouse-Key": "k"}, {}),
                                ({}, {"user": "u", "password": "p"})):
            r = self.request(params={"query": "SELECT 1", **params}, headers=headers)
            self.assertEqual((r.status, r.body), (200, b"1\n"))

    def test_compress_param_block_format(self):
        plain = self.query("SELECT number, toString(number) FROM numbers(300000)")
        r = self.request(params={"query": "SELECT number, toString(number) FROM numbers(300000)",
                                 "compress": "1"})
        self.assertEqual(r.status, 200)
        self.assertNotIn("content-encoding", r.headers)
        self.assertEqual(ch_decompress(r.body), plain)
        self.assertGreater(r.body.count(b"\x82"), 1)  # more than one 1 MiB block

    def test_accept_encoding_lz4(self):
        sql = "SELECT number, toString(number) FROM numbers(100000)"
        plain = self.query(sql)
        r = self.request(params={"query": sql}, headers={"Accept-Encoding": "lz4"})
        self.assertEqual(r.headers.get("content-encoding"), "lz4")
        self.assertEqual(r.body[:4], b"\x04\x22\x4d\x18")  # an LZ4 frame, as the crate decodes
        self.assertEqual(lz4.frame.decompress(r.body), plain)
        self.assertLess(len(r.body), len(plain))
        r = self.request(params={"query": sql, "enable_http_compression": "0"},
                         headers={"Accept-Encoding": "lz4"})
        self.assertNotIn("content-encoding", r.headers)
        self.assertEqual(r.body, plain)

    def test_accept_encoding_without_a_usable_method(self):
        try:
            import zstandard  # noqa: F401
            self.skipTest("zstandard is installed, so the server answers zstd")
        except ImportError:
            pass
        r = self.request(params={"query": "SELECT 'plain'"}, headers={"Accept-Encoding": "zstd, br"})
        self.assertNotIn("content-encoding", r.headers)
        self.assertEqual(r.body, b"plain\n")

    def test_accept_encoding_gzip(self):
        r = self.request(params={"query": "SELECT 'zipped'"}, headers={"Accept-Encoding": "gzip"})
        self.assertEqual(r.headers.get("content-encoding"), "gzip")
        self.assertEqual(gzip.decompress(r.body), b"zipped\n")

    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=TIMEOUT)
        try:
            r = self.request(params={"query": "SELECT 1"}, conn=conn)
            sock = conn.sock
            self.assertIsNotNone(sock)
            self.assertEqual(r.body, b"1\n")
            self.assertEqual(self.request(body=b"SELECT * FROM nowhere", conn=conn).status, 404)
            r = self.request(params={"query": "SELECT 2"}, body=b"", chunked=True, conn=conn)
            self.assertEqual(r.body, b"2\n")
            r = self.request(params={"query": "SELECT length("}, body=b"'abc')", chunked=True,
                             conn=conn)
            self.assertEqual(r.body, b"3\n")
            self.assertEqual(self.request("GET", path="/ping", conn=conn).body, b"Ok.\n")
            self.assertIs(conn.sock, sock)  # one TCP connection throughout
        finally:
            conn.close()

    def test_concurrent_requests(self):
        self.query("CREATE DATABASE IF NOT EXISTS conc")
        self.query("CREATE TABLE IF NOT EXISTS conc.t (k UInt8, v UInt64) ENGINE = MergeTree ORDER BY k")
        errors = []

        def worker(k):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=TIMEOUT)
                for i in range(25):
                    r = self.request(params={"query": "SELECT getSetting('max_threads'), currentDatabase()",
                                             "max_threads": str(k + 1),
                                             "database": "conc" if k % 2 else "default"}, conn=conn)
                    expect = f"{k + 1}\t{'conc' if k % 2 else 'default'}\n".encode()
                    if r.body != expect:
                        errors.append((k, i, r.body, expect))
                    r = self.request(params={"query": "INSERT INTO conc.t FORMAT TSV"},
                                     body=f"{k}\t{i}\n".encode(), chunked=bool(i % 2), conn=conn)
                    if r.status != 200:
                        errors.append((k, i, r))
                conn.close()
            except Exception as e:  # pragma: no cover
                errors.append((k, repr(e)))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        self.assertEqual(errors, [])
        self.assertEqual(self.query("SELECT count(), uniqExact(k, v) FROM conc.t"), b"200\t200\n")
        base = self.query("SELECT getSetting('max_threads')")
        self.assertEqual(self.query("SELECT getSetting('max_threads'), currentDatabase()"),
                         base.rstrip(b"\n") + b"\tdefault\n")


class ChecksumReferenceTests(unittest.TestCase):
    """Byte-exact agreement with the Rust clickhouse crate (0.15.3, src/compression/lz4/mod.rs)."""

    SOURCE = bytes([1, 0, 2, 255, 255, 255, 255, 0, 1, 1, 1, 115, 6, 83, 116, 114, 105, 110, 103,
                    3, 97, 98, 99])
    EXPECTED = bytes([245, 5, 222, 235, 225, 158, 59, 108, 225, 31, 65, 215, 66, 66, 36, 92, 130,
                      34, 0, 0, 0, 23, 0, 0, 0, 240, 8, 1, 0, 2, 255, 255, 255, 255, 0, 1, 1, 1,
                      115, 6, 83, 116, 114, 105, 110, 103, 3, 97, 98, 99])

    def test_crate_vector_with_test_helpers(self):
        self.assertEqual(ch_compress(self.SOURCE), self.EXPECTED)
        self.assertEqual(ch_decompress(self.EXPECTED), self.SOURCE)

    def test_crate_vector_with_server_code(self):
        sys.path.insert(0, HERE)
        try:
            import chdb_server
        finally:
            sys.path.remove(HERE)
        self.assertEqual(chdb_server.compress_blocks(self.SOURCE), self.EXPECTED)
        self.assertEqual(chdb_server.decompress_blocks(self.EXPECTED), self.SOURCE)

    def test_crate_lz4_frame_fixture(self):
        """The crate's fixture is a ClickHouse `Content-Encoding: lz4` response (an LZ4 frame)."""
        roots = glob.glob(os.path.expanduser("~/.cargo/registry/src/*/clickhouse-0.15.3"))
        if not roots:
            self.skipTest("clickhouse-0.15.3 sources not in ~/.cargo/registry")
        with open(os.path.join(roots[0], "tests/it/fixtures/nyc-taxi_trips_0_head_1000.tsv"), "rb") as f:
            tsv = f.read()
        for name in ("nyc-taxi_trips.lz4", "nyc-taxi_trips_linked_checksum.lz4"):
            with open(os.path.join(roots[0], "src/compression/lz4/fixtures", name), "rb") as f:
                self.assertEqual(lz4.frame.decompress(f.read()), tsv, name)


class PersistenceTests(unittest.TestCase):

    def test_data_survives_restart_and_sigterm_is_clean(self):
        tmp = tempfile.mkdtemp(prefix="chdb-server-test-")
        try:
            path = os.path.join(tmp, "data")
            for round_ in range(2):
                server = ServerProcess(path)
                try:
                    self.assertIn(f"(data: {path}, ClickHouse 26.9.", server.ready_line)
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
                    if round_ == 0:
                        for sql in (b"CREATE TABLE kept (x UInt32) ENGINE = MergeTree ORDER BY x",
                                    b"INSERT INTO kept VALUES (1), (2), (3)"):
                            conn.request("POST", "/", body=sql)
                            r = conn.getresponse()
                            self.assertEqual(r.status, 200, r.read())
                            r.read()
                    conn.request("POST", "/", body=b"SELECT sum(x) FROM kept")
                    r = conn.getresponse()
                    self.assertEqual((r.status, r.read()), (200, b"6\n"))
                    conn.close()
                finally:
                    status = server.stop()
                self.assertEqual(status, 0, server.path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_one_server_per_data_directory(self):
        tmp = tempfile.mkdtemp(prefix="chdb-server-test-")
        try:
            path = os.path.join(tmp, "data")
            first = ServerProcess(path)
            try:
                second = subprocess.run(
                    [sys.executable, SERVER, "--port", "0", "--path", path],
                    capture_output=True, text=True, timeout=TIMEOUT)
                self.assertEqual(second.returncode, 1)
                self.assertIn("in use by another chdb-server", second.stderr)
            finally:
                self.assertEqual(first.stop(), 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_temporary_server_stops_at_stdin_eof_and_removes_its_data(self):
        proc = subprocess.Popen(
            [sys.executable, SERVER, "--port", "0", "--temporary", "--stop-on-stdin-eof",
             "--log-level", "warning"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            m = re.match(r"chdb-server listening on http://127\.0\.0\.1:(\d+) \(data: (.*), ", line)
            self.assertIsNotNone(m, line)
            path = m.group(2)
            self.assertTrue(os.path.isdir(path), path)
            conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=TIMEOUT)
            conn.request("POST", "/", body=b"CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x")
            r = conn.getresponse()
            self.assertEqual(r.status, 200, r.read())
            conn.close()
            proc.stdin.close()  # what the kernel does when the parent exits
            self.assertEqual(proc.wait(TIMEOUT), 0)
            self.assertFalse(os.path.exists(path), path)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()


if __name__ == "__main__":
    unittest.main()
