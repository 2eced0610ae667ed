#!/usr/bin/env python3
"""Generates benchmark data for the GeoIP import and lookup benchmarks.

Writes into OUT (default /tmp/geoip-bench):

  GeoLite2-City-Locations-en.csv  MaxMind GeoLite2 City locations: one row per country plus cities,
                                  --locations rows in all (default 100,000), ~220 real ISO codes
  GeoLite2-City-Blocks-IPv4.csv   GeoLite2 City IPv4 blocks: --rows networks (default 3,500,000),
                                  sorted, non-overlapping, /20 to /32 (mostly /24-/29), spread over
                                  the public unicast space
  cities.mmdb                     a MaxMind DB (ip_version 4) with the same networks, each mapped to
                                  {"country": {"iso_code": "XX"}}: the country the CSV row resolves
                                  to (its geoname_id's country, else its registered country's)
  lookups.txt                     --lookups dotted IPv4 addresses (default 1,000,000): 90% inside a
                                  generated network, 10% outside any, in random order

Everything comes from one seeded random generator (--seed), so the same seed and Python version give
the same files, byte for byte (the mmdb's build_epoch is pinned too).

Needs `mmdb-writer` and `netaddr` (and `maxminddb` for --check), e.g. in the project's venv:
    .venv/bin/pip install -r bench/geoip/requirements.txt
    .venv/bin/python bench/geoip/gen.py [OUT] [--rows N] [--check]
"""
import argparse
import bisect
import csv
import os
import random
import sys
import time
from array import array
from itertools import accumulate

# ---------------------------------------------------------------------------------------------------
# Countries: real ISO 3166-1 codes and short names, grouped by the continent GeoLite2 puts them on.

CONTINENTS = {
    "AF": "Africa", "AS": "Asia", "EU": "Europe", "NA": "North America", "SA": "South America",
    "OC": "Oceania",
}
COUNTRY_TABLE = {
    "AF": "DZ Algeria|AO Angola|BJ Benin|BW Botswana|BF Burkina Faso|BI Burundi|CM Cameroon|"
          "CV Cabo Verde|CF Central African Republic|TD Chad|KM Comoros|CG Congo Republic|"
          "CD DR Congo|CI Ivory Coast|DJ Djibouti|EG Egypt|GQ Equatorial Guinea|ER Eritrea|"
          "ET Ethiopia|GA Gabon|GM Gambia|GH Ghana|GN Guinea|GW Guinea-Bissau|KE Kenya|LS Lesotho|"
          "LR Liberia|LY Libya|MG Madagascar|MW Malawi|ML Mali|MR Mauritania|MU Mauritius|"
          "MA Morocco|MZ Mozambique|NA Namibia|NE Niger|NG Nigeria|RW Rwanda|"
          "ST São Tomé and Príncipe|SN Senegal|SC Seychelles|SL Sierra Leone|SO Somalia|"
          "ZA South Africa|SS South Sudan|SD Sudan|SZ Eswatini|TZ Tanzania|TG Togo|TN Tunisia|"
          "UG Uganda|ZM Zambia|ZW Zimbabwe|RE Réunion|YT Mayotte",
    "AS": "AF Afghanistan|AM Armenia|AZ Azerbaijan|BH Bahrain|BD Bangladesh|BT Bhutan|BN Brunei|"
          "KH Cambodia|CN China|GE Georgia|HK Hong Kong|IN India|ID Indonesia|IR Iran|IQ Iraq|"
          "IL Israel|JP Japan|JO Jordan|KZ Kazakhstan|KW Kuwait|KG Kyrgyzstan|LA Laos|LB Lebanon|"
          "MO Macao|MY Malaysia|MV Maldives|MN Mongolia|MM Myanmar|NP Nepal|KP North Korea|OM Oman|"
          "PK Pakistan|PS Palestine|PH Philippines|QA Qatar|SA Saudi Arabia|SG Singapore|"
          "KR South Korea|LK Sri Lanka|SY Syria|TW Taiwan|TJ Tajikistan|TH Thailand|"
          "TL Timor-Leste|TR Türkiye|TM Turkmenistan|AE United Arab Emirates|UZ Uzbekistan|"
          "VN Vietnam|YE Yemen",
    "EU": "AL Albania|AD Andorra|AT Austria|BY Belarus|BE Belgium|BA Bosnia and Herzegovina|"
          "BG Bulgaria|HR Croatia|CY Cyprus|CZ Czechia|DK Denmark|EE Estonia|FO Faroe Islands|"
          "FI Finland|FR France|DE Germany|GI Gibraltar|GR Greece|GG Guernsey|HU Hungary|"
          "IS Iceland|IE Ireland|IM Isle of Man|IT Italy|JE Jersey|XK Kosovo|LV Latvia|"
          "LI Liechtenstein|LT Lithuania|LU Luxembourg|MT Malta|MD Moldova|MC Monaco|"
          "ME Montenegro|NL The Netherlands|MK North Macedonia|NO Norway|PL Poland|PT Portugal|"
          "RO Romania|RU Russia|SM San Marino|RS Serbia|SK Slovakia|SI Slovenia|ES Spain|"
          "SE Sweden|CH Switzerland|UA Ukraine|GB United Kingdom|VA Vatican City|AX Åland",
    "NA": "AI Anguilla|AG Antigua and Barbuda|AW Aruba|BS Bahamas|BB Barbados|BZ Belize|"
          "BM Bermuda|BQ Bonaire, Sint Eustatius, and Saba|CA Canada|KY Cayman Islands|"
          "CR Costa Rica|CU Cuba|CW Curaçao|DM Dominica|DO Dominican Republic|SV El Salvador|"
          "GL Greenland|GD Grenada|GP Guadeloupe|GT Guatemala|HT Haiti|HN Honduras|JM Jamaica|"
          "MQ Martinique|MX Mexico|NI Nicaragua|PA Panama|PR Puerto Rico|KN St Kitts and Nevis|"
          "LC Saint Lucia|VC St Vincent and Grenadines|TT Trinidad and Tobago|"
          "TC Turks and Caicos Islands|US United States|VG British Virgin Islands|"
          "VI U.S. Virgin Islands",
    "SA": "AR Argentina|BO Bolivia|BR Brazil|CL Chile|CO Colombia|EC Ecuador|GF French Guiana|"
          "GY Guyana|PY Paraguay|PE Peru|SR Suriname|UY Uruguay|VE Venezuela",
    "OC": "AU Australia|FJ Fiji|PF French Polynesia|GU Guam|KI Kiribati|MH Marshall Islands|"
          "FM Federated States of Micronesia|NR Nauru|NC New Caledonia|NZ New Zealand|PW Palau|"
          "PG Papua New Guinea|WS Samoa|SB Solomon Islands|TO Tonga|TV Tuvalu|VU Vanuatu",
}
EU_MEMBERS = set("AT BE BG HR CY CZ DK DE EE ES FI FR GR HU IE IT LT LU LV MT NL PL PT RO SE SI SK "
                 "GF GP MQ RE YT AX".split())
# The largest countries by network count come first; the rest follow in table order (Zipf weights).
BIG = "US CN DE GB JP FR BR KR CA IT RU IN NL AU ES MX PL SE TR ID VN TW AR ZA UA".split()
TZ_PREFIX = {"AF": "Africa", "AS": "Asia", "EU": "Europe", "NA": "America", "SA": "America",
             "OC": "Pacific"}
# Rough share of the address space per continent (as the RIRs hand it out), for each /8.
CONTINENT_SHARE = {"NA": 40, "EU": 26, "AS": 22, "SA": 5, "OC": 4, "AF": 3}
POSTAL_FORMAT = {"US": "#####", "DE": "#####", "FR": "#####", "ES": "#####", "IT": "#####",
                 "MX": "#####", "GB": "A#", "CA": "A#A", "JP": "###-####", "NL": "####",
                 "AU": "####", "BR": "#####-###", "RU": "######", "IN": "######", "PL": "##-###",
                 "SE": "### ##", "CH": "####", "AT": "####", "BE": "####", "DK": "####"}
SUBDIVISION_2 = set("GB IT ES FR BE PL".split())

# Prefix lengths of the blocks file and their shares in percent (mostly /24-/29, like the real file).
PREFIX_WEIGHTS = {20: 1, 21: 2, 22: 4, 23: 7, 24: 24, 25: 8, 26: 9, 27: 9, 28: 9, 29: 10, 30: 5,
                  31: 3, 32: 9}
# Networks are laid out in /20 blocks; a block ends early with this chance after each network.
BLOCK_STOP = 0.04
# Chance of a hole (an unused aligned chunk) before a network inside a block.
HOLE = 0.08

LOCATIONS_HEADER = ("geoname_id,locale_code,continent_code,continent_name,country_iso_code,"
                    "country_name,subdivision_1_iso_code,subdivision_1_name,subdivision_2_iso_code,"
                    "subdivision_2_name,city_name,metro_code,time_zone,is_in_european_union")
BLOCKS_HEADER = ("network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,"
                 "is_anonymous_proxy,is_satellite_provider,postal_code,latitude,longitude,"
                 "accuracy_radius,is_anycast")

# Address ranges that are not public unicast (as /20 granularity is used, the small documentation and
# relay ranges exclude their whole /20).
RESERVED = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
            "172.16.0.0/12", "192.0.0.0/20", "192.88.96.0/20", "192.168.0.0/16", "198.18.0.0/15",
            "198.51.96.0/20", "203.0.112.0/20", "224.0.0.0/3"]

SYLLABLES = ("ka ri to na mo be la vi den sor ham ber lin ost wal mar fel gra nor sud tan ko ri "
             "an el ur ba zé ñor dø ås lü çe mi ra po ste vik hol ton ville burg stad").split()


def dotted(a):
    return f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"


def parse_cidr(text):
    addr, prefix = text.split("/")
    a, b, c, d = (int(x) for x in addr.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d, int(prefix)


def zipf_weights(n, s=1.0):
    return [1.0 / (i + 1) ** s for i in range(n)]


class Names:
    """Made-up place names from syllables, each unique, a few with a comma (so CSV quoting happens)."""

    def __init__(self, rng):
        self.rng, self.seen = rng, set()

    def __call__(self):
        rng = self.rng
        while True:
            name = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3, 3, 4)))).capitalize()
            r = rng.random()
            if r < 0.06:
                name += " " + "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()
            elif r < 0.08:
                name = rng.choice(("Saint ", "Port ", "New ", "San ", "Bad ")) + name
            elif r < 0.082:
                name += ", " + rng.choice(("Old Town", "Upper", "Lower"))
            if name not in self.seen:
                self.seen.add(name)
                return name


def postal(rng, fmt):
    return "".join(str(rng.randrange(10)) if ch == "#" else
                   chr(65 + rng.randrange(26)) if ch == "A" else ch for ch in fmt)


# ---------------------------------------------------------------------------------------------------
# Locations

class Location:
    __slots__ = ("geoname_id", "country", "lat", "lon", "postal")

    def __init__(self, geoname_id, country, lat, lon, postal_code):
        self.geoname_id, self.country, self.lat, self.lon, self.postal = geoname_id, country, lat, lon, postal_code


def make_locations(rng, total, path):
    """Writes the locations file. Returns (countries, country_rows, cities_by_country) where countries
    is a list of (iso, name, continent), country_rows[c] the country's own Location and
    cities_by_country[c] its city Locations, most populous first."""
    countries = []
    for continent, table in COUNTRY_TABLE.items():
        for entry in table.split("|"):
            countries.append((entry[:2], entry[3:], continent))
    order = BIG + [c[0] for c in countries if c[0] not in BIG]
    countries.sort(key=lambda c: order.index(c[0]))
    n = len(countries)
    if total < n * 6:
        sys.exit(f"--locations must be at least {n * 6}")

    # Cities per country: Zipf over the country order, at least 5 each.
    weights = zipf_weights(n, 1.1)
    spare = total - n - 5 * n
    counts = [5 + int(spare * w / sum(weights)) for w in weights]
    counts[0] += total - n - sum(counts)
    ids = rng.sample(range(49_000, 12_000_000), total)
    next_id = iter(ids)
    names = Names(rng)
    rows = []
    country_rows, cities = [], []
    for c, ((iso, cname, continent), count) in enumerate(zip(countries, counts)):
        eu = "1" if iso in EU_MEMBERS else "0"
        lat0, lon0 = rng.uniform(-45, 62), rng.uniform(-170, 175)
        tz_prefix = "Australia" if iso == "AU" else TZ_PREFIX[continent]
        zones = [f"{tz_prefix}/{names().replace(' ', '_').replace(',', '')}"
                 for _ in range(1 + min(5, count // 2000))]
        geo = next(next_id)
        country_rows.append(Location(geo, c, lat0, lon0, ""))
        rows.append((geo, "en", continent, CONTINENTS[continent], iso, cname, "", "", "", "", "", "",
                     zones[0], eu))
        # Subdivisions: codes of 1-3 characters, unique in the country.
        subs = {}
        while len(subs) < max(1, min(60, count // 40)):
            code = "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWZ0123456789") for _ in range(rng.choice((1, 2, 2, 3))))
            subs[code] = names()
        subs = list(subs.items())
        fmt = POSTAL_FORMAT.get(iso, "####" if rng.random() < 0.5 else "")
        mine = []
        for _ in range(count):
            geo = next(next_id)
            s1c, s1n = rng.choice(subs) if rng.random() < 0.85 else ("", "")
            s2c, s2n = "", ""
            if iso in SUBDIVISION_2 and s1c and rng.random() < 0.4:
                s2c, s2n = "".join(rng.choice("ABCDEFGHIKLMNOPRSTVZ") for _ in range(3)), names()
            metro = str(rng.randrange(500, 882)) if iso == "US" and rng.random() < 0.6 else ""
            lat = max(-89.9, min(89.9, lat0 + rng.uniform(-6, 6)))
            lon = (lon0 + rng.uniform(-9, 9) + 180) % 360 - 180
            mine.append(Location(geo, c, lat, lon, postal(rng, fmt) if fmt else ""))
            rows.append((geo, "en", continent, CONTINENTS[continent], iso, cname, s1c, s1n, s2c, s2n,
                         names(), metro, rng.choice(zones), eu))
        cities.append(mine)
    rows.sort(key=lambda r: r[0])
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(LOCATIONS_HEADER + "\n")
        csv.writer(f, lineterminator="\n").writerows(rows)
    return countries, country_rows, cities


# ---------------------------------------------------------------------------------------------------
# Networks

def public_blocks():
    """Indices (address >> 12) of the /20 blocks in public unicast space, ascending."""
    bad = bytearray(1 << 20)
    for net in RESERVED:
        start, prefix = parse_cidr(net)
        first = start >> 12
        bad[first:first + (1 << (20 - prefix))] = b"\1" * (1 << (20 - prefix))
    return array("I", (i for i in range(1 << 20) if not bad[i]))


def lay_out(rng, rows):
    """Draws `rows` networks packed into /20 blocks. Returns (offsets, prefixes, ends): the offset in
    its block and the prefix length of each network, and for each block the index after its last."""
    prefixes_pool, weights = list(PREFIX_WEIGHTS), list(PREFIX_WEIGHTS.values())
    draws = iter(rng.choices(prefixes_pool, weights, k=rows))
    offsets, prefixes, ends = array("H"), array("B"), array("I")
    carry = None  # a network that did not fit in the previous block starts the next one
    while len(prefixes) < rows:
        pos = 0
        while len(prefixes) < rows:
            p = carry if carry is not None else next(draws)
            carry = None
            size = 1 << (32 - p)
            if pos and rng.random() < HOLE:
                pos += size
            pos = (pos + size - 1) & -size
            if pos + size > 4096:
                carry = p
                break
            offsets.append(pos)
            prefixes.append(p)
            pos += size
            if rng.random() < BLOCK_STOP:
                break
        ends.append(len(prefixes))
    return offsets, prefixes, ends


def write_blocks(rng, path, countries, country_rows, cities, offsets, prefixes, ends, slots):
    """Places the blocks in the /20s `slots`, gives each network a location, writes the blocks file.
    Returns (starts, prefixes, country index per network)."""
    n_countries = len(countries)
    by_continent = {k: [i for i, c in enumerate(countries) if c[2] == k] for k in CONTINENTS}
    # Cumulative weights, so that each draw is one bisect.
    cont_cum = {k: list(accumulate(zipf_weights(len(v), 1.0))) for k, v in by_continent.items()}
    all_cum = list(accumulate(zipf_weights(n_countries, 1.1)))
    city_cum = [list(accumulate(zipf_weights(len(mine), 0.8))) for mine in cities]
    # Each /8 belongs mostly to one continent, as address space is handed out per region.
    conts, shares = list(CONTINENT_SHARE), list(CONTINENT_SHARE.values())
    octet_continent = [rng.choices(conts, shares)[0] for _ in range(256)]
    radii, radius_cum = (1, 5, 10, 20, 50, 100, 200, 500, 1000), list(accumulate((3, 6, 10, 14, 20, 25, 10, 6, 6)))

    starts, countries_of = array("I"), array("H")
    out = open(path, "w", encoding="ascii")
    out.write(BLOCKS_HEADER + "\n")
    lines = []
    first = 0
    rand = rng.random

    def pick(cum):
        return bisect.bisect_right(cum, rand() * cum[-1])

    for slot, end in zip(slots, ends):
        base = slot << 12
        continent = octet_continent[base >> 24]
        home = by_continent[continent][pick(cont_cum[continent])]
        loc = None
        for i in range(first, end):
            start = base + offsets[i]
            prefix = prefixes[i]
            # Neighbours often share a location; otherwise mostly the block's home country.
            if loc is None or rand() > 0.55:
                c = home if rand() < 0.85 else pick(all_cum)
                if rand() < 0.1:
                    loc = country_rows[c]
                else:
                    loc = cities[c][pick(city_cum[c])]
            c = loc.country
            r = rand()
            registered = country_rows[c].geoname_id if r < 0.95 else \
                country_rows[rng.choice(by_continent[countries[c][2]])].geoname_id
            represented = str(country_rows[rng.randrange(n_countries)].geoname_id) if r > 0.999 else ""
            network = f"{start >> 24}.{(start >> 16) & 255}.{(start >> 8) & 255}.{start & 255}/{prefix}"
            if rand() < 0.012:
                # Only the registered country is known: no geoname_id, no position.
                registered = country_rows[c].geoname_id
                lines.append(f"{network},,{registered},,0,0,,,,,")
            else:
                proxy = "1" if r < 0.0005 else "0"
                satellite = "1" if 0.9995 < r <= 0.9997 else "0"
                anycast = "1" if 0.5 < r < 0.5008 else ""
                post = loc.postal if loc.postal and rand() < 0.7 else ""
                if loc is country_rows[c]:
                    radius = 1000
                    lat, lon = loc.lat, loc.lon
                else:
                    radius = radii[pick(radius_cum)]
                    lat, lon = loc.lat, loc.lon
                    if rand() < 0.3:
                        lat, lon = lat + rand() * 0.2 - 0.1, lon + rand() * 0.2 - 0.1
                lines.append(f"{network},{loc.geoname_id},{registered},{represented},{proxy},{satellite},"
                             f"{post},{lat:.4f},{lon:.4f},{radius},{anycast}")
            starts.append(start)
            countries_of.append(c)
        first = end
        if len(lines) >= 50_000:
            out.write("\n".join(lines) + "\n")
            lines.clear()
    if lines:
        out.write("\n".join(lines) + "\n")
    out.close()
    return starts, countries_of


# ---------------------------------------------------------------------------------------------------
# MaxMind DB

def merged_cidrs(starts, prefixes, countries_of):
    """Adjacent networks of the same country joined into ranges, then split into the fewest CIDRs:
    (start, prefix, country). Lookups give the same answers as with the original networks."""
    i, n = 0, len(starts)
    while i < n:
        lo, c = starts[i], countries_of[i]
        hi = lo + (1 << (32 - prefixes[i]))
        i += 1
        while i < n and starts[i] == hi and countries_of[i] == c:
            hi += 1 << (32 - prefixes[i])
            i += 1
        while lo < hi:
            size = lo & -lo if lo else 1 << 32
            while size > hi - lo:
                size >>= 1
            yield lo, 33 - size.bit_length(), c
            lo += size


def write_mmdb(path, countries, starts, prefixes, countries_of, merge, epoch):
    from mmdb_writer import MMDBWriter
    from netaddr import IPNetwork, IPSet

    class Writer(MMDBWriter):
        # A fixed build_epoch keeps the file the same from run to run.
        def _build_meta(self):
            meta = super()._build_meta()
            meta["build_epoch"] = epoch
            return meta

    writer = Writer(ip_version=4, database_type="GeoLite2-City",
                    languages=["en"], description="Postroom GeoIP benchmark data (synthetic)")
    contents = [{"country": {"iso_code": iso}} for iso, _, _ in countries]
    items = merged_cidrs(starts, prefixes, countries_of) if merge else zip(starts, prefixes, countries_of)
    inserted = 0
    for start, prefix, c in items:
        writer.insert_network(IPSet([IPNetwork((start, prefix), 4)]), contents[c])
        inserted += 1
    writer.to_db_file(path)
    return inserted


# ---------------------------------------------------------------------------------------------------
# Lookups

def write_lookups(rng, path, count, starts, prefixes, slots):
    """90% of the addresses inside a random network (uniform over networks), 10% outside every network:
    half in the unused parts of the /20 blocks that hold networks, half anywhere in IPv4."""
    n = len(starts)

    def inside(a):
        i = bisect.bisect_right(starts, a) - 1
        return i >= 0 and a < starts[i] + (1 << (32 - prefixes[i]))

    inner = count * 9 // 10
    addrs = []
    for _ in range(inner):
        i = rng.randrange(n)
        addrs.append(starts[i] + rng.randrange(1 << (32 - prefixes[i])))
    while len(addrs) < count:
        a = (rng.choice(slots) << 12) + rng.randrange(4096) if len(addrs) % 2 else rng.getrandbits(32)
        if not inside(a):
            addrs.append(a)
    rng.shuffle(addrs)
    with open(path, "w", encoding="ascii") as f:
        for k in range(0, count, 100_000):
            f.write("".join(dotted(a) + "\n" for a in addrs[k:k + 100_000]))


# ---------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", default="/tmp/geoip-bench", help="output folder (default %(default)s)")
    ap.add_argument("--rows", type=int, default=3_500_000, help="IPv4 networks (default %(default)s)")
    ap.add_argument("--locations", type=int, default=100_000, help="geoname ids (default %(default)s)")
    ap.add_argument("--lookups", type=int, default=1_000_000, help="addresses in lookups.txt (default %(default)s)")
    ap.add_argument("--seed", type=int, default=20240601, help="random seed (default %(default)s)")
    ap.add_argument("--merge", action="store_true",
                    help="join adjacent networks of the same country before writing the mmdb (smaller, faster; same answers)")
    ap.add_argument("--no-mmdb", action="store_true", help="skip cities.mmdb")
    ap.add_argument("--check", action="store_true", help="run check.py on the output afterwards")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    t0 = time.monotonic()

    def step(what):
        print(f"[{time.monotonic() - t0:7.1f}s] {what}", flush=True)

    countries, country_rows, cities = make_locations(rng, args.locations, os.path.join(args.out, "GeoLite2-City-Locations-en.csv"))
    step(f"locations: {args.locations} rows, {len(countries)} countries")

    offsets, prefixes, ends = lay_out(rng, args.rows)
    public = public_blocks()
    if len(ends) > len(public):
        sys.exit(f"{args.rows} networks need {len(ends)} /20 blocks, only {len(public)} are public")
    slots = array("I", (public[i] for i in sorted(rng.sample(range(len(public)), len(ends)))))
    step(f"layout: {args.rows} networks in {len(ends)} of {len(public)} public /20 blocks")

    starts, countries_of = write_blocks(rng, os.path.join(args.out, "GeoLite2-City-Blocks-IPv4.csv"),
                                        countries, country_rows, cities, offsets, prefixes, ends, slots)
    step("blocks file written")

    # The lookups get their own generator, so they stay the same with or without --merge / --no-mmdb.
    write_lookups(random.Random(args.seed + 1), os.path.join(args.out, "lookups.txt"), args.lookups, starts, prefixes, slots)
    step(f"lookups: {args.lookups} addresses")

    if not args.no_mmdb:
        inserted = write_mmdb(os.path.join(args.out, "cities.mmdb"), countries, starts, prefixes, countries_of,
                              args.merge, epoch=1_700_000_000 + args.seed % 1_000_000)
        step(f"cities.mmdb: {inserted} networks inserted" + (" (merged)" if args.merge else ""))

    for name in sorted(os.listdir(args.out)):
        print(f"  {os.path.getsize(os.path.join(args.out, name)):>13,}  {os.path.join(args.out, name)}")
    if args.check:
        sys.dont_write_bytecode = True  # no __pycache__ in the repo
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import check
        sys.exit(check.run(args.out, samples=5000, seed=args.seed))


if __name__ == "__main__":
    main()
