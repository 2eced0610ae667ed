#!/usr/bin/env python3
"""Checks the files gen.py wrote: the two CSVs' format and invariants, lookups.txt, and that cities.mmdb
answers like the CSVs do.

The CSV side is worked out here from the CSV files alone (geoname_id's country, else the registered
country's), and compared with the `maxminddb` package's answers for a sample of lookups.txt plus the
first and last address of sampled networks and the address just past them.

    .venv/bin/python bench/geoip/check.py [OUT] [--samples 5000]

Prints each check and 'check: N passed, N failed'; exits 1 if any failed.
"""
import argparse
import bisect
import csv
import random
import re
import sys
from array import array
from collections import Counter

sys.dont_write_bytecode = True  # no __pycache__ in the repo
from gen import BLOCKS_HEADER, LOCATIONS_HEADER, dotted, parse_cidr  # noqa: E402


def run(out, samples=5000, seed=1):
    import maxminddb

    results = []

    def check(ok, what):
        results.append(ok)
        print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)

    # Locations: geoname_id -> ISO code.
    with open(f"{out}/GeoLite2-City-Locations-en.csv", newline="", encoding="utf-8") as f:
        check(f.readline().rstrip("\n") == LOCATIONS_HEADER, "locations header")
        rows = list(csv.reader(f))
    iso_of = {int(r[0]): r[4] for r in rows}
    check(len(iso_of) == len(rows) and all(len(r) == 14 for r in rows),
          f"locations: {len(rows)} rows, unique geoname ids, 14 columns")
    isos = set(iso_of.values())
    check(all(re.fullmatch(r"[A-Z]{2}", c) for c in isos), f"locations: {len(isos)} two-letter country codes")

    # Blocks: sorted, non-overlapping, aligned; each row resolves to a country.
    starts, ends, country = array("I"), array("Q"), []
    prefix_count, empty_geo, bad = Counter(), 0, []
    with open(f"{out}/GeoLite2-City-Blocks-IPv4.csv", newline="", encoding="ascii") as f:
        check(f.readline().rstrip("\n") == BLOCKS_HEADER, "blocks header")
        last_end = 0
        for r in csv.reader(f):
            start, prefix = parse_cidr(r[0])
            size = 1 << (32 - prefix)
            if len(r) != 11 or start & (size - 1) or start < last_end:
                bad.append(r[0])
            last_end = start + size
            iso = iso_of.get(int(r[1])) if r[1] else None
            if not r[1]:
                empty_geo += 1
            iso = iso or (iso_of.get(int(r[2])) if r[2] else None)
            if iso is None:
                bad.append(r[0])
            starts.append(start)
            ends.append(start + size)
            country.append(iso)
            prefix_count[prefix] += 1
    n = len(starts)
    check(not bad, f"blocks: {n} networks, sorted, aligned, non-overlapping, all with a country "
                   f"({len(bad)} bad{': ' + ', '.join(bad[:5]) if bad else ''})")
    check(empty_geo > 0, f"blocks: {empty_geo} rows with only a registered country")
    total = sum(prefix_count.values())
    print("    prefixes: " + " ".join(f"/{p}:{100 * c / total:.1f}%" for p, c in sorted(prefix_count.items())))

    def csv_answer(a):
        i = bisect.bisect_right(starts, a) - 1
        return country[i] if i >= 0 and a < ends[i] else None

    # Lookups: count and the inside share.
    with open(f"{out}/lookups.txt", encoding="ascii") as f:
        addrs = [parse_cidr(line.strip() + "/32")[0] for line in f]
    inside = sum(1 for a in addrs if csv_answer(a) is not None)
    check(0.89 <= inside / len(addrs) <= 0.91, f"lookups: {len(addrs)} addresses, {100 * inside / len(addrs):.2f}% inside a network")

    # The mmdb against the CSV answers.
    reader = maxminddb.open_database(f"{out}/cities.mmdb")
    meta = reader.metadata()
    check(meta.ip_version == 4, f"mmdb: ip_version {meta.ip_version}, {meta.node_count} nodes, "
                                f"record size {meta.record_size}, type {meta.database_type}")
    rng = random.Random(seed)
    probe = rng.sample(addrs, min(samples, len(addrs)))
    for i in rng.sample(range(n), min(samples // 2, n)):
        probe += [starts[i], ends[i] - 1, ends[i] % (1 << 32)]
    mismatches = []
    for a in probe:
        record = reader.get(dotted(a))
        got = record["country"]["iso_code"] if record else None
        if got != csv_answer(a):
            mismatches.append(f"{dotted(a)}: mmdb {got}, csv {csv_answer(a)}")
    reader.close()
    check(not mismatches, f"mmdb: {len(probe)} addresses answered as in the CSV "
                          f"({len(mismatches)} differ{': ' + '; '.join(mismatches[:5]) if mismatches else ''})")

    passed = sum(results)
    print(f"check: {passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", default="/tmp/geoip-bench")
    ap.add_argument("--samples", type=int, default=5000, help="lookups.txt addresses to probe (default %(default)s)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sys.exit(run(args.out, args.samples, args.seed))
