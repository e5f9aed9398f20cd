#!/usr/bin/env python3
"""Appends a transaction marker (a control record, as a broker's transaction
coordinator writes one when a transaction commits or aborts) to a partition,
for the tests: librdkafka's mock cluster keeps no markers of its own (its
EndTxn does nothing), and a topic a transactional producer writes to has one
after each transaction. The marker takes an offset and is no message: a
consumer never receives it, and reads on past it.

One Produce request (version 3) to the partition's leader, with a record
batch (magic 2) whose attributes say transactional and control, holding one
record whose key is the marker's type.

usage: kafka_marker.py HOST:PORT TOPIC PARTITION commit|abort
Exit status 0 once the broker took it; 1 with the broker's error code.
"""
import socket
import struct
import sys
import time


def crc32c(data):
    """CRC-32C (Castagnoli), which record batches carry."""
    table = crc32c.table
    if table is None:
        table = crc32c.table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


crc32c.table = None


def varint(n):
    """A zigzag varint, as records encode their lengths."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def marker_batch(commit, producer_id):
    key = struct.pack(">hh", 0, 1 if commit else 0)  # version 0, type: 0 abort, 1 commit
    value = struct.pack(">hi", 0, 0)                 # version 0, coordinator epoch 0
    body = (b"\x00" + varint(0) + varint(0) + varint(len(key)) + key +
            varint(len(value)) + value + varint(0))  # attributes, deltas, key, value, headers
    record = varint(len(body)) + body
    now = int(time.time() * 1000)
    after_crc = (struct.pack(">hiqqqhii", 0x30, 0, now, now, producer_id, 0, -1, 1) + record)
    head = struct.pack(">ib", 0, 2)  # partition leader epoch, magic
    crc = struct.pack(">I", crc32c(after_crc))
    batch_len = len(head) + len(crc) + len(after_crc)
    return struct.pack(">qi", 0, batch_len) + head + crc + after_crc


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def main():
    if len(sys.argv) != 5 or sys.argv[4] not in ("commit", "abort"):
        sys.exit(__doc__.split("usage: ")[1].split("\n")[0])
    host, port = sys.argv[1].rsplit(":", 1)
    topic, partition, commit = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "commit"
    records = marker_batch(commit, producer_id=4242)
    body = (struct.pack(">hhi", -1, 1, 10000) +             # no transactional id, acks 1
            struct.pack(">i", 1) + string(topic) +
            struct.pack(">ii", 1, partition) + struct.pack(">i", len(records)) + records)
    header = struct.pack(">hhi", 0, 3, 1) + string("kafka_marker")  # Produce v3, correlation 1
    request = header + body
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", recv(s, 4))[0]
        answer = recv(s, size)
    # correlation id, [topic: name, [partition, error code, base offset, ...]]
    at = 4 + 4
    at += 2 + struct.unpack(">h", answer[at:at + 2])[0]
    at += 4
    _, error, base = struct.unpack(">ihq", answer[at:at + 14])
    if error != 0:
        sys.exit("kafka_marker: the broker answered error code %d" % error)
    print(base)


def recv(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            sys.exit("kafka_marker: the broker closed the connection")
        out += chunk
    return out


if __name__ == "__main__":
    main()
